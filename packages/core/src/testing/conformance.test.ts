/**
 * Runs the conformance suite that engines use against minimal, correct fake backends, so
 * a change to the suite that no correct backend can pass shows up here first.
 */
import type { AsrBackend, AsrStreamSession, TranscribeRequest, TtsBackend, SynthesizeRequest } from '../backend.js';
import { SpeechError } from '../speech-error.js';
import { describeBackendConformance } from './index.js';

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
      request.signal.throwIfAborted();
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
      request.signal.throwIfAborted();
      if (request.voice !== 'alloy') {
        throw new SpeechError('INVALID_REQUEST', `unknown voice '${request.voice}'; available: alloy`, { param: 'voice' });
      }
      return { samples: new Float32Array(24000), sampleRate: 24000 };
    },
  };
}

describeBackendConformance('fake ASR', { create: fakeAsr, audio: () => new Float32Array(16000) });
describeBackendConformance('fake streaming ASR', { create: fakeStreamingAsr, audio: () => new Float32Array(16000) });
describeBackendConformance('fake TTS', { create: fakeTts });
