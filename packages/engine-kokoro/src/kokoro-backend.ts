import {
  collectSpeech,
  SpeechError,
  type EngineContext,
  type SpeechAudio,
  type SynthesizeRequest,
  type SynthesizeResult,
  type TtsBackend,
  type TtsCapabilities,
  type VoiceInfo,
} from '@talkies/core';
import type { KokoroOptions } from './kokoro-options.js';
import type { KokoroRuntime } from './kokoro-runtime.js';
import { KOKORO_LANGUAGE_CODES, languageChoices, languageFromRequest, languageOfVoice, type KokoroLanguage } from './languages.js';
import { downloadKokoro, missingFiles } from './model-download.js';
import { modelFiles, type LayoutName, type ModelFiles } from './model-layout.js';
import { PUBLISHED_VOICES } from './published-voices.js';
import { parseVoice } from './voice-blend.js';

const SAMPLE_RATE = 24000;
const DEFAULT_VOICE = 'af_heart';
/** Voices listed in an error message before "…". */
const VOICES_SHOWN = 45;

/** What a request resolved to: the loaded model, the G2P language and the (blended) style table. */
interface PreparedRequest {
  runtime: KokoroRuntime;
  language: KokoroLanguage;
  table: Float32Array;
}

type Pipeline = typeof import('./synthesis-pipeline.js');

function aborted(): SpeechError {
  return new SpeechError('ABORTED', 'synthesis was stopped because the request was aborted');
}

/**
 * The backend for one Kokoro model entry. Creating it reads nothing; `voices()` reads the
 * snapshot's voice list (the published catalog until the snapshot is downloaded); `load()` starts the inference worker (which loads
 * onnxruntime-node) and the espeak-ng process of the default voice's language.
 */
export class KokoroBackend implements TtsBackend {
  readonly specificationVersion = 'v1';
  readonly modality = 'tts';
  readonly capabilities: TtsCapabilities = { streaming: true, languages: [...KOKORO_LANGUAGE_CODES], instructions: false };
  /** Two streams interleave sentence by sentence in the one inference worker. */
  readonly defaultConcurrency = 2;
  readonly defaultVoice: string;
  readonly layout: LayoutName;
  readonly #context: EngineContext<KokoroOptions>;
  readonly #files: ModelFiles;
  #names?: Promise<string[]>;
  #runtime?: KokoroRuntime;
  #pipeline?: Pipeline;

