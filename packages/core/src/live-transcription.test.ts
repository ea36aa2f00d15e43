import { describe, expect, it } from 'vitest';
import type { AsrBackend, AsrStreamSession, TranscribeRequest } from './backend.js';
import { EvictionPool } from './eviction-pool.js';
import { DEFAULT_LONG_AUDIO_OPTIONS } from './long-audio-options.js';
import { agreedPrefix, openLiveTranscription, type LiveEvent, type LiveTranscription } from './live-transcription.js';
import { SpeechError } from './speech-error.js';
import { resample, StreamResampler } from './stream-resampler.js';
import { VadChunker } from './vad-chunker.js';
import type { SpeechDetector } from './vad-speech-detector.js';

const RATE = 16000;
const W = 512;

/** Speech is loud: a window whose mean magnitude is at least 0.3 is speech. */
const loudnessDetector: SpeechDetector = {
  createStream: () => ({
    process: (windows) => {
      const probabilities = new Float32Array(windows.length / W);
      for (let index = 0; index < probabilities.length; index++) {
        let sum = 0;
        for (let sample = 0; sample < W; sample++) sum += Math.abs(windows[index * W + sample]!);
        probabilities[index] = sum / W >= 0.3 ? 0.9 : 0.1;
      }
      return probabilities;
    },
  }),
};

