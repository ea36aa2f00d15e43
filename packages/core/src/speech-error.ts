/**
 * The one coded error class of talkies. Engines, core and the server all throw it; the
 * server maps `code` to an HTTP status in a single middleware.
 *
 * Check it with {@link SpeechError.is}, never `instanceof`: an engine package may resolve
 * its own copy of `@talkies/core`, and a brand registered with `Symbol.for` is shared by
 * every copy in the process.
 */
const BRAND = Symbol.for('talkies.speech-error');

/** Every code a SpeechError may carry, with the HTTP status the server answers it with. */
export const SPEECH_ERROR_STATUS = {
  /** The request is malformed or names something that does not fit (400). */
  INVALID_REQUEST: 400,
  /** A field failed schema validation (422). */
  VALIDATION_FAILED: 422,
  /** The slug is not in the configured catalog (404). */
  MODEL_NOT_FOUND: 404,
  /** The model exists but is not loaded (404, `DELETE /api/ps`). */
  MODEL_NOT_LOADED: 404,
  /** A staged file or other resource is missing (404). */
  NOT_FOUND: 404,
  /** The model cannot do what was asked: wrong modality, no translation, … (400). */
  UNSUPPORTED_CAPABILITY: 400,
  /** No engine package serves this executor (boot-time; 500 if ever seen at run time). */
  EXECUTOR_NOT_FOUND: 500,
  /** An engine declares a core range that this core does not satisfy (boot-time). */
  ENGINE_VERSION_MISMATCH: 500,
  /** ffmpeg could not read the input (400). */
  AUDIO_DECODE_FAILED: 400,
  /** ffmpeg could not encode the output (500). */
  AUDIO_ENCODE_FAILED: 500,
  /** The upload passed `TALKIES_MAX_UPLOAD_BYTES` (413). */
  PAYLOAD_TOO_LARGE: 413,
  /** Bearer auth failed (401). */
  UNAUTHORIZED: 401,
  /** The model's files are missing or could not be fetched (503). */
  MODEL_UNAVAILABLE: 503,
  /** The model failed to load (503). */
  MODEL_LOAD_FAILED: 503,
  /** The server is shutting down (503). */
  SHUTTING_DOWN: 503,
  /** The client went away or the request was cancelled (499, never sent in practice). */
  ABORTED: 499,
  /** models.json or the environment is invalid (boot-time). */
  CONFIG_INVALID: 500,
  /** An engine failed while running inference (500). */
  INFERENCE_FAILED: 500,
  /** Anything else (500). */
  INTERNAL: 500,
} as const;

export type SpeechErrorCode = keyof typeof SPEECH_ERROR_STATUS;

export interface SpeechErrorOptions {
  /** The executor involved, when there is one. */
  executor?: string;
  /** The model slug involved, when there is one. */
  model?: string;
  /** The request field the error is about (OpenAI's `error.param`). */
  param?: string;
  /** The underlying error. */
  cause?: unknown;
  /** Overrides the status derived from `code`. */
  status?: number;
}

export class SpeechError extends Error {
  readonly [BRAND] = true;
  readonly code: SpeechErrorCode;
  readonly executor?: string;
  readonly model?: string;
  readonly param?: string;
  readonly status: number;

  /** @param message What went wrong and what to do next. */
  constructor(code: SpeechErrorCode, message: string, options: SpeechErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpeechError';
    this.code = code;
    this.executor = options.executor;
    this.model = options.model;
    this.param = options.param;
    this.status = options.status ?? SPEECH_ERROR_STATUS[code];
  }

  /** True for a SpeechError from any copy of `@talkies/core`. */
  static is(value: unknown): value is SpeechError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}
