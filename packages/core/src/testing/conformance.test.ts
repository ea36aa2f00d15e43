/**
 * Runs the conformance suite that engines use against minimal, correct fake backends, so
 * a change to the suite that no correct backend can pass shows up here first.
 */
import type { AsrBackend, AsrStreamSession, TranscribeRequest, TtsBackend, SynthesizeRequest } from '../backend.js';
import { SpeechError } from '../speech-error.js';
import { describe, expect, it } from 'vitest';
import { backendConformanceChecks, describeBackendConformance, type ConformanceOptions } from './index.js';

function fakeAsr(): AsrBackend {
  let loaded = false;
  return {
    specificationVersion: 'v1',
    modality: 'asr',
    capabilities: {
      wordTimestamps: true,
      segmentTimestamps: true,
      streaming: false,
      translation: false,
      languages: ['en'],
      longForm: true,
    },
    async load() {
      loaded = true;
    },
    async dispose() {
      loaded = false;
    },
    async transcribe(request: TranscribeRequest) {
      if (!loaded) throw new SpeechError('INTERNAL', 'not loaded');
      if (request.signal.aborted) throw new SpeechError('ABORTED', 'request aborted');
      const duration = request.audio.length / request.sampleRate;
      return {
        text: 'hello',
        duration,
        segments: [{ id: 0, start: 0, end: duration, text: ' hello' }],
        words: [{ word: ' hello', start: 0, end: duration }],
      };
    },
  };
}

/** A streaming fake: one word per fed block, an end-of-utterance event on finalize. */
function fakeStreamingAsr(): AsrBackend {
  const base = fakeAsr();
  return {
    ...base,
    capabilities: { ...base.capabilities, streaming: true },
    async openStream(options): Promise<AsrStreamSession> {
      let state: 'open' | 'finalized' | 'closed' = 'open';
      let seconds = 0;
      const check = () => {
        if (state !== 'open' || options.signal.aborted) throw new SpeechError('ABORTED', `the stream is ${state}`);
      };
      return {
        async feed(audio) {
          check();
          const start = seconds;
          seconds += audio.length / options.sampleRate;
          return { text: ' word', words: [{ word: 'word', start, end: seconds }], events: [] };
        },
        async finalize() {
          check();
          state = 'finalized';
          return { text: '', words: [], events: [{ type: 'end-of-utterance', time: seconds }] };
        },
        async close() {
          state = 'closed';
        },
      };
    },
  };
}

/** A batching fake: transcribeBatch runs the pieces together, each with its own signal. */
function fakeBatchingAsr(maxBatchSize = 2): AsrBackend {
  const base = fakeAsr();
  return {
    ...base,
    capabilities: { ...base.capabilities, maxBatchSize },
    transcribeBatch(requests) {
      return requests.map((request) => base.transcribe(request));
    },
  };
}

function fakeTts(): TtsBackend {
  return {
    specificationVersion: 'v1',
    modality: 'tts',
    capabilities: { streaming: false, languages: 'any', instructions: false },
    defaultVoice: 'alloy',
    async load() {},
    async dispose() {},
    async voices() {
      return [{ id: 'alloy', name: 'Alloy', language: 'en', origin: 'builtin' }];
    },
    async synthesize(request: SynthesizeRequest) {
      checkRequest(request);
      return { samples: new Float32Array(24000), sampleRate: 24000 };
    },
    async *synthesizeStream(request: SynthesizeRequest) {
      for (const sentence of request.text.split('. ')) {
        checkRequest(request);
        yield { samples: new Float32Array(2400 * sentence.length), sampleRate: 24000 };
      }
    },
  };
}

function checkRequest(request: SynthesizeRequest): void {
  if (request.signal.aborted) throw new SpeechError('ABORTED', 'request aborted');
  if (request.voice !== 'alloy') {
    throw new SpeechError('INVALID_REQUEST', `unknown voice '${request.voice}'; available: alloy`, { param: 'voice' });
  }
}

describeBackendConformance('fake ASR', { create: fakeAsr, audio: () => new Float32Array(16000) });
describeBackendConformance('fake streaming ASR', { create: fakeStreamingAsr, audio: () => new Float32Array(16000) });
describeBackendConformance('fake batching ASR', { create: () => fakeBatchingAsr(3), audio: () => new Float32Array(16000) });
describeBackendConformance('fake TTS', { create: fakeTts });

