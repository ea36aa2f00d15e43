/**
 * The binding against the stand-in libparakeet, compiled here at ABI 3 and ABI 10:
 * symbols probed by version, NULL results with last_error, every string freed exactly
 * once, concurrent calls off the event loop, streaming sessions (finished and abandoned),
 * and a library that is missing or of the wrong version.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError, type AsrStreamUpdate } from '@talkies/core';
import { describeBackendConformance } from '@talkies/core/testing';
import {
  bursts,
  createBackend,
  hasCompiler,
  request,
  standInCounters,
  standInLibrary,
  temporaryDirectory,
  writeStandInModel,
} from './support/stand-in.js';

type Counters = Awaited<ReturnType<typeof standInCounters>>;

/** Three words: two close together (one segment), one after a long pause (another). */
const SPEECH: Array<[number, number]> = [[0.16, 0.48], [0.64, 0.96], [2.0, 2.4]];

async function caught(promise: Promise<unknown>): Promise<SpeechError> {
  try {
    await promise;
  } catch (error) {
    if (SpeechError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!hasCompiler)('libparakeet binding (stand-in library)', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let v3: string;
  let v10: string;
  let v3WithoutJsonLanguage: string;
  let counters3: Counters;
  let counters10: Counters;

  beforeAll(async () => {
    data = await temporaryDirectory('parakeet-binding-');
    v3 = standInLibrary({ abi: 3 });
    v10 = standInLibrary({ abi: 10 });
    v3WithoutJsonLanguage = standInLibrary({ abi: 3, noJsonWithLanguage: true });
    counters3 = await standInCounters(v3);
    counters10 = await standInCounters(v10);
    const models = join(data.path, 'models');
    await writeStandInModel(join(models, 'parakeet-test'), 'model.gguf');
    await writeStandInModel(join(models, 'nemotron'), 'nemotron-streaming-q8_0.gguf', { nemotron: true, streaming: true });
    await writeStandInModel(join(models, 'slow'), 'model.gguf', { delayMs: 150 });
    await writeStandInModel(join(models, 'auto-pick'), 'b-second.gguf');
    await writeStandInModel(join(models, 'auto-pick'), 'a-first.gguf', { nemotron: true });
  });

  afterAll(async () => {
    await data?.remove();
  });

  const nemotron = (library: string, extra: Parameters<typeof createBackend>[0]['options'] = {}) =>
    createBackend({ modelId: 'nemotron', dataDir: data.path, library, file: 'nemotron-streaming-q8_0.gguf', options: extra });

  it('ABI 10: every optional entry point is found and used', async () => {
    const backend = createBackend({ dataDir: data.path, library: v10 });
    await backend.load();
    try {
      expect(backend.library).toMatchObject({ abi: 10, features: { jsonWithLanguage: true, streamJson: true, eventBitmask: true, concurrency: true, loadError: true } });
      const result = await backend.transcribe(request(bursts(3, SPEECH)));
      expect(result.text).toBe('alpha bravo charlie');
      expect(result.words.map((word) => [word.word, word.start, word.end])).toEqual([
        ['alpha', 0.16, 0.48], ['bravo', 0.64, 0.96], ['charlie', 2.0, 2.4],
      ]);
      // Confidence from the peak RMS of a 0.3 sine (0.3 / sqrt 2): 0.5 + 0.49 * 0.2121.
      for (const word of result.words) expect(word.confidence).toBeCloseTo(0.6039, 3);
      // Segments come from the words: a pause over 0.5 s starts a new one.
      expect(result.segments).toEqual([
        { id: 0, start: 0.16, end: 0.96, text: 'alpha bravo' },
        { id: 1, start: 2.0, end: 2.4, text: 'charlie' },
      ]);
      expect(result.duration).toBe(3);
    } finally {
      await backend.dispose();
    }
  });

  it('a view into a larger buffer is read from its own offset (the chunker hands over subarrays)', async () => {
    const backend = createBackend({ dataDir: data.path, library: v10 });
    await backend.load();
    try {
      const whole = bursts(6, [[0.16, 0.48], [3.2, 3.6], [4.0, 4.4]]);
      const view = whole.subarray(48000); // from 3.0 s
      const fromView = await backend.transcribe(request(view));
      const fromCopy = await backend.transcribe(request(view.slice()));
      expect(fromView).toEqual(fromCopy);
      expect(fromView.words.map((word) => [word.word, word.start])).toEqual([['alpha', 0.16], ['bravo', 0.96]]);
    } finally {
      await backend.dispose();
    }
  });

  it('ABI 3: the entry points it lacks are probed, not called, and it still transcribes', async () => {
    const backend = createBackend({ dataDir: data.path, library: v3 });
    await backend.load();
    try {
      expect(backend.library).toMatchObject({ abi: 3, features: { jsonWithLanguage: true, streamJson: false, eventBitmask: false, concurrency: false, loadError: false } });
      const result = await backend.transcribe(request(bursts(3, SPEECH)));
      expect(result.text).toBe('alpha bravo charlie');
      expect(result.words).toHaveLength(3);
    } finally {
      await backend.dispose();
    }
  });

  it('a library outside ABI 3 to 10 answers 503 saying which versions work', async () => {
    for (const abi of [2, 11]) {
      const backend = createBackend({ dataDir: data.path, library: standInLibrary({ abi }) });
      const error = await caught(backend.load());
      expect(error.status).toBe(503);
      expect(error.message).toContain(`C API version ${abi}; this engine supports versions 3 to 10`);
    }
  });

  it('a NULL result is an error carrying last_error; the context keeps working', async () => {
    const backend = createBackend({ dataDir: data.path, library: v10 });
    await backend.load();
    try {
      const audio = bursts(1, [[0.1, 0.5]]);
      audio[100] = Number.NaN;
      const error = await caught(backend.transcribe(request(audio)));
      expect(error.code).toBe('INFERENCE_FAILED');
      expect(error.status).toBe(500);
      expect(error.message).toContain('input contains non-finite samples');
      expect((await backend.transcribe(request(bursts(1, [[0.1, 0.5]])))).text).toBe('alpha');
    } finally {
      await backend.dispose();
    }
  });

  it('a model file the library refuses is a 503 with the reason (load_error on ABI 10)', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(join(data.path, 'models', 'broken'), { recursive: true });
    await writeFile(join(data.path, 'models', 'broken', 'model.gguf'), 'not a gguf');
    const error = await caught(createBackend({ modelId: 'broken', dataDir: data.path, library: v10 }).load());
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.status).toBe(503);
    expect(error.message).toContain('is not a GGUF file');
    const older = await caught(createBackend({ modelId: 'broken', dataDir: data.path, library: v3 }).load());
    expect(older.message).toContain('is it a parakeet.cpp GGUF?');
  });

  it('every returned string is freed exactly once, failures included', async () => {
    for (const [library, counters] of [[v3, counters3], [v10, counters10]] as const) {
      counters.reset();
      const backend = createBackend({ dataDir: data.path, library });
      await backend.load();
      const broken = bursts(1, [[0.1, 0.5]]);
      broken[0] = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 5; round++) {
        await backend.transcribe(request(bursts(3, SPEECH)));
        await backend.transcribe(request(bursts(1, [[0.1, 0.3]]), { language: 'de' }));
        await backend.transcribe(request(broken)).catch(() => undefined);
      }
      await backend.dispose();
      // Stream strings too: every feed and finalize returns one.
      const streaming = nemotron(library);
      await streaming.load();
      const session = await streaming.openStream({ sampleRate: 16000, signal: new AbortController().signal });
      for (let offset = 0; offset < 48000; offset += 4000) await session.feed(bursts(3, SPEECH).subarray(offset, offset + 4000));
      await session.finalize();
      await session.close();
      await streaming.dispose();
      expect(counters.liveStrings()).toBe(0);
      expect(counters.badFrees()).toBe(0);
    }
  });

  it('concurrent calls run off the event loop, in parallel up to set_concurrency', async () => {
    const audio = bursts(1, [[0.1, 0.5]]);
    for (const [library, counters, parallel] of [[v10, counters10, 2], [v3, counters3, 1]] as const) {
      counters.reset();
      const backend = createBackend({ modelId: 'slow', dataDir: data.path, library, maxConcurrency: 2 });
      await backend.load();
      try {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const started = performance.now();
        const results = await Promise.all(Array.from({ length: 4 }, () => backend.transcribe(request(audio))));
        const elapsed = performance.now() - started;
        clearInterval(timer);
        expect(results.map((result) => result.text)).toEqual(['alpha', 'alpha', 'alpha', 'alpha']);
        expect(counters.maxInFlight()).toBe(parallel);
        // 4 calls of 150 ms: 2 at a time takes about 300 ms, 1 at a time about 600 ms.
        expect(elapsed).toBeGreaterThanOrEqual((4 / parallel) * 150 - 20);
        if (parallel === 2) expect(elapsed).toBeLessThan(600);
        // The event loop kept turning while the library worked.
        expect(ticks).toBeGreaterThan(elapsed / 10 / 3);
      } finally {
        await backend.dispose();
      }
    }
  });

  it('language: pinned through the _lang entry points, tags never reach the text, unknown locales are a 400', async () => {
    const backend = nemotron(v10);
    await backend.load();
    try {
      const audio = bursts(3, SPEECH);
      const auto = await backend.transcribe(request(audio));
      // The model tags its language ("charlie<en-us>"): gone from the text and the words, kept as the language.
      expect(auto.text).toBe('alpha bravo charlie');
      expect(auto.words.map((word) => word.word)).toEqual(['alpha', 'bravo', 'charlie']);
      expect(auto.language).toBe('en');
      const pinned = await backend.transcribe(request(audio, { language: 'de' }));
      expect(pinned.text).toBe('alpha bravo charlie');
      expect(pinned.language).toBe('de');
      expect(pinned.words).toHaveLength(3);
      const unknown = await caught(backend.transcribe(request(audio, { language: 'xx-nonexistent' })));
      expect(unknown.status).toBe(400);
      expect(unknown.param).toBe('language');
      expect(unknown.message).toContain("unknown target language 'xx-nonexistent'");
      for (const hostile of ['en\u0000de', 'e'.repeat(200), '../../etc', 'en us']) {
        const refused = await caught(backend.transcribe(request(audio, { language: hostile })));
        expect(refused.status).toBe(400);
        expect(refused.message).toContain('is not a language code');
      }
    } finally {
      await backend.dispose();
    }
  });

  it('a library without transcribe_pcm_batch_json_lang gives text but no words when the language is pinned', async () => {
    const backend = nemotron(v3WithoutJsonLanguage);
    await backend.load();
    try {
      expect(backend.library?.features.jsonWithLanguage).toBe(false);
      const audio = bursts(3, SPEECH);
      const pinned = await backend.transcribe(request(audio, { language: 'en' }));
      expect(pinned).toMatchObject({ text: 'alpha bravo charlie', words: [], segments: [], language: 'en' });
      expect(pinned.warnings?.[0]).toContain('no word timestamps with a pinned language');
      expect((await backend.transcribe(request(audio))).words).toHaveLength(3);
    } finally {
      await backend.dispose();
    }
  });

  it('models.json languages are checked before the library is called', async () => {
    const backend = createBackend({ modelId: 'nemotron', dataDir: data.path, library: v10, file: 'nemotron-streaming-q8_0.gguf', languages: ['auto', 'en', 'de'] });
    await backend.load();
    try {
      const error = await caught(backend.transcribe(request(bursts(1, [[0.1, 0.5]]), { language: 'fr' })));
      expect(error.status).toBe(400);
      expect(error.message).toContain("does not know language 'fr'; it knows: auto, en, de");
    } finally {
      await backend.dispose();
    }
  });

  it('without gguf_file the first GGUF of the model directory (in name order) is used', async () => {
    const backend = createBackend({ modelId: 'auto-pick', dataDir: data.path, library: v10, ggufFile: null });
    await backend.load();
    try {
      // a-first.gguf is the nemotron one: its language tag shows it was chosen.
      expect((await backend.transcribe(request(bursts(1, [[0.1, 0.5]])))).language).toBe('en');
    } finally {
      await backend.dispose();
    }
  });

  describe('streaming sessions', () => {
    /** Speech fed in 100 ms blocks, as a live client sends it. */
    async function feedAll(session: Awaited<ReturnType<ReturnType<typeof nemotron>['openStream']>>, audio: Float32Array): Promise<AsrStreamUpdate[]> {
      const updates: AsrStreamUpdate[] = [];
      for (let offset = 0; offset < audio.length; offset += 1600) updates.push(await session.feed(audio.subarray(offset, offset + 1600)));
      updates.push(await session.finalize());
      return updates;
    }

    // "alpha bravo" (one utterance), a pause, then a short "charlie" (a backchannel).
    const live = bursts(4, [[0.16, 0.48], [0.64, 0.96], [2.0, 2.16]]);

    it('ABI 10: incremental text, words with times and confidences, end-of-utterance and backchannel events', async () => {
      counters10.reset();
      const backend = nemotron(v10);
      await backend.load();
      try {
        const session = await backend.openStream({ sampleRate: 16000, signal: new AbortController().signal });
        const updates = await feedAll(session, live);
        const transcript = updates.map((update) => update.text).join('');
        expect(transcript).toBe('alpha bravo charlie');
        // Partial text arrives while audio is still coming, not only at the end.
        const firstText = updates.findIndex((update) => update.text !== '');
        expect(firstText).toBeGreaterThanOrEqual(0);
        expect(firstText).toBeLessThan(updates.length - 1);
        const words = updates.flatMap((update) => update.words);
        expect(words.map((word) => [word.word, word.start, word.end])).toEqual([['alpha', 0.16, 0.48], ['bravo', 0.64, 0.96], ['charlie', 2.0, 2.16]]);
        for (const word of words) expect(word.confidence).toBeGreaterThan(0.5);
        const events = updates.flatMap((update) => update.events);
        expect(events).toEqual([{ type: 'end-of-utterance', time: 1.2 }, { type: 'backchannel', time: 2.4 }]);
        expect(JSON.stringify(updates)).not.toContain('<en-us>');
        await session.close();
        // Begun, fed, finalized and freed on the session's own thread.
        expect(counters10.streamThreadSwitches()).toBe(0);
        expect(counters10.streamRaces()).toBe(0);
      } finally {
        await backend.dispose();
      }
    });

    it('ABI 3: text and end-of-utterance flags through the plain feed (no words before ABI 4)', async () => {
      const backend = nemotron(v3);
      await backend.load();
      try {
        const session = await backend.openStream({ sampleRate: 16000, signal: new AbortController().signal });
        const updates = await feedAll(session, live);
        expect(updates.map((update) => update.text).join('')).toBe('alpha bravo charlie');
        expect(updates.flatMap((update) => update.words)).toEqual([]);
        // Before ABI 5 the flag does not tell an utterance from a backchannel.
        expect(updates.flatMap((update) => update.events)).toEqual([{ type: 'end-of-utterance' }, { type: 'end-of-utterance' }]);
        await session.close();
      } finally {
        await backend.dispose();
      }
    });

    it('other sample rates are resampled to 16 kHz; large blocks are fed in pieces', async () => {
      const backend = nemotron(v10);
      await backend.load();
      try {
        const session = await backend.openStream({ sampleRate: 24000, signal: new AbortController().signal });
        const whole = await session.feed(bursts(4, [[0.16, 0.48], [0.64, 0.96], [2.0, 2.16]], 24000));
        const last = await session.finalize();
        expect(whole.text + last.text).toBe('alpha bravo charlie');
        await session.close();
      } finally {
        await backend.dispose();
      }
    });

    it('a stream abandoned mid-way is freed at once, never used from two threads, and later calls reject', async () => {
      counters10.reset();
      const backend = nemotron(v10);
      await backend.load();
      try {
        const controller = new AbortController();
        const session = await backend.openStream({ sampleRate: 16000, signal: controller.signal });
        expect(counters10.liveStreams()).toBe(1);
        // Several feeds queued at once: they still run one at a time.
        const pending = [0, 1, 2, 3].map((index) => session.feed(live.subarray(index * 8000, (index + 1) * 8000)));
        await pending[1];
        controller.abort(); // the client went away
        const settled = await Promise.allSettled(pending);
        expect(settled.slice(0, 2).every((outcome) => outcome.status === 'fulfilled')).toBe(true);
        await session.close();
        expect(counters10.liveStreams()).toBe(0);
        const late = await caught(session.feed(live));
        expect(late.code).toBe('ABORTED');
        expect(counters10.streamRaces()).toBe(0);
        expect(counters10.streamThreadSwitches()).toBe(0);
        await session.close(); // idempotent
      } finally {
        await backend.dispose();
      }
      expect(counters10.liveStrings()).toBe(0);
      expect(counters10.badFrees()).toBe(0);
    });

    it('dispose closes open sessions before freeing the context', async () => {
      counters10.reset();
      const backend = nemotron(v10);
      await backend.load();
      const session = await backend.openStream({ sampleRate: 16000, signal: new AbortController().signal });
      await session.feed(live.subarray(0, 16000));
      await backend.dispose();
      expect(counters10.contextsFreedWithStreams()).toBe(0);
      expect(counters10.liveStreams()).toBe(0);
      expect((await caught(session.feed(live))).code).toBe('ABORTED');
    });

    it('a model that cannot stream says so (400), as does an unknown locale', async () => {
      const plain = createBackend({ dataDir: data.path, library: v10 });
      await plain.load();
      try {
        const plainStreaming = createBackend({ dataDir: data.path, library: v10, options: { streaming: true } });
        await plainStreaming.load();
        expect(plainStreaming.capabilities.streaming).toBe(true);
        const error = await caught(plainStreaming.openStream({ sampleRate: 16000, signal: new AbortController().signal }));
        await plainStreaming.dispose();
        expect(error.code).toBe('UNSUPPORTED_CAPABILITY');
        expect(error.message).toContain('not a cache-aware streaming model');
        // The library's answer corrects what the configuration claimed.
        expect(plainStreaming.capabilities.streaming).toBe(false);
        expect(plain.capabilities.streaming).toBe(false);
      } finally {
        await plain.dispose();
      }
      const backend = nemotron(v10);
      await backend.load();
      try {
        const error = await caught(backend.openStream({ sampleRate: 16000, language: 'xx-nonexistent', signal: new AbortController().signal }));
        expect(error.status).toBe(400);
        expect(error.param).toBe('language');
        const german = await backend.openStream({ sampleRate: 16000, language: 'de', signal: new AbortController().signal });
        const updates = await feedAll(german, live);
        expect(updates.map((update) => update.text).join('')).toBe('alpha bravo charlie');
        await german.close();
      } finally {
        await backend.dispose();
      }
    });
  });

  describe('the library is missing', () => {
    const saved = process.env.TALKIES_PARAKEET_LIB;
    afterAll(() => {
      if (saved === undefined) delete process.env.TALKIES_PARAKEET_LIB;
      else process.env.TALKIES_PARAKEET_LIB = saved;
    });

    it('TALKIES_PARAKEET_LIB naming no file: 503 naming it and how to build the library', async () => {
      process.env.TALKIES_PARAKEET_LIB = join(data.path, 'nowhere', 'libparakeet.so');
      const backend = createBackend({ dataDir: data.path, library: v10, options: { library: undefined } });
      const error = await caught(backend.load());
      expect(error.code).toBe('MODEL_UNAVAILABLE');
      expect(error.status).toBe(503);
      expect(error.message).toContain(`${join(data.path, 'nowhere', 'libparakeet.so')} (TALKIES_PARAKEET_LIB): no such file`);
      expect(error.message).toContain('build-libparakeet.sh');
    });

    it('nothing configured: it looked beside the package and on the loader path', async () => {
      delete process.env.TALKIES_PARAKEET_LIB;
      const backend = createBackend({ dataDir: data.path, library: v10, options: { library: undefined } });
      const error = await caught(backend.load());
      expect(error.status).toBe(503);
      expect(error.message).toMatch(/lib\/libparakeet\.so \(beside the package\): no such file/);
      expect(error.message).toContain('libparakeet.so on the system loader path');
      expect(error.message).toContain('TALKIES_PARAKEET_LIB');
    });
  });
});

describe.skipIf(!hasCompiler)('conformance (stand-in library, ABI 10)', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  beforeAll(async () => {
    data = await temporaryDirectory('parakeet-conformance-');
    await writeStandInModel(join(data.path, 'models', 'nemotron'), 'nemotron-streaming-q8_0.gguf', { nemotron: true, streaming: true });
  });
  afterAll(() => data?.remove());
  describeBackendConformance('engine-parakeet-cpp', {
    create: () => createBackend({ modelId: 'nemotron', dataDir: data.path, library: standInLibrary({ abi: 10 }), file: 'nemotron-streaming-q8_0.gguf' }),
    audio: () => bursts(3, SPEECH),
  });
});
