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

export async function decodeTdt<State>(options: TdtDecodeOptions<State>): Promise<TdtToken[]> {
  const { frames, vocabularySize, blank, maxTokensPerStep, step, signal } = options;
  const tokens: TdtToken[] = [];
  let state = options.initialState;
  let lastToken = blank;
  let frame = 0;
  let emittedOnFrame = 0;
  while (frame < frames) {
    signal?.throwIfAborted();
    const { logits, state: next } = await step(frame, lastToken, state);
    if (logits.length <= vocabularySize) {
      throw new Error(`the decoder-joint output has ${logits.length} values, no duration logits after the ${vocabularySize} token logits`);
    }
    let token = 0;
    for (let index = 1; index < vocabularySize; index++) if (logits[index]! > logits[token]!) token = index;
    let duration = 0;
    for (let index = vocabularySize + 1; index < logits.length; index++) {
      if (logits[index]! > logits[vocabularySize + duration]!) duration = index - vocabularySize;
    }
    if (token !== blank) {
      let total = 0;
      const best = logits[token]!;
      for (let index = 0; index < vocabularySize; index++) total += Math.exp(logits[index]! - best);
      const probability = 1 / total;
      tokens.push({
        id: token,
        frame,
        duration,
        logprob: -Math.log(total),
        confidence: Math.max(0, (vocabularySize * probability - 1) / (vocabularySize - 1)),
      });
      state = next;
      lastToken = token;
      emittedOnFrame++;
    }
    if (duration > 0) {
      frame += duration;
      emittedOnFrame = 0;
    } else if (token === blank || emittedOnFrame >= maxTokensPerStep) {
      frame += 1;
      emittedOnFrame = 0;
    }
  }
  return tokens;
}
