/**
 * Greedy TDT (token-and-duration transducer) decoding, as NeMo, onnx-asr and parakeet.js do
 * it. Each step runs the prediction network and joint on one encoder frame and the last
 * emitted token; the joint's output holds the token logits (blank included) followed by the
 * duration logits (durations 0, 1, 2, … frames).
 *
 * - The token is the argmax of the token logits, the duration the argmax of the rest (ties go
 *   to the lowest index).
 * - The prediction network's state is adopted only when the token is not blank.
 * - A duration above 0 moves that many frames on; otherwise a blank, or the
 *   `maxTokensPerStep`-th token on one frame, moves one frame on.
 */

/** One call of the decoder-joint graph: flat logits and the state it would move to. */
export type JointStep<State> = (frame: number, lastToken: number, state: State) => Promise<{ logits: Float32Array; state: State }>;

export interface TdtDecodeOptions<State> {
  /** Encoder frames to decode. */
  frames: number;
  /** Token classes, blank included (the first `vocabularySize` logits). */
  vocabularySize: number;
  blank: number;
  maxTokensPerStep: number;
  initialState: State;
  step: JointStep<State>;
  signal?: AbortSignal;
}

export interface TdtToken {
  id: number;
  /** The encoder frame it was emitted on. */
  frame: number;
  /** The predicted duration (frames), as an index into the duration logits. */
  duration: number;
  /** log p of the token under the softmax of the token logits. */
  logprob: number;
  /** NeMo's `max_prob` confidence: p rescaled so that a uniform guess is 0 and certainty is 1. */
  confidence: number;
}

/** The greedy choice on one step's logits (a view of `vocabularySize` token logits, then the duration logits). */
function choose(logits: Float32Array, vocabularySize: number): { token: number; duration: number } {
  let token = 0;
  for (let index = 1; index < vocabularySize; index++) if (logits[index]! > logits[token]!) token = index;
  let duration = 0;
  for (let index = vocabularySize + 1; index < logits.length; index++) {
    if (logits[index]! > logits[vocabularySize + duration]!) duration = index - vocabularySize;
  }
  return { token, duration };
}

/** The emitted token's log-probability and NeMo `max_prob` confidence. */
function emitted(logits: Float32Array, vocabularySize: number, token: number, frame: number, duration: number): TdtToken {
  let total = 0;
  const best = logits[token]!;
  for (let index = 0; index < vocabularySize; index++) total += Math.exp(logits[index]! - best);
  const probability = 1 / total;
  return {
    id: token,
    frame,
    duration,
    logprob: -Math.log(total),
    confidence: Math.max(0, (vocabularySize * probability - 1) / (vocabularySize - 1)),
  };
}

function checkLogits(length: number, vocabularySize: number): void {
  if (length <= vocabularySize) {
    throw new Error(`the decoder-joint output has ${length} values, no duration logits after the ${vocabularySize} token logits`);
  }
}

/** Where one sequence is: its frame, the tokens it emitted on that frame, its last token. */
interface Cursor {
  frame: number;
  emittedOnFrame: number;
  lastToken: number;
}

/** Moves a cursor after one step; returns the emitted token, if any. */
function advance(cursor: Cursor, logits: Float32Array, options: { vocabularySize: number; blank: number; maxTokensPerStep: number }): TdtToken | undefined {
  const { vocabularySize, blank, maxTokensPerStep } = options;
  const { token, duration } = choose(logits, vocabularySize);
  let result: TdtToken | undefined;
  if (token !== blank) {
    result = emitted(logits, vocabularySize, token, cursor.frame, duration);
    cursor.lastToken = token;
    cursor.emittedOnFrame++;
  }
  if (duration > 0) {
    cursor.frame += duration;
    cursor.emittedOnFrame = 0;
  } else if (token === blank || cursor.emittedOnFrame >= maxTokensPerStep) {
    cursor.frame += 1;
    cursor.emittedOnFrame = 0;
  }
  return result;
}

