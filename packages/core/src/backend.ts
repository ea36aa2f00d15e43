/**
 * The Backend contract, version 1.
 *
 * A backend is one loaded (or loadable) model. Engines create backends; only the eviction
 * pool calls {@link BackendBase.load} and {@link BackendBase.dispose}. The server never
 * looks at an engine's name: it routes on {@link BackendBase.modality} and on the
 * capabilities declared here as data.
 *
 * The contract changes only in a major release of `@talkies/core`; a new version gets a
 * new `specificationVersion` literal.
 */
import type { TranscriptionResult } from './transcription-result.js';

/** What an ASR backend can do. The server decides routing from these values alone. */
export interface AsrCapabilities {
  /** Word-level timestamps are produced when `timestamps` is requested. */
  wordTimestamps: boolean;
  /** Segment-level timestamps are produced when `timestamps` is requested. */
  segmentTimestamps: boolean;
  /** The backend can emit partial results while audio streams in. */
  streaming: boolean;
  /** The backend can translate speech to English (`task: 'translate'`). */
  translation: boolean;
  /** ISO 639-1 codes the model understands, or `'any'`. */
  languages: readonly string[] | 'any';
  /**
   * The backend handles audio of any length itself. When false, core's VAD chunker cuts
   * long audio into pieces before calling {@link AsrBackend.transcribe}.
   */
  longForm: boolean;
}

/** What a TTS backend can do. */
export interface TtsCapabilities {
  /** {@link TtsBackend.synthesizeStream} yields audio before the whole text is spoken. */
  streaming: boolean;
  /** Languages the voices cover (ISO 639-1), or `'any'`. */
  languages: readonly string[] | 'any';
  /** `instructions` changes the output (false: accepted, ignored, warned about). */
  instructions: boolean;
}

/** Input to {@link AsrBackend.transcribe}. */
export interface TranscribeRequest {
  /** Mono PCM, float32 in [-1, 1]. */
  audio: Float32Array;
  /** Always 16000 today; backends should still read it rather than assume. */
  sampleRate: number;
  /** Source-language hint (ISO 639-1); undefined asks the model to detect it. */
  language?: string;
  /** `transcribe` keeps the spoken language; `translate` produces English. */
  task: 'transcribe' | 'translate';
  /** Whether segment and word timestamps are wanted (false lets engines skip work). */
  timestamps: boolean;
  /** Previous-context prompt, for engines that support one. */
  prompt?: string;
  /** Sampling temperature, for engines that support one. */
  temperature?: number;
  /** Aborted when the client goes away; engines should stop as soon as they can. */
  signal: AbortSignal;
}

/** A block of synthesised audio: mono float32 PCM in [-1, 1]. */
export interface SpeechAudio {
  samples: Float32Array;
  sampleRate: number;
}

/** Input to {@link TtsBackend.synthesize}. */
export interface SynthesizeRequest {
  text: string;
  /** A voice id from {@link TtsBackend.voices}; the pool fills in the default. */
  voice: string;
  /** Playback rate, 0.25 to 4.0, 1 is normal. */
  speed: number;
  /** Language hint for multilingual voices. */
  language?: string;
  /** Free-text style instructions (ignored by engines whose capability says so). */
  instructions?: string;
  /**
   * The request's fields beyond the OpenAI speech request, as the client sent them (for
   * example Qwen3-TTS's sampling fields, sent through `extra_body`). Untrusted: an engine
   * that reads any validates them with its own schema and answers VALIDATION_FAILED (422)
   * naming the field and its range; engines ignore what they do not know.
   */
  extra?: Readonly<Record<string, unknown>>;
  signal: AbortSignal;
}

/** The result of {@link TtsBackend.synthesize}. */
export interface SynthesizeResult extends SpeechAudio {
  warnings?: string[];
}

/** One entry of a TTS voice catalog. */
export interface VoiceInfo {
  /** The id a client passes as `voice`. */
  id: string;
  /** Human-readable name. */
  name?: string;
  /** Language (ISO 639-1 or BCP 47) the voice speaks. */
  language?: string;
  /** `builtin` for catalog voices, `custom` for user-provided ones. */
  origin?: 'builtin' | 'custom';
}

interface BackendBase {
  /** Literal discriminator of the contract version. */
  readonly specificationVersion: 'v1';
  /**
   * Prepare the model: read files, create inference sessions. Called by the pool before
   * any transcribe/synthesize call, and again after a dispose() when the model is needed
   * again. Metadata (modality, capabilities, voices) is readable without loading.
   */
  load(): Promise<void>;
  /** Release every native session and file handle. Called by the pool only, when no request is running. */
  dispose(): Promise<void>;
  /** Default number of requests this backend serves at once (models.json may override). */
  readonly defaultConcurrency?: number;
}

/** A speech-to-text backend. */
export interface AsrBackend extends BackendBase {
  readonly modality: 'asr';
  readonly capabilities: AsrCapabilities;
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult>;
}

/** A text-to-speech backend. */
export interface TtsBackend extends BackendBase {
  readonly modality: 'tts';
  readonly capabilities: TtsCapabilities;
  /** The voice used when a request names none. */
  readonly defaultVoice: string;
  /** The voice catalog; may be re-read on every call (custom voices appear live). */
  voices(): Promise<VoiceInfo[]>;
  /**
   * Optional: accept or refuse a voice id, for engines whose valid voices are more than
   * the catalog lists (variants, blends). Throws a 400 SpeechError that lists voices.
   * Without it the server checks membership in {@link TtsBackend.voices}.
   */
  validateVoice?(voice: string): Promise<void>;
  /** Speak the whole text and return it as one block. */
  synthesize(request: SynthesizeRequest): Promise<SynthesizeResult>;
  /**
   * Optional: speak the text piece by piece (for example sentence by sentence), yielding
   * each block as soon as it is ready. Stops when `signal` aborts.
   */
  synthesizeStream?(request: SynthesizeRequest): AsyncIterable<SpeechAudio>;
}

export type Backend = AsrBackend | TtsBackend;
export type Modality = Backend['modality'];
