import { describe, expect, it } from 'vitest';
import { DEFAULT_LONG_AUDIO_OPTIONS, type LongAudioOptions } from './long-audio-options.js';
import { seededRandom } from './seeded-random.js';
import { HOLD_CAP_MULTIPLE, splitSpan, VadChunkPlanner, type SampleSpan } from './vad-chunk-planner.js';

const W = 512;
const PAD = 3200; // 200 ms
const CAP = 28 * 16000;
const SPEECH = 0.9;
const QUIET = 0.1;

/** Windows as text: `#` speech, `.` non-speech; `n*c` repeats (e.g. `100*.`). */
function script(...parts: string[]): number[] {
  const probabilities: number[] = [];
  for (const part of parts) {
    const match = /^(\d+)\*(.)$/.exec(part);
    const text = match ? match[2]!.repeat(Number(match[1])) : part;
    for (const character of text) probabilities.push(character === '#' ? SPEECH : QUIET);
  }
  return probabilities;
}

function plan(probabilities: readonly number[], options: Partial<LongAudioOptions> = {}, totalSamples = probabilities.length * W): SampleSpan[] {
  const planner = new VadChunkPlanner({ ...DEFAULT_LONG_AUDIO_OPTIONS, ...options });
  const chunks: SampleSpan[] = [];
  for (const probability of probabilities) {
    planner.push(probability);
    chunks.push(...planner.takeChunks());
  }
  planner.finish(totalSamples);
  chunks.push(...planner.takeChunks());
  return chunks;
}

/** The Python talkies' detect_speech_regions + merge_speech_regions (vad.py), clipped to the audio. */
function pythonTalkies(probabilities: readonly number[], totalSamples: number, options: LongAudioOptions = DEFAULT_LONG_AUDIO_OPTIONS): SampleSpan[] {
  if (totalSamples < W) return [];
  const minSilence = Math.max(1, Math.floor((options.minSilenceMs * 16000) / (1000 * W)));
  const pad = Math.floor((options.speechPadMs * 16000) / 1000);
  const regions: SampleSpan[] = [];
  let open = false;
  let start = 0;
  let run = 0;
  probabilities.forEach((probability, i) => {
    if (probability >= options.threshold) {
      if (!open) {
        open = true;
        start = i * W;
      }
      run = 0;
    } else if (open) {
      run++;
      if (run >= minSilence) {
        regions.push({ start, end: i * W - run * W });
        open = false;
        run = 0;
      }
    }
  });
  if (open) regions.push({ start, end: probabilities.length * W });
  const padded = regions.map((region) => ({ start: Math.max(0, region.start - pad), end: Math.min(totalSamples, region.end + pad) }));
  const cap = Math.floor(options.maxSpeechSeconds * 16000);
  const merged: SampleSpan[] = [];
  let current: SampleSpan | undefined;
  for (const region of padded) {
    if (current && region.end - current.start <= cap) current.end = region.end;
    else {
      if (current) merged.push(current);
      current = { ...region };
    }
  }
  if (current) merged.push(current);
  return merged;
}

/** Speech and pauses of random lengths (pauses mostly short, sometimes long). */
function randomScript(next: () => number, windows: number, longestSpeech: number): number[] {
  const probabilities: number[] = [];
  while (probabilities.length < windows) {
    const speech = 1 + Math.floor(next() * longestSpeech);
    for (let i = 0; i < speech; i++) probabilities.push(0.5 + next() * 0.5);
    const pause = next() < 0.6 ? 1 + Math.floor(next() * 20) : 1 + Math.floor(next() * 400);
    for (let i = 0; i < pause; i++) probabilities.push(next() * 0.4999);
  }
  return probabilities.slice(0, windows);
}