export async function decodeTdt<State>(options: TdtDecodeOptions<State>): Promise<TdtToken[]> {
  const { frames, vocabularySize, step, signal } = options;
  const tokens: TdtToken[] = [];
  let state = options.initialState;
  const cursor: Cursor = { frame: 0, emittedOnFrame: 0, lastToken: options.blank };
  while (cursor.frame < frames) {
    signal?.throwIfAborted();
    const { logits, state: next } = await step(cursor.frame, cursor.lastToken, state);
    checkLogits(logits.length, vocabularySize);
    const token = advance(cursor, logits, options);
    if (token) {
      tokens.push(token);
      // The prediction network's state moves on only with an emitted token.
      state = next;
    }
  }
  return tokens;
}

/**
 * One batched call of the decoder-joint graph: for each row `i`, sequence `rows[i]` at
 * `frames[i]` after `lastTokens[i]` in `states[i]`. Resolves to the logits of every row
 * (`[rows, outputs]`, flat) and each row's next state.
 */
export type BatchJointStep<State> = (
  rows: readonly number[],
  frames: readonly number[],
  lastTokens: readonly number[],
  states: readonly State[],
) => Promise<{ logits: Float32Array; states: State[] }>;

export interface TdtBatchSequence<State> {
  frames: number;
  initialState: State;
  signal?: AbortSignal;
  /** Told the tokens of the sequence as soon as it ends, or why it stopped. */
  settle(outcome: { tokens: TdtToken[] } | { error: unknown }): void;
}

/**
 * Greedy TDT over several sequences at once: each step runs the decoder-joint on one frame
 * of every sequence still going, in one call. Each sequence follows exactly the rules of
 * {@link decodeTdt} with its own frame, last token and state, so its tokens are the ones it
 * gets alone. A sequence leaves the batch when it reaches its last frame (and is settled at
 * once) or when its signal aborts (settled with the signal's reason); the others go on. A
 * failed call settles every sequence still in the batch with the error.
 */
export async function decodeTdtBatch<State>(options: {
  sequences: readonly TdtBatchSequence<State>[];
  vocabularySize: number;
  blank: number;
  maxTokensPerStep: number;
  step: BatchJointStep<State>;
}): Promise<void> {
  const { vocabularySize, step } = options;
  const live = options.sequences.map((sequence, index) => ({
    index,
    sequence,
    cursor: { frame: 0, emittedOnFrame: 0, lastToken: options.blank } as Cursor,
    state: sequence.initialState,
    tokens: [] as TdtToken[],
  }));
  let active = live.filter((entry) => {
    if (entry.sequence.frames > 0) return true;
    entry.sequence.settle({ tokens: [] });
    return false;
  });
  while (active.length > 0) {
    active = active.filter((entry) => {
      if (!entry.sequence.signal?.aborted) return true;
      entry.sequence.settle({ error: entry.sequence.signal.reason });
      return false;
    });
    if (active.length === 0) break;
    let output: { logits: Float32Array; states: State[] };
    try {
      output = await step(
        active.map((entry) => entry.index),
        active.map((entry) => entry.cursor.frame),
        active.map((entry) => entry.cursor.lastToken),
        active.map((entry) => entry.state),
      );
      checkLogits(output.logits.length / active.length, vocabularySize);
    } catch (error) {
      for (const entry of active) entry.sequence.settle({ error });
      return;
    }
    const width = output.logits.length / active.length;
    const next: typeof active = [];
    active.forEach((entry, row) => {
      const token = advance(entry.cursor, output.logits.subarray(row * width, (row + 1) * width), options);
      if (token) {
        entry.tokens.push(token);
        entry.state = output.states[row]!;
      }
      if (entry.cursor.frame < entry.sequence.frames) next.push(entry);
      else entry.sequence.settle({ tokens: entry.tokens });
    });
    active = next;
  }
}