/** Audio from [seconds, isSpeech] pieces: speech is a 200 Hz tone at 0.8, silence zeros. */
function audio(rate: number, ...pieces: Array<[number, boolean]>): Float32Array {
  const total = pieces.reduce((sum, [seconds]) => sum + Math.round(seconds * rate), 0);
  const samples = new Float32Array(total);
  let offset = 0;
  for (const [seconds, speech] of pieces) {
    const length = Math.round(seconds * rate);
    if (speech) for (let index = 0; index < length; index++) samples[offset + index] = 0.8 * Math.sign(Math.sin((2 * Math.PI * 200 * index) / rate)) || 0.8;
    offset += length;
  }
  return samples;
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

/** One word per 250 ms of loud audio, in order: a longer clip's text extends a shorter one's. */
function wordsFor(samples: Float32Array, rate: number): string {
  let loud = 0;
  for (const sample of samples) if (Math.abs(sample) >= 0.3) loud++;
  const count = Math.floor(loud / (rate / 4));
  return Array.from({ length: count }, (_, index) => WORDS[index % WORDS.length]).join(' ');
}

interface TestBackend extends AsrBackend {
  calls: number[];
  /** Calls whose signal aborted while they ran. */
  aborted: number;
  sessions: { opened: number; closed: number };
}

function testBackend(options: { streaming?: boolean; longForm?: boolean; delayMs?: number } = {}): TestBackend {
  const calls: number[] = [];
  const sessions = { opened: 0, closed: 0 };
  const backend: TestBackend = {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: { wordTimestamps: false, segmentTimestamps: false, streaming: options.streaming ?? false, translation: false, languages: ['en'], longForm: options.longForm ?? false },
    calls,
    aborted: 0,
    sessions,
    async load() {},
    async dispose() {},
    async transcribe(request: TranscribeRequest) {
      calls.push(request.audio.length / request.sampleRate);
      if (options.delayMs) {
        // An engine that stops when its signal aborts.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.delayMs);
          request.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
      }
      if (request.signal.aborted) {
        backend.aborted++;
        throw new SpeechError('ABORTED', 'aborted');
      }
      return { text: wordsFor(request.audio, request.sampleRate), language: 'en', segments: [], words: [] };
    },
  };
  if (options.streaming) {
    backend.openStream = async () => {
      sessions.opened++;
      let loud = 0;
      let said = 0;
      let closed = false;
      const say = () => {
        const count = Math.floor(loud / (RATE / 4));
        const text = Array.from({ length: count - said }, (_, index) => ` ${WORDS[(said + index) % WORDS.length]}`).join('');
        said = count;
        return { text, words: [], events: [] };
      };
      const session: AsrStreamSession = {
        async feed(samples) {
          if (closed) throw new SpeechError('ABORTED', 'closed');
          for (const sample of samples) if (Math.abs(sample) >= 0.3) loud++;
          return say();
        },
        async finalize() {
          return say();
        },
        async close() {
          if (!closed) sessions.closed++;
          closed = true;
        },
      };
      return session;
    };
  }
  return backend;
}

const chunker = (options = DEFAULT_LONG_AUDIO_OPTIONS) => new VadChunker(loudnessDetector, options);

async function collect(live: LiveTranscription): Promise<LiveEvent[]> {
  const events: LiveEvent[] = [];
  for await (const event of live) events.push(event);
  return events;
}

async function feed(live: LiveTranscription, samples: Float32Array, block: number): Promise<void> {
  for (let offset = 0; offset < samples.length; offset += block) await live.write(samples.subarray(offset, offset + block));
  live.end();
}

describe('StreamResampler', () => {
  it('turns 24 kHz into 16 kHz of the same length and tone, block by block as whole', () => {
    const input = new Float32Array(24000);
    for (let index = 0; index < input.length; index++) input[index] = Math.sin((2 * Math.PI * 440 * index) / 24000);
    const whole = resample(input, 24000, 16000);
    expect(whole.length).toBe(16000);
    let error = 0;
    for (let index = 100; index < 15900; index++) error = Math.max(error, Math.abs(whole[index]! - Math.sin((2 * Math.PI * 440 * index) / 16000)));
    expect(error).toBeLessThan(0.01);
    const resampler = new StreamResampler(24000, 16000);
    const parts: Float32Array[] = [];
    for (let offset = 0; offset < input.length; offset += 480) parts.push(resampler.push(input.subarray(offset, offset + 480)));
    parts.push(resampler.end());
    const joined = Float32Array.from(parts.flatMap((part) => [...part]));
    expect(joined.length).toBe(whole.length);
    for (let index = 0; index < joined.length; index++) expect(joined[index]).toBeCloseTo(whole[index]!, 5);
  });

  it('removes a tone above the new Nyquist frequency instead of folding it back', () => {
    const input = new Float32Array(48000);
    for (let index = 0; index < input.length; index++) input[index] = Math.sin((2 * Math.PI * 11000 * index) / 48000);
    const output = resample(input, 48000, 16000);
    let peak = 0;
    for (let index = 200; index < output.length - 200; index++) peak = Math.max(peak, Math.abs(output[index]!));
    expect(peak).toBeLessThan(0.05);
  });

  it('converts rates without a small common divisor (44.1 kHz)', () => {
    expect(resample(new Float32Array(44100), 44100, 16000).length).toBe(16000);
    expect(resample(new Float32Array(22050), 22050, 16000).length).toBe(16000);
  });
});

describe('agreedPrefix', () => {
  it('keeps whole words both hypotheses share', () => {
    expect(agreedPrefix('the quick brow', 'the quick brown fox')).toBe('the quick');
    expect(agreedPrefix('the quick brown fox', 'the quick brown fox')).toBe('the quick brown fox');
    expect(agreedPrefix('', 'the')).toBe('');
    expect(agreedPrefix('a cat', 'the cat')).toBe('');
    expect(agreedPrefix('the quick.', 'the quick. quick brown.')).toBe('the quick.');
    expect(agreedPrefix('the quick', 'the quicker')).toBe('the');
  });
});

describe('openLiveTranscription', () => {
  it('server VAD: speech started/stopped, partial deltas before each final, and done with usage', async () => {
    const backend = testBackend();
    const live = openLiveTranscription({ backend, chunker: chunker(), sampleRate: RATE, segmentation: { type: 'server_vad' }, partialIntervalMs: 500 });
    const samples = audio(RATE, [1, false], [2, true], [1, false], [1, true], [1, false]);
    const events = collect(live);
    await feed(live, samples, 1600);
    const all = await events;
    const types = all.map((event) => event.type);
    expect(types.filter((type) => type === 'speech_started')).toHaveLength(2);
    expect(types.filter((type) => type === 'final')).toHaveLength(2);
    const started = all.find((event) => event.type === 'speech_started') as Extract<LiveEvent, { type: 'speech_started' }>;
    expect(started.audioStartMs).toBeGreaterThanOrEqual(650);
    expect(started.audioStartMs).toBeLessThanOrEqual(1000);
    const stopped = all.find((event) => event.type === 'speech_stopped') as Extract<LiveEvent, { type: 'speech_stopped' }>;
    expect(stopped.audioEndMs).toBeGreaterThan(3000);
    expect(stopped.audioEndMs).toBeLessThan(3700);
    const first = all.filter((event) => 'utterance' in event && event.utterance === 0);
    const firstFinal = first.findIndex((event) => event.type === 'final');
    const partials = first.filter((event, index) => event.type === 'delta' && index < first.findIndex((e) => e.type === 'committed'));
    expect(partials.length).toBeGreaterThan(0);
    const deltas = first.filter((event) => event.type === 'delta').map((event) => (event as { text: string }).text).join('');
    const final = first[firstFinal] as Extract<LiveEvent, { type: 'final' }>;
    expect(final.text).toBe(wordsFor(samples.subarray(RATE, 3 * RATE), RATE));
    expect(deltas).toBe(final.text);
    const done = all.at(-1) as Extract<LiveEvent, { type: 'done' }>;
    expect(done.type).toBe('done');
    expect(done.seconds).toBeCloseTo(6, 3);
    expect(done.text).toBe(`${final.text} ${(all.filter((event) => event.type === 'final')[1] as { text: string }).text}`);
  });

  it('resamples 24 kHz input: the same utterances as at 16 kHz', async () => {
    const backend = testBackend();
    const live = openLiveTranscription({ backend, chunker: chunker(), sampleRate: 24000, segmentation: { type: 'server_vad' }, partialIntervalMs: 0 });
    const events = collect(live);
    await feed(live, audio(24000, [0.5, false], [1, true], [1, false]), 480);
    const finals = (await events).filter((event) => event.type === 'final') as Array<Extract<LiveEvent, { type: 'final' }>>;
    expect(finals).toHaveLength(1);
    expect(finals[0]!.text).toBe('alpha bravo charlie delta');
  });

  it('manual commits: a too-short buffer is refused, the session goes on', async () => {
    const backend = testBackend();
    const live = openLiveTranscription({ backend, chunker: chunker(), sampleRate: RATE, segmentation: { type: 'manual' }, partialIntervalMs: 0 });
    const events = collect(live);
    await live.write(audio(RATE, [0.05, true]));
    live.commit();
    await live.write(audio(RATE, [1, true]));
    live.commit();
    live.clear();
    await live.write(audio(RATE, [0.5, true]));
    live.end();
    const all = await events;
    // Finals come from the engine lane: they may overtake later operations' events.
    expect(all.map((event) => event.type).filter((type) => type !== 'delta' && type !== 'final')).toEqual(['rejected', 'committed', 'cleared', 'committed', 'done']);
    const finals = all.filter((event) => event.type === 'final').map((event) => (event as { text: string }).text);
    expect(finals).toEqual(['alpha bravo charlie delta', 'alpha bravo']);
    expect(all.at(-1)).toMatchObject({ type: 'done', text: 'alpha bravo charlie delta alpha bravo' });
  });

  it('utteranceWaitsForInput: only while an utterance is open and all its input has been taken in', async () => {
    const until = async (check: () => boolean, what: string) => {
      const deadline = Date.now() + 5000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const manual = openLiveTranscription({ backend: testBackend(), chunker: chunker(), sampleRate: RATE, segmentation: { type: 'manual' }, partialIntervalMs: 0 });
    const manualEvents = collect(manual);
    expect(manual.utteranceWaitsForInput).toBe(false);
    await manual.write(audio(RATE, [0.5, true]));
    await until(() => manual.utteranceWaitsForInput, 'the manual turn to wait for input');
    manual.commit();
    // A commit written is no longer input awaited, even before it is processed.
    expect(manual.utteranceWaitsForInput).toBe(false);
    manual.end();
    await manualEvents;
    expect(manual.utteranceWaitsForInput).toBe(false);

    const voice = openLiveTranscription({ backend: testBackend(), chunker: chunker(), sampleRate: RATE, segmentation: { type: 'server_vad' }, partialIntervalMs: 0 });
    const voiceEvents = collect(voice);
    await voice.write(audio(RATE, [0.5, false]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Silence only: nothing is open.
    expect(voice.utteranceWaitsForInput).toBe(false);
    await voice.write(audio(RATE, [0.5, true]));
    await until(() => voice.utteranceWaitsForInput, 'the speech to wait for more input');
    await voice.write(audio(RATE, [1, false]));
    await until(() => !voice.utteranceWaitsForInput, 'the silence to end the utterance');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(voice.utteranceWaitsForInput).toBe(false);
    voice.end();
    expect((await voiceEvents).filter((event) => event.type === 'final')).toHaveLength(1);
  });

  it('a commit aborts the partial in flight: the final does not wait behind it', async () => {
    const backend = testBackend({ delayMs: 2000 });
    const live = openLiveTranscription({ backend, chunker: chunker(), sampleRate: RATE, segmentation: { type: 'manual' }, partialIntervalMs: 500 });
    const events = collect(live);
    await live.write(audio(RATE, [1, true]));
    // The partial over the first second is running (it would take 2 s).
    const deadline = Date.now() + 5000;
    while (backend.calls.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(backend.calls).toHaveLength(1);
    const committed = Date.now();
    live.commit();
    live.end();
    const all = await events;
    expect(backend.aborted).toBe(1);
    // One engine pass for the final, not two.
    expect(Date.now() - committed).toBeLessThan(3900);
    expect(all.filter((event) => event.type === 'final').map((event) => (event as { text: string }).text)).toEqual(['alpha bravo charlie delta']);
  });

  it('uses the engine streaming session where the backend has one', async () => {
    const backend = testBackend({ streaming: true });
    const live = openLiveTranscription({ backend, chunker: chunker(), sampleRate: RATE, segmentation: { type: 'server_vad' } });
    const events = collect(live);
    await feed(live, audio(RATE, [0.5, false], [2, true], [1, false]), 1600);
    const all = await events;
    const deltas = all.filter((event) => event.type === 'delta') as Array<Extract<LiveEvent, { type: 'delta' }>>;
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.every((delta) => delta.source === 'engine-stream')).toBe(true);
    const final = all.find((event) => event.type === 'final') as Extract<LiveEvent, { type: 'final' }>;
    expect(final.text).toBe(deltas.map((delta) => delta.text).join('').trim());
    expect(final.text.split(' ')).toHaveLength(8);
    expect(backend.calls).toHaveLength(0);
    expect(backend.sessions).toEqual({ opened: 1, closed: 1 });
  });

  it('chunks: one delta per chunk as the chunker releases it, done equal to a whole-file transcription', async () => {
    const options = { ...DEFAULT_LONG_AUDIO_OPTIONS, thresholdSeconds: 3, maxSpeechSeconds: 3 };
    const samples = audio(RATE, [0.5, false], [2, true], [1, false], [2, true], [1, false], [2, true], [0.5, false]);
    const backend = testBackend();
    const whole = await chunker(options).transcribe(backend, samples, { task: 'transcribe', timestamps: false, signal: new AbortController().signal });
    const live = openLiveTranscription({ backend, chunker: chunker(options), sampleRate: RATE, segmentation: { type: 'chunks' } });
    const events = collect(live);
    await feed(live, samples, 4000);
    const all = await events;
    const deltas = all.filter((event) => event.type === 'delta') as Array<Extract<LiveEvent, { type: 'delta' }>>;
    expect(deltas.length).toBe(3);
    const done = all.at(-1) as Extract<LiveEvent, { type: 'done' }>;
    expect(done.text).toBe(whole.text);
    expect(deltas.map((delta) => delta.text).join('')).toBe(whole.text);
    expect(done.seconds).toBeCloseTo(whole.duration, 3);
  });

  it('holds a writer whose events nobody reads, refuses one that does not wait, and frees the lease on close', async () => {
    const backend = testBackend();
    const pool = new EvictionPool([{ slug: 'm', backend, maxConcurrency: 1 }]);
    const live = openLiveTranscription({
      pool, model: 'm', chunker: chunker(), sampleRate: RATE, segmentation: { type: 'manual' }, partialIntervalMs: 0,
      maxQueuedSeconds: 1, maxPendingEvents: 2, maxUtteranceSeconds: 1,
    });
    const second = audio(RATE, [1, true]);
    // Nobody reads: after a few utterances the engine, then segmentation, then the writer wait.
    let written = 0;
    const writer = (async () => {
      for (;;) {
        await live.write(second);
        written++;
      }
    })().catch((error) => error);
    const deadline = Date.now() + 5000;
    let previous = -1;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (written === previous && written > 0) break;
      previous = written;
    }
    expect(written).toBeLessThan(20);
    expect(live.queuedSeconds).toBeLessThanOrEqual(3);
    expect(pool.status()[0]!.active_requests).toBe(1);
    // A writer that ignores the promise is refused past twice the bound.
    const unwaited = Array.from({ length: 10 }, () => live.write(second).then(() => undefined, (error) => error));
    expect(await Promise.race(unwaited)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await live.close();
    expect(await writer).toMatchObject({ code: 'ABORTED' });
    expect(pool.status()[0]!.active_requests).toBe(0);
  });

  it('a consumer that leaves the loop closes the session and releases the lease', async () => {
    const backend = testBackend({ delayMs: 20 });
    const pool = new EvictionPool([{ slug: 'm', backend, maxConcurrency: 1 }]);
    const live = openLiveTranscription({ pool, model: 'm', chunker: chunker(), sampleRate: RATE, segmentation: { type: 'server_vad' }, partialIntervalMs: 200 });
    const writing = (async () => {
      // Paced like a live source: the partials keep up.
      for (let index = 0; index < 300; index++) {
        await live.write(audio(RATE, [0.1, true]));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })().catch((error) => error);
    for await (const event of live) if (event.type === 'delta') break;
    await live.finished;
    expect(pool.status()[0]!.active_requests).toBe(0);
    expect(await writing).toMatchObject({ code: 'ABORTED' });
  });

  it('an aborted signal ends the iteration with ABORTED', async () => {
    const controller = new AbortController();
    const live = openLiveTranscription({ backend: testBackend(), chunker: chunker(), sampleRate: RATE, segmentation: { type: 'manual' }, signal: controller.signal });
    await live.write(audio(RATE, [0.5, true]));
    controller.abort();
    const events: LiveEvent[] = [];
    for await (const event of live) events.push(event);
    expect(events.some((event) => event.type === 'done')).toBe(false);
  });
});