function expectWellFormed(chunks: readonly SampleSpan[], probabilities: readonly number[], totalSamples: number, cap: number, threshold = 0.5): void {
  let previousEnd = 0;
  for (const chunk of chunks) {
    expect(chunk.start).toBeGreaterThanOrEqual(previousEnd);
    expect(chunk.end).toBeGreaterThan(chunk.start);
    expect(chunk.end - chunk.start).toBeLessThanOrEqual(cap);
    expect(chunk.end).toBeLessThanOrEqual(totalSamples);
    previousEnd = chunk.end;
  }
  // Every sample of every speech window is inside a chunk (a hard cut may fall inside a window).
  let index = 0;
  const uncovered: number[] = [];
  probabilities.forEach((probability, window) => {
    if (probability < threshold) return;
    let from = window * W;
    const to = Math.min(totalSamples, from + W);
    while (from < to) {
      while (index < chunks.length && chunks[index]!.end <= from) index++;
      const chunk = chunks[index];
      if (chunk === undefined || chunk.start > from) {
        uncovered.push(window);
        return;
      }
      from = chunk.end;
    }
  });
  expect(uncovered, 'speech windows in no chunk').toEqual([]);
}

describe('VadChunkPlanner: detection as the Python talkies does it', () => {
  it('closes a region at the start of its last speech window and pads it by 200 ms', () => {
    expect(plan(script('100*.', '50*#', '100*.'))).toEqual([{ start: 100 * W - PAD, end: 149 * W + PAD }]);
  });

  it('needs 15 non-speech windows (480 ms for 500 ms) to close a region; shorter pauses stay inside', () => {
    expect(plan(script('100*.', '10*#', '14*.', '10*#', '100*.'))).toEqual([{ start: 100 * W - PAD, end: 133 * W + PAD }]);
    // 15 windows close the first region; the second is merged back in because the span fits the cap.
    expect(plan(script('100*.', '10*#', '15*.', '10*#', '100*.'))).toEqual([{ start: 100 * W - PAD, end: 134 * W + PAD }]);
    expect(plan(script('100*.', '10*#', '15*.', '10*#', '100*.'), { maxSpeechSeconds: 0.8 })).toEqual([
      { start: 100 * W - PAD, end: 109 * W + PAD },
      { start: 125 * W - PAD, end: 134 * W + PAD },
    ]);
  });

  it('treats a probability equal to the threshold as speech', () => {
    expect(plan([...script('20*.'), 0.5, ...script('30*.')])).toEqual([{ start: 20 * W - PAD, end: 20 * W + PAD }]);
  });

  it('clips padding to the audio at both ends; a region open at the end runs to the end', () => {
    const probabilities = script('3*.', '40*#');
    // 43 windows, the last one only 100 samples of real audio: the chunk ends with the audio.
    const total = 42 * W + 100;
    expect(plan(probabilities, {}, total)).toEqual([{ start: 0, end: total }]);
  });

  it('finds nothing in silence', () => {
    expect(plan(script('3000*.'))).toEqual([]);
  });

  it('merges regions greedily while the merged span stays within 28 s', () => {
    // Regions of 10 s each separated by 1 s pauses: two fit in 28 s with padding, three do not.
    const ten = '312*#';
    const pause = '31*.';
    const chunks = plan(script('50*.', ten, pause, ten, pause, ten, '50*.'));
    expect(chunks).toHaveLength(2);
    expect(chunks[0]).toEqual({ start: 50 * W - PAD, end: (50 + 312 + 31 + 311) * W + PAD });
    expect(chunks[1]!.start).toBe((50 + 2 * (312 + 31)) * W - PAD);
  });

  it('matches the Python talkies exactly whenever no region is longer than the cap', () => {
    const next = seededRandom(1);
    let compared = 0;
    for (let trial = 0; trial < 40; trial++) {
      const probabilities = randomScript(next, 2000 + Math.floor(next() * 3000), 200);
      const total = probabilities.length * W - Math.floor(next() * W);
      const expected = pythonTalkies(probabilities, total);
      if (expected.some((chunk) => chunk.end - chunk.start > CAP)) continue;
      expect(plan(probabilities, {}, total)).toEqual(expected);
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('matches the Python talkies with other thresholds, silences and paddings', () => {
    const next = seededRandom(2);
    const options: LongAudioOptions = { thresholdSeconds: 30, maxSpeechSeconds: 10, threshold: 0.3, minSilenceMs: 100, speechPadMs: 30 };
    let compared = 0;
    for (let trial = 0; trial < 20; trial++) {
      const probabilities = randomScript(next, 3000, 100);
      const expected = pythonTalkies(probabilities, probabilities.length * W, options);
      if (expected.some((chunk) => chunk.end - chunk.start > 10 * 16000)) continue;
      expect(plan(probabilities, options)).toEqual(expected);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });
});

describe('VadChunkPlanner: better than the Python talkies', () => {
  it('re-splits a region over the cap at its longest internal pause', () => {
    // 40 s of speech with pauses of 3, 8 and 5 windows at known places.
    const probabilities = script('10*.', '300*#', '3*.', '300*#', '8*.', '300*#', '5*.', '300*#', '100*.');
    const chunks = plan(probabilities);
    const eightStart = (10 + 300 + 3 + 300) * W;
    const eightEnd = eightStart + 8 * W;
    const middle = Math.floor((eightStart + eightEnd) / 2);
    // The 8-window pause (256 ms) is shorter than two paddings: both sides stop at its middle.
    expect(chunks).toEqual([
      { start: 10 * W - PAD, end: middle },
      { start: middle, end: (10 + 300 + 3 + 300 + 8 + 300 + 5 + 299) * W + PAD },
    ]);
    expect(chunks.every((chunk) => chunk.end - chunk.start <= CAP)).toBe(true);
  });

  it('pads each side into a long internal pause without crossing', () => {
    const cap = 2 * 16000;
    // 1.6 s speech, 12 quiet windows (384 ms: under the 480 ms that closes a region), 1.6 s speech.
    const probabilities = script('20*.', '50*#', '12*.', '50*#', '40*.');
    const chunks = plan(probabilities, { maxSpeechSeconds: 2, speechPadMs: 100 });
    const pad = 1600;
    const pauseStart = 70 * W;
    const pauseEnd = 82 * W;
    expect(chunks).toEqual([
      { start: 20 * W - pad, end: pauseStart + pad },
      { start: pauseEnd - pad, end: 131 * W + pad },
    ]);
    expect(chunks.every((chunk) => chunk.end - chunk.start <= cap)).toBe(true);
  });

  it('never lets paddings overlap: neighbours that are not merged meet in the middle of the gap', () => {
    // A 100 ms minimum silence (3 windows) with 200 ms padding: a 5-window gap is shorter than two paddings.
    const probabilities = script('20*.', '30*#', '5*.', '30*#', '40*.');
    const middle = 52 * W; // between the first region's end (49 W) and the second's start (55 W)
    expect(plan(probabilities, { minSilenceMs: 100, maxSpeechSeconds: 2 })).toEqual([
      { start: 20 * W - PAD, end: middle },
      { start: middle, end: 84 * W + PAD },
    ]);
  });

  it('re-splits recursively, then merges the pieces back up to the cap', () => {
    const probabilities = script('10*.', '200*#', '2*.', '200*#', '1*.', '200*#', '2*.', '200*#', '1*.', '200*#', '40*.');
    const chunks = plan(probabilities, { maxSpeechSeconds: 14 });
    expectWellFormed(chunks, probabilities, probabilities.length * W, 14 * 16000);
    // 1000 speech windows (32 s) need three chunks of at most 14 s; each cut is at a pause.
    expect(chunks).toHaveLength(3);
    const pauses = [210, 412, 613, 815].map((window) => window * W);
    for (const chunk of chunks.slice(1)) {
      expect(pauses.some((pause) => chunk.start >= pause && chunk.start <= pause + 2 * W)).toBe(true);
    }
  });

  it('cuts a region with no pause at all hard at the cap', () => {
    const probabilities = script('10*.', '2000*#', '100*.');
    const chunks = plan(probabilities);
    const start = 10 * W - PAD;
    expect(chunks).toEqual([
      { start, end: start + CAP },
      { start: start + CAP, end: start + 2 * CAP },
      { start: start + 2 * CAP, end: 2009 * W + PAD },
    ]);
  });

  it('never emits a chunk over the cap, keeps chunks in order and apart, and covers every speech window', () => {
    const next = seededRandom(3);
    for (let trial = 0; trial < 30; trial++) {
      const probabilities = randomScript(next, 5000 + Math.floor(next() * 5000), 1500);
      const total = probabilities.length * W - Math.floor(next() * W);
      const maxSpeechSeconds = [28, 10, 3][trial % 3]!;
      expectWellFormed(plan(probabilities, { maxSpeechSeconds }, total), probabilities, total, maxSpeechSeconds * 16000);
    }
  });

  it('emits a chunk as soon as nothing later can join it', () => {
    const planner = new VadChunkPlanner(DEFAULT_LONG_AUDIO_OPTIONS);
    const push = (text: string) => script(text).forEach((probability) => planner.push(probability));
    push('10*.');
    push('100*#');
    push('100*.');
    expect(planner.takeChunks()).toEqual([]);
    // 28 s after the region's padded start, no later region could be merged into it.
    push('700*.');
    expect(planner.takeChunks()).toEqual([{ start: 10 * W - PAD, end: 109 * W + PAD }]);
  });

  it('releases audio as it goes: retainFrom trails the input by at most a few caps', () => {
    const planner = new VadChunkPlanner(DEFAULT_LONG_AUDIO_OPTIONS);
    const next = seededRandom(4);
    const probabilities = randomScript(next, 120_000, 3000); // about an hour
    let emitted = 0;
    let worst = 0;
    probabilities.forEach((probability, index) => {
      planner.push(probability);
      emitted += planner.takeChunks().length;
      const held = (index + 1) * W - planner.retainFrom;
      worst = Math.max(worst, held);
    });
    expect(emitted).toBeGreaterThan(50);
    expect(worst).toBeLessThanOrEqual((HOLD_CAP_MULTIPLE + 2) * CAP);
  });

  it('splits a region that never pauses while it is still open', () => {
    const planner = new VadChunkPlanner(DEFAULT_LONG_AUDIO_OPTIONS);
    let position = 0;
    const chunks: SampleSpan[] = [];
    for (let window = 0; window < 20_000; window++) {
      planner.push(SPEECH);
      position += W;
      chunks.push(...planner.takeChunks());
      expect(position - planner.retainFrom).toBeLessThanOrEqual((HOLD_CAP_MULTIPLE + 1) * CAP);
    }
    expect(chunks.length).toBeGreaterThan(10);
    planner.finish(position);
    chunks.push(...planner.takeChunks());
    expectWellFormed(chunks, new Array(20_000).fill(SPEECH), position, CAP);
    expect(chunks.at(-1)!.end).toBe(position);
  });
});

describe('splitSpan', () => {
  it('returns a span within the cap as it is', () => {
    const out: SampleSpan[] = [];
    splitSpan({ start: 5, end: 100 }, [{ start: 40, end: 50 }], 100, 10, out);
    expect(out).toEqual([{ start: 5, end: 100 }]);
  });

  it('prefers the longest run, then the one nearest the middle', () => {
    const out: SampleSpan[] = [];
    splitSpan({ start: 0, end: 1000 }, [{ start: 100, end: 110 }, { start: 480, end: 490 }, { start: 800, end: 810 }], 900, 0, out);
    expect(out).toEqual([{ start: 0, end: 480 }, { start: 490, end: 1000 }]);
  });
});

describe('options', () => {
  it('refuses options that cannot work', () => {
    expect(() => new VadChunkPlanner({ ...DEFAULT_LONG_AUDIO_OPTIONS, maxSpeechSeconds: 0 })).toThrow(/maxSpeechSeconds/);
    expect(() => new VadChunkPlanner({ ...DEFAULT_LONG_AUDIO_OPTIONS, threshold: 1.5 })).toThrow(/threshold/);
  });
});
