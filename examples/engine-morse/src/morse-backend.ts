/**
 * The Morse backend: one model (a morse.onnx tone renderer and its config.json). The text
 * is turned into a timing plan here; the model renders the plan as audio.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SpeechError, type SpeechAudio, type SynthesizeRequest, type SynthesizeResult, type TtsBackend, type VoiceInfo } from '@talkies/core';
import type { InferenceSession } from 'onnxruntime-node';
import type { MorseContext } from './index.js';
import { CONFIG_FILE, MODEL_FILE, MODEL_FILES, modelConfigSchema } from './model-files.js';
import { planMorse, splitAtWords, unitSeconds, type MorseElement } from './morse-code.js';

/** The voices: tone pitches in Hz. Whole numbers, which the graph relies on (see testing/morse-graph.ts). */
export const VOICES: Readonly<Record<string, number>> = { low: 500, mid: 700, high: 900 };
const DEFAULT_VOICE = 'mid';

/** Longest audio one request may produce: bounds memory whatever the text and speed. */
export const MAX_SECONDS = 600;
/** synthesizeStream() yields a block at the first word gap after this many seconds. */
const STREAM_BLOCK_SECONDS = 2;

type Download = (context: MorseContext, options: { signal?: AbortSignal }) => Promise<unknown>;

interface Loaded {
  ort: typeof import('onnxruntime-node');
  session: InferenceSession;
  sampleRate: number;
}

export function createMorseBackend(context: MorseContext, download: Download): TtsBackend {
  const { modelId } = context;
  const errorOptions = { executor: 'morse', model: modelId };
  let loaded: Loaded | undefined;
  const defaultVoice = context.entry.default_voice ?? DEFAULT_VOICE;

  const aborted = (signal: AbortSignal) =>
    new SpeechError('ABORTED', `speech for model '${modelId}' was cancelled`, { ...errorOptions, cause: signal.reason });

  function checkVoice(voice: string): number {
    const frequency = Object.hasOwn(VOICES, voice) ? VOICES[voice] : undefined;
    if (frequency === undefined) {
      throw new SpeechError('INVALID_REQUEST', `unknown voice '${voice}' for model '${modelId}'; available voices: ${Object.keys(VOICES).join(', ')}`, {
        ...errorOptions,
        param: 'voice',
      });
    }
    return frequency;
  }

  /** Checks the request and plans it: the elements and the samples per unit. */
  function plan(request: SynthesizeRequest, model: Loaded) {
    const frequency = checkVoice(request.voice);
    const { elements, units, unsupported } = planMorse(request.text);
    if (elements.length === 0) {
      throw new SpeechError('INVALID_REQUEST', 'input has no letters, digits or punctuation that Morse code can send', { ...errorOptions, param: 'input' });
    }
    const wordsPerMinute = context.fields.words_per_minute * request.speed;
    const samplesPerUnit = Math.round(unitSeconds(wordsPerMinute) * model.sampleRate);
    const seconds = (units * samplesPerUnit) / model.sampleRate;
    if (seconds > MAX_SECONDS) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `input would take ${Math.round(seconds)} s of Morse code at ${wordsPerMinute} words per minute, over the ${MAX_SECONDS} s limit; split it or raise speed`,
        { ...errorOptions, param: 'input' },
      );
    }
    const warnings = unsupported.length > 0 ? [`Morse code has no signs for ${unsupported.slice(0, 10).map((character) => JSON.stringify(character)).join(' ')}; they were left out`] : [];
    return { frequency, elements, samplesPerUnit, warnings };
  }

  async function render(model: Loaded, elements: readonly MorseElement[], samplesPerUnit: number, frequency: number, signal: AbortSignal): Promise<Float32Array> {
    if (signal.aborted) throw aborted(signal);
    const { ort, session } = model;
    const feeds = {
      tone: new ort.Tensor('float32', Float32Array.from(elements, (element) => (element.tone ? 1 : 0)), [elements.length]),
      duration: new ort.Tensor('int64', BigInt64Array.from(elements, (element) => BigInt(element.units * samplesPerUnit)), [elements.length]),
      frequency: new ort.Tensor('float32', Float32Array.of(frequency), [1]),
    };
    let output;
    try {
      // onnxruntime runs the graph on its own threads: the event loop stays free.
      output = await session.run(feeds);
    } catch (error) {
      throw new SpeechError('INFERENCE_FAILED', `model '${modelId}' failed to render: ${(error as Error).message}`, { ...errorOptions, cause: error });
    }
    if (signal.aborted) throw aborted(signal);
    return output.waveform!.data as Float32Array;
  }

  function ready(): Loaded {
    if (!loaded) throw new SpeechError('INTERNAL', `model '${modelId}' used before load()`, errorOptions);
    return loaded;
  }

  return {
    specificationVersion: 'v1',
    modality: 'tts',
    capabilities: { streaming: true, languages: ['en'], instructions: false },
    defaultVoice,
    defaultConcurrency: 2,

    // The catalog is fixed: it needs no file, so it answers before load().
    async voices(): Promise<VoiceInfo[]> {
      return Object.entries(VOICES).map(([id, frequency]) => ({ id, name: `${id} tone (${frequency} Hz)`, language: 'en', origin: 'builtin' }));
    },

    async validateVoice(voice) {
      checkVoice(voice);
    },

    async load() {
      if (!Object.hasOwn(VOICES, defaultVoice)) {
        throw new SpeechError('MODEL_LOAD_FAILED', `default_voice '${defaultVoice}' of model '${modelId}' is not a Morse voice; set it in models.json to one of: ${Object.keys(VOICES).join(', ')}`, errorOptions);
      }
      const directory = context.paths.modelDir;
      // A model that was never pulled is fetched on first use, like `talkies pull` would.
      try {
        await Promise.all(MODEL_FILES.map((file) => access(join(directory, file))));
      } catch {
        await download(context, { signal: context.signal });
      }
      let config;
      try {
        config = modelConfigSchema.parse(JSON.parse(await readFile(join(directory, CONFIG_FILE), 'utf8')));
      } catch (error) {
        throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}': ${CONFIG_FILE} in ${directory} is not a Morse model config (${(error as Error).message}); pull the model again`, {
          ...errorOptions,
          cause: error,
        });
      }
      // onnxruntime-node maps a large native library: only a model in use pays for it.
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(join(directory, MODEL_FILE), {
        intraOpNumThreads: context.options.threads,
        interOpNumThreads: 1,
      });
      loaded = { ort, session, sampleRate: config.sample_rate };
    },

    async dispose() {
      const model = loaded;
      loaded = undefined;
      await model?.session.release();
    },

    async synthesize(request): Promise<SynthesizeResult> {
      const model = ready();
      if (request.signal.aborted) throw aborted(request.signal);
      const { frequency, elements, samplesPerUnit, warnings } = plan(request, model);
      const samples = await render(model, elements, samplesPerUnit, frequency, request.signal);
      return { samples, sampleRate: model.sampleRate, warnings };
    },

    async *synthesizeStream(request): AsyncIterable<SpeechAudio> {
      const model = ready();
      if (request.signal.aborted) throw aborted(request.signal);
      const { frequency, elements, samplesPerUnit } = plan(request, model);
      const unitsPerBlock = Math.ceil((STREAM_BLOCK_SECONDS * model.sampleRate) / samplesPerUnit);
      for (const piece of splitAtWords(elements, unitsPerBlock)) {
        yield { samples: await render(model, piece, samplesPerUnit, frequency, request.signal), sampleRate: model.sampleRate };
      }
    },
  };
}