  constructor(context: EngineContext<KokoroOptions>) {
    this.#context = context;
    const options = context.options ?? {};
    this.layout = options.layout ?? (context.entry.executor === 'kokoro_nvidia' ? 'nvidia' : 'onnx-community');
    this.defaultVoice = context.entry.default_voice ?? DEFAULT_VOICE;
    this.#files = modelFiles(context.modelId, context.paths.modelDir, context.entry.repo, {
      layout: this.layout,
      model: options.model,
      dtype: options.dtype,
    });
  }

  /** Model calls made by the loaded model (0 when not loaded); for tests and diagnostics. */
  get inferenceCount(): number {
    return this.#runtime?.inferenceCount ?? 0;
  }

  /**
   * The catalog voices of the snapshot: every voice with an espeak-ng language (no ja, no
   * zh). Before the snapshot is downloaded, the catalog Kokoro v1.0 publishes.
   */
  #catalogNames(): Promise<string[]> {
    this.#names ??= this.#files.voiceNames().then(
      (names) => names.filter((name) => languageOfVoice(name) !== undefined),
      (error: unknown) => {
        if (!SpeechError.is(error) || error.code !== 'MODEL_UNAVAILABLE') throw error;
        // Not cached: once load() fetches the files, their own list answers.
        this.#names = undefined;
        return [...PUBLISHED_VOICES];
      },
    );
    this.#names.catch(() => {
      this.#names = undefined;
    });
    return this.#names;
  }

  async load(): Promise<void> {
    await this.#downloadIfMissing();
    const [{ KokoroRuntime }, pipeline] = await Promise.all([import('./kokoro-runtime.js'), import('./synthesis-pipeline.js')]);
    const names = await this.#catalogNames();
    if (!names.includes(this.defaultVoice)) {
      throw new SpeechError(
        'MODEL_LOAD_FAILED',
        `default_voice '${this.defaultVoice}' of model '${this.#context.modelId}' is not in its voice catalog; set it in models.json to one of: ${names.slice(0, VOICES_SHOWN).join(', ')}`,
        { model: this.#context.modelId, param: 'voice' },
      );
    }
    const runtime = await KokoroRuntime.open(this.#files, this.#context.options ?? {}, {
      modelId: this.#context.modelId,
      logger: this.#context.logger,
      warmEspeakVoices: [languageOfVoice(this.defaultVoice)!.espeakVoice],
    });
    this.#pipeline = pipeline;
    this.#runtime = runtime;
  }

  /** Missing files come from the hub first (like `talkies pull`), unless `engineOptions.download` is false. */
  async #downloadIfMissing(): Promise<void> {
    const context = this.#context;
    const options = context.options ?? {};
    const missing = await missingFiles(context.paths.modelDir, context.entry, options);
    if (missing.length === 0) return;
    if (options.download === false) {
      throw new SpeechError(
        'MODEL_UNAVAILABLE',
        `model '${context.modelId}' is not on disk (missing in ${context.paths.modelDir}: ${missing.join(', ')}) and downloads are off for it; put the files of ${context.entry.repo} there, or set engineOptions.download to true`,
        { executor: context.entry.executor, model: context.modelId },
      );
    }
    await downloadKokoro(context);
    this.#names = undefined;
  }

  async dispose(): Promise<void> {
    const runtime = this.#runtime;
    this.#runtime = undefined;
    this.#names = undefined;
    await runtime?.close();
  }

  async voices(): Promise<VoiceInfo[]> {
    return (await this.#catalogNames()).map((id) => ({ id, language: languageOfVoice(id)!.tag, origin: 'builtin' as const }));
  }

  /** Accepts catalog voices and blends of them (`af_bella+af_sky`, `af_bella(2)+af_sky(1)`). */
  async validateVoice(voice: string): Promise<void> {
    const components = parseVoice(voice, this.#context.modelId);
    const names = await this.#catalogNames();
    const unknown = components.filter((component) => !names.includes(component.name)).map((component) => component.name);
    if (unknown.length > 0) {
      const shown = names.slice(0, VOICES_SHOWN).join(', ') + (names.length > VOICES_SHOWN ? `, … (${names.length} in all: GET /v1/audio/voices)` : '');
      throw new SpeechError(
        'INVALID_REQUEST',
        `unknown voice${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => `'${name}'`).join(', ')} for model '${this.#context.modelId}'; available voices: ${shown}. Blend voices with '+', e.g. af_bella+af_sky or af_bella(2)+af_sky(1)`,
        { param: 'voice', model: this.#context.modelId },
      );
    }
  }

  async #prepare(request: SynthesizeRequest): Promise<PreparedRequest> {
    if (request.signal.aborted) throw aborted();
    if (!Number.isFinite(request.speed) || request.speed <= 0) {
      throw new SpeechError('INVALID_REQUEST', `speed must be a positive number (0.25 to 4.0), got ${request.speed}`, { param: 'speed' });
    }
    if (request.text.trim() === '') throw new SpeechError('INVALID_REQUEST', 'input text is empty', { param: 'input' });
    await this.validateVoice(request.voice);
    const runtime = this.#runtime;
    if (!runtime) throw new SpeechError('INTERNAL', `model '${this.#context.modelId}' was asked to speak before it was loaded`);
    const components = parseVoice(request.voice, this.#context.modelId);
    let language = languageOfVoice(components[0]!.name)!;
    if (request.language) {
      const requested = languageFromRequest(request.language);
      if (!requested) {
        throw new SpeechError(
          'INVALID_REQUEST',
          `language '${request.language}' is not one Kokoro speaks; use one of ${languageChoices()} (or omit it: the voice decides)`,
          { param: 'language' },
        );
      }
      language = requested;
    }
    if (request.instructions?.trim()) {
      this.#context.logger.warn({ voice: request.voice }, 'instructions were ignored: Kokoro takes no style instructions');
    }
    const tables = await Promise.all(components.map((component) => runtime.voiceTable(component.name)));
    const table = this.#pipeline!.blendTables(tables, components.map((component) => component.weight));
    return { runtime, language, table };
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizeResult> {
    const { samples } = await collectSpeech(this.synthesizeStream(request), SAMPLE_RATE);
    const warnings = request.instructions?.trim() ? ['instructions are ignored by Kokoro'] : undefined;
    return warnings ? { samples, sampleRate: SAMPLE_RATE, warnings } : { samples, sampleRate: SAMPLE_RATE };
  }

  /**
   * Speaks sentence by sentence; a sentence longer than the model takes is cut at clause
   * boundaries. While one piece is synthesised, the next sentence is phonemised and its
   * first piece queued, so the stream has no gaps; leaving the loop early cancels both.
   */
  async *synthesizeStream(request: SynthesizeRequest): AsyncGenerator<SpeechAudio, void, undefined> {
    const prepared = await this.#prepare(request);
    const pipeline = this.#pipeline!;
    yield* pipeline.synthesizePieces({
      text: request.text,
      language: prepared.language,
      table: prepared.table,
      speed: request.speed,
      runtime: prepared.runtime,
      signal: request.signal,
      modelId: this.#context.modelId,
    });
  }
}