/**
 * The suite must fail a backend that breaks the contract: each broken backend below
 * breaks one rule, and the check named for that rule has to reject.
 */
describe('the conformance suite catches broken backends', () => {
  const silence = () => new Float32Array(16000);
  async function failing(options: ConformanceOptions): Promise<string[]> {
    const failed: string[] = [];
    for (const check of backendConformanceChecks(options)) {
      try {
        await check.run();
      } catch {
        failed.push(check.name);
      }
    }
    return failed;
  }

  it('passes the correct fakes', async () => {
    expect(await failing({ create: fakeAsr, audio: silence })).toEqual([]);
    expect(await failing({ create: fakeTts })).toEqual([]);
  });

  it('fails a backend of another contract version', async () => {
    const create = () => ({ ...fakeAsr(), specificationVersion: 'v2' }) as unknown as AsrBackend;
    expect(await failing({ create, audio: silence })).toEqual(['declares the contract version, modality and capabilities as data']);
  });

  it('fails an ASR backend that ignores an aborted signal, or rejects with something other than ABORTED', async () => {
    const ignoring = (): AsrBackend => {
      const base = fakeAsr();
      return { ...base, transcribe: (request) => base.transcribe({ ...request, signal: new AbortController().signal }) };
    };
    const domException = (): AsrBackend => {
      const base = fakeAsr();
      return {
        ...base,
        async transcribe(request) {
          request.signal.throwIfAborted();
          return base.transcribe(request);
        },
      };
    };
    const name = 'does its job after load and rejects an aborted request with ABORTED';
    expect(await failing({ create: ignoring, audio: silence })).toEqual([name]);
    expect(await failing({ create: domException, audio: silence })).toEqual([name]);
  });

  it('fails a batching backend whose results are not those of single calls, that aborts them all, or that declares half of it', async () => {
    const name = 'transcribes a batch as it transcribes each piece alone, when it declares batching';
    const reversed = (): AsrBackend => {
      const base = fakeBatchingAsr();
      return { ...base, transcribeBatch: (requests) => base.transcribeBatch!([...requests].reverse()) };
    };
    const abortsAll = (): AsrBackend => {
      const base = fakeBatchingAsr();
      return {
        ...base,
        transcribeBatch: (requests) => {
          const signal = requests.find((request) => request.signal.aborted)?.signal;
          return base.transcribeBatch!(signal ? requests.map((request) => ({ ...request, signal })) : requests);
        },
      };
    };
    const undeclared = (): AsrBackend => ({ ...fakeBatchingAsr(), capabilities: fakeAsr().capabilities });
    const methodless = (): AsrBackend => ({ ...fakeAsr(), capabilities: { ...fakeAsr().capabilities, maxBatchSize: 4 } });
    const fractional = (): AsrBackend => fakeBatchingAsr(2.5);
    expect(await failing({ create: () => fakeBatchingAsr(), audio: silence })).toEqual([]);
    for (const create of [reversed, abortsAll, undeclared, methodless, fractional]) {
      expect(await failing({ create, audio: () => new Float32Array(16000 + 1234) }), create.name).toEqual([name]);
    }
  });

  it('fails a TTS backend whose voices need load()', async () => {
    const create = (): TtsBackend => {
      let loaded = false;
      const base = fakeTts();
      return {
        ...base,
        async load() {
          loaded = true;
        },
        async voices() {
          if (!loaded) throw new SpeechError('MODEL_UNAVAILABLE', 'voices are read at load');
          return base.voices();
        },
      };
    };
    expect(await failing({ create })).toEqual(['answers metadata and voices before load()']);
  });

  it('fails a TTS backend that speaks any voice it is given', async () => {
    const create = (): TtsBackend => {
      const base = fakeTts();
      return { ...base, synthesize: (request) => base.synthesize({ ...request, voice: 'alloy' }) };
    };
    expect(await failing({ create })).toEqual(['does its job after load and rejects an aborted request with ABORTED']);
  });

  it('fails a speech stream that goes on after its signal aborted', async () => {
    const create = (): TtsBackend => {
      const base = fakeTts();
      return {
        ...base,
        async *synthesizeStream(request: SynthesizeRequest) {
          checkRequest({ ...request, signal: new AbortController().signal });
          for (let index = 0; index < 20; index++) yield { samples: new Float32Array(2400), sampleRate: 24000 };
        },
      };
    };
    expect(await failing({ create })).toEqual(['streams speech when it offers synthesizeStream, and stops on abort']);
  });
});
