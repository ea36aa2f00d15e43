import { availableParallelism } from 'node:os';
import {
  SpeechError,
  type EngineContext,
  type SpeechAudio,
  type SynthesizeRequest,
  type SynthesizeResult,
  type TtsBackend,
  type TtsCapabilities,
  type VoiceInfo,
} from '@talkies/core';
import type { EspeakProgram } from './espeak-program.js';
import { abortedError } from './espeak-errors.js';
import { splitSentences } from './split-sentences.js';

/** One espeak-ng process per request: cheap, so let more of them run than there are cores. */
const CONCURRENCY_PER_CORE = 2;

/**
 * The backend for one espeak model entry. Constructing it costs nothing; the part that
 * spawns espeak-ng and decodes audio is imported on first use.
 */
export class EspeakBackend implements TtsBackend {
  readonly specificationVersion = 'v1';
  readonly modality = 'tts';
  readonly capabilities: TtsCapabilities = { streaming: true, languages: 'any', instructions: false };
  readonly defaultConcurrency = availableParallelism() * CONCURRENCY_PER_CORE;
  readonly defaultVoice: string;
  readonly #context: EngineContext;
  #program?: Promise<EspeakProgram>;

  constructor(context: EngineContext) {
    this.#context = context;
    this.defaultVoice = context.entry.default_voice ?? 'en-us';
  }

  #loadProgram(): Promise<EspeakProgram> {
    this.#program ??= import('./espeak-program.js').then(({ EspeakProgram }) => new EspeakProgram());
    return this.#program;
  }

  async load(): Promise<void> {
    const program = await this.#loadProgram();
    const version = await program.version();
    const catalog = await program.catalog();
    if (catalog.resolve(this.defaultVoice) === undefined) {
      throw new SpeechError(
        'MODEL_LOAD_FAILED',
        `default_voice '${this.defaultVoice}' of model '${this.#context.modelId}' is not an espeak-ng voice; set it in models.json to one of: ${catalog.suggestions()}`,
        { executor: 'espeak', model: this.#context.modelId, param: 'voice' },
      );
    }
    this.#context.logger.debug({ version }, 'espeak-ng is ready');
  }

  async dispose(): Promise<void> {
    // No native state: forgetting the cached voice catalog is all there is to release.
    this.#program = undefined;
  }

  async voices(): Promise<VoiceInfo[]> {
    return (await (await this.#loadProgram()).catalog()).list();
  }

  /** Accepts catalog voices, OpenAI aliases and `voice+variant` forms the catalog does not list. */
  async validateVoice(voice: string): Promise<void> {
    const catalog = await (await this.#loadProgram()).catalog();
    if (catalog.resolve(voice) === undefined) throw this.#unknownVoice(voice, catalog.suggestions());
  }

  #unknownVoice(voice: string, suggestions: string): SpeechError {
    return new SpeechError(
      'INVALID_REQUEST',
      `unknown voice '${voice}' for model '${this.#context.modelId}'; available voices: ${suggestions}`,
      { param: 'voice', executor: 'espeak', model: this.#context.modelId },
    );
  }

  /** Checks a request and finds the espeak-ng `-v` argument for its voice. */
  async #prepare(request: SynthesizeRequest): Promise<{ program: EspeakProgram; voice: string }> {
    if (request.signal.aborted) throw abortedError();
    if (!Number.isFinite(request.speed) || request.speed <= 0) {
      throw new SpeechError('INVALID_REQUEST', `speed must be a positive number (0.25 to 4.0), got ${request.speed}`, { param: 'speed' });
    }
    if (request.text.trim() === '') throw new SpeechError('INVALID_REQUEST', 'input text is empty', { param: 'input' });
    const program = await this.#loadProgram();
    const catalog = await program.catalog();
    const voice = catalog.resolve(request.voice);
    if (voice === undefined) throw this.#unknownVoice(request.voice, catalog.suggestions());
    return { program, voice };
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizeResult> {
    const { program, voice } = await this.#prepare(request);
    const audio = await program.speak(request.text, voice, request.speed, request.signal);
    const warnings = request.instructions?.trim() ? ['instructions are ignored by espeak-ng'] : undefined;
    return warnings ? { ...audio, warnings } : audio;
  }

  /**
   * Speaks sentence by sentence. The next sentence is synthesised while the current one is
   * consumed, so there is no gap for the client while espeak-ng starts.
   */
  async *synthesizeStream(request: SynthesizeRequest): AsyncGenerator<SpeechAudio, void, undefined> {
    const { program, voice } = await this.#prepare(request);
    const sentences = splitSentences(request.text);
    // Stops the sentence being prepared ahead when the consumer leaves early. One sentence
    // has nothing prepared ahead: it needs neither (an abort builds a DOMException with its
    // stack, a cost every one-sentence request would pay).
    const controller = sentences.length > 1 ? new AbortController() : undefined;
    const signal = controller ? AbortSignal.any([request.signal, controller.signal]) : request.signal;
    const speak = (sentence: string) => program.speak(sentence, voice, request.speed, signal);
    let next: Promise<SpeechAudio> | undefined = sentences.length > 0 ? speak(sentences[0]) : undefined;
    try {
      for (let index = 0; next !== undefined; index++) {
        const audio = await next;
        // Start the next sentence on the next turn of the event loop, so that this one is
        // handed over (encoded, written to the client) before a process start competes with it.
        const following = sentences[index + 1];
        next =
          following === undefined
            ? undefined
            : new Promise<SpeechAudio>((resolve, reject) => setImmediate(() => speak(following).then(resolve, reject)));
        next?.catch(() => undefined);
        if (request.signal.aborted) throw abortedError();
        if (audio.samples.length > 0) yield audio;
      }
    } finally {
      if (next !== undefined) {
        controller?.abort();
        // The prepared sentence fails with ABORTED now; nobody is waiting for it.
        next.catch(() => {});
      }
    }
  }
}
