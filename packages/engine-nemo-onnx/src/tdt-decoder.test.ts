import { describe, expect, it } from 'vitest';
import { decodeTdt, type JointStep } from './tdt-decoder.js';

/** A scripted joint over a 4-token vocabulary (blank = 3) and 3 durations; the state counts adoptions. */
function scripted(plan: (frame: number, last: number, state: number) => { token: number; duration: number }): { step: JointStep<number>; calls: Array<[number, number, number]> } {
  const calls: Array<[number, number, number]> = [];
  const step: JointStep<number> = async (frame, last, state) => {
    calls.push([frame, last, state]);
    const { token, duration } = plan(frame, last, state);
    const logits = new Float32Array(7);
    logits[token] = 5;
    logits[4 + duration] = 5;
    return { logits, state: state + 1 };
  };
  return { step, calls };
}

describe('greedy TDT decoding', () => {
  it('adopts the state only on emitted tokens, and starts from the blank', async () => {
    const { step, calls } = scripted((frame) => (frame % 2 === 0 ? { token: 1, duration: 1 } : { token: 3, duration: 1 }));
    const tokens = await decodeTdt({ frames: 4, vocabularySize: 4, blank: 3, maxTokensPerStep: 10, initialState: 0, step });
    expect(tokens.map((token) => [token.id, token.frame, token.duration])).toEqual([[1, 0, 1], [1, 2, 1]]);
    // Frame 1 emitted a blank: frame 2 sees the state of frame 0's emission, not of the blank.
    expect(calls).toEqual([[0, 3, 0], [1, 1, 1], [2, 1, 1], [3, 1, 2]]);
  });

  it('moves on after maxTokensPerStep tokens with duration 0 on one frame', async () => {
    const { step } = scripted(() => ({ token: 2, duration: 0 }));
    const tokens = await decodeTdt({ frames: 2, vocabularySize: 4, blank: 3, maxTokensPerStep: 3, initialState: 0, step });
    expect(tokens.map((token) => token.frame)).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('skips frames by the predicted duration, also after a blank', async () => {
    const { step, calls } = scripted((frame) => (frame === 0 ? { token: 3, duration: 2 } : { token: 0, duration: 2 }));
    const tokens = await decodeTdt({ frames: 5, vocabularySize: 4, blank: 3, maxTokensPerStep: 10, initialState: 0, step });
    expect(calls.map(([frame]) => frame)).toEqual([0, 2, 4]);
    expect(tokens.map((token) => token.frame)).toEqual([2, 4]);
  });

  it('confidence is 0 for a uniform guess and near 1 for a sure one', async () => {
    const uniform: JointStep<number> = async (_frame, _last, state) => {
      const logits = new Float32Array(7);
      logits[5] = 1;
      return { logits: Object.assign(logits, { 0: 0, 1: 0, 2: 0, 3: 0 }), state };
    };
    const [first] = await decodeTdt({ frames: 1, vocabularySize: 4, blank: 3, maxTokensPerStep: 1, initialState: 0, step: uniform });
    expect(first!.confidence).toBeCloseTo(0, 6);
    expect(first!.logprob).toBeCloseTo(Math.log(0.25), 6);
    const { step } = scripted(() => ({ token: 0, duration: 1 }));
    const [sure] = await decodeTdt({ frames: 1, vocabularySize: 4, blank: 3, maxTokensPerStep: 1, initialState: 0, step });
    expect(sure!.confidence).toBeGreaterThan(0.95);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    const { step } = scripted(() => {
      controller.abort();
      return { token: 1, duration: 1 };
    });
    await expect(decodeTdt({ frames: 10, vocabularySize: 4, blank: 3, maxTokensPerStep: 10, initialState: 0, step, signal: controller.signal })).rejects.toThrow();
  });
});
