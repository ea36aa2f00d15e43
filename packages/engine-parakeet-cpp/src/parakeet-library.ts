/**
 * The koffi binding of libparakeet's C API (parakeet_capi.h). Imported only when a model
 * loads: importing it loads koffi.
 *
 * - The ABI version is read first and must be within {@link SUPPORTED_ABI}; functions
 *   added after ABI 3 (and the additive ones without a bump) are probed one by one, so a
 *   library has what its version gives and nothing is called that it lacks.
 * - Every call that computes runs through koffi's `.async`, on koffi's worker threads:
 *   the event loop never waits on the model.
 * - Returned strings are malloc'ed by the library: they are typed as a koffi disposable
 *   whose dispose function is `parakeet_capi_free_string`, so koffi frees each one exactly
 *   once, right after copying it into a JS string. NULL is never freed.
 */
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { SpeechError } from '@talkies/core';
import { BUILD_ADVICE, libraryCandidates, type LibraryCandidate } from './library-location.js';

/** The ABI versions this binding was written and tested against. */
export const SUPPORTED_ABI = { min: 3, max: 10 } as const;

/** What the loaded library offers beyond the ABI-3 core. */
export interface LibraryFeatures {
  /** `transcribe_pcm_batch_json_lang`: words and times with a pinned language. */
  jsonWithLanguage: boolean;
  /** `stream_feed_json` / `stream_finalize_json` (ABI 4): words and event times in sessions. */
  streamJson: boolean;
  /** `*eou_out` is a bitmask of end-of-utterance (1) and backchannel (2) (ABI 5). */
  eventBitmask: boolean;
  /** `set_concurrency`: several CPU backends serve concurrent calls on one context. */
  concurrency: boolean;
  /** `load_error`: the reason a load failed. */
  loadError: boolean;
}

// koffi types are process-wide; declared once, shared by every library loaded.
const contextType = koffi.pointer(koffi.opaque());
const streamType = koffi.pointer(koffi.opaque());

type Native = ReturnType<LibraryHandle['func']>;
type TypeSpec = string | TypeObject | ReturnType<typeof koffi.out>;

/** A loaded model: an opaque `parakeet_ctx*`. */
export type NativeContext = { readonly __brand: 'parakeet_ctx' };

let configured = false;
/**
 * Inference code can want more stack than koffi's defaults (2 MiB for synchronous calls,
 * 128 KiB for `.async` ones); koffi takes its configuration only before the first library
 * loads, so a process that loaded one earlier keeps the defaults.
 */
function configureKoffi(): void {
  if (configured) return;
  configured = true;
  try {
    koffi.config({ ...koffi.config(), sync_stack_size: 8 << 20, async_stack_size: 8 << 20 });
  } catch {
    // another library was loaded first in this process
  }
}

function callAsync<T>(fn: Native, ...args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (error: unknown, result: T) => (error ? reject(error) : resolve(result)));
  });
}

export class ParakeetLibrary {
  readonly path: string;
  readonly abi: number;
  readonly features: LibraryFeatures;
  readonly #native: Record<string, Native>;

  private constructor(path: string, abi: number, features: LibraryFeatures, native: Record<string, Native>) {
    this.path = path;
    this.abi = abi;
    this.features = features;
    this.#native = native;
  }

  /** Opens and checks a library file (one candidate). Throws a plain Error saying why not. */
  static open(target: string): ParakeetLibrary {
    configureKoffi();
    const handle = koffi.load(target);
    const symbol = (definition: [string, TypeSpec, TypeSpec[]]): Native | undefined => {
      try {
        return handle.func(...definition);
      } catch {
        return undefined; // koffi throws when the symbol is missing: the library is older
      }
    };
    const abiVersion = symbol(['parakeet_capi_abi_version', 'int', []]);
    if (!abiVersion) throw new Error(`${target} is not libparakeet: it has no parakeet_capi_abi_version`);
    const abi = abiVersion() as number;
    if (abi < SUPPORTED_ABI.min || abi > SUPPORTED_ABI.max) {
      throw new Error(
        `${target} has C API version ${abi}; this engine supports versions ${SUPPORTED_ABI.min} to ${SUPPORTED_ABI.max}` +
          (abi > SUPPORTED_ABI.max ? ' (upgrade @talkies/engine-parakeet-cpp, or build the pinned commit)' : ' (build a newer parakeet.cpp)'),
      );
    }
    const freeString = symbol(['parakeet_capi_free_string', 'void', ['void *']]);
    if (!freeString) throw new Error(`${target} lacks parakeet_capi_free_string`);
    const heapString = koffi.disposable('str', freeString);
    const ctx = contextType;
    const stream = streamType;
    const floats = 'const float *';
    const required: Record<string, [TypeSpec, TypeSpec[]]> = {
      parakeet_capi_load: [ctx, ['str']],
      parakeet_capi_free: ['void', [ctx]],
      parakeet_capi_last_error: ['str', [ctx]],
      parakeet_capi_transcribe_pcm_batch_json: [heapString, [ctx, floats, 'const int *', 'int', 'int', 'int']],
      parakeet_capi_transcribe_pcm_lang: [heapString, [ctx, floats, 'int', 'int', 'int', 'str']],
      // Called by the thread of each streaming session (parakeet-stream-worker.ts).
      parakeet_capi_stream_begin: [stream, [ctx]],
      parakeet_capi_stream_begin_lang: [stream, [ctx, 'str']],
      parakeet_capi_stream_feed: [heapString, [stream, floats, 'int', koffi.out(koffi.pointer('int'))]],
      parakeet_capi_stream_finalize: [heapString, [stream]],
      parakeet_capi_stream_free: ['void', [stream]],
    };
    const optional: Record<string, [TypeSpec, TypeSpec[]]> = {
      parakeet_capi_transcribe_pcm_batch_json_lang: [heapString, [ctx, floats, 'const int *', 'int', 'int', 'int', 'str']],
      parakeet_capi_stream_feed_json: [heapString, [stream, floats, 'int']],
      parakeet_capi_stream_finalize_json: [heapString, [stream]],
      parakeet_capi_set_concurrency: ['int', [ctx, 'int', 'int']],
      parakeet_capi_load_error: ['str', []],
    };
    const native: Record<string, Native> = {};
    const missing: string[] = [];
    for (const [name, [result, parameters]] of Object.entries(required)) {
      const fn = symbol([name, result, parameters]);
      if (fn) native[name] = fn;
      else missing.push(name);
    }
    if (missing.length > 0) throw new Error(`${target} reports C API version ${abi} but lacks ${missing.join(', ')}`);
    for (const [name, [result, parameters]] of Object.entries(optional)) {
      const fn = symbol([name, result, parameters]);
      if (fn) native[name] = fn;
    }
    const features: LibraryFeatures = {
      jsonWithLanguage: 'parakeet_capi_transcribe_pcm_batch_json_lang' in native,
      streamJson: 'parakeet_capi_stream_feed_json' in native && 'parakeet_capi_stream_finalize_json' in native,
      eventBitmask: abi >= 5,
      concurrency: 'parakeet_capi_set_concurrency' in native,
      loadError: 'parakeet_capi_load_error' in native,
    };
    return new ParakeetLibrary(target, abi, features, native);
  }

  /** The context's last error, copied (the library reuses its buffer). */
  lastError(context: NativeContext | null): string {
    return (this.#native.parakeet_capi_last_error!(context) as string | null) ?? '';
  }

  /** Loads a GGUF; rejects with the library's reason. */
  async load(ggufPath: string): Promise<NativeContext> {
    const context = await callAsync<NativeContext | null>(this.#native.parakeet_capi_load!, ggufPath);
    if (context) return context;
    if (this.features.loadError) {
      // load_error is thread-local, and the failed load ran on a koffi worker thread that
      // cannot be asked again. A failing load is quick, so repeat it here on this thread
      // to read the reason (and free the context should it succeed this time).
      const again = this.#native.parakeet_capi_load!(ggufPath) as NativeContext | null;
      if (again) return again;
      const reason = (this.#native.parakeet_capi_load_error!() as string | null) ?? '';
      if (reason) throw new Error(reason);
    }
    throw new Error(`libparakeet could not load ${ggufPath} (is it a parakeet.cpp GGUF?)`);
  }

  /** The context's address, for the thread of a streaming session (parakeet-stream-worker.ts). */
  address(context: NativeContext): bigint {
    return koffi.address(context);
  }

  free(context: NativeContext): void {
    this.#native.parakeet_capi_free!(context);
  }

  /** Spreads concurrent calls over `backends` CPU backends; 0 when the library cannot. */
  setConcurrency(context: NativeContext, backends: number, threadsEach: number): number {
    if (!this.features.concurrency) return 0;
    return this.#native.parakeet_capi_set_concurrency!(context, backends, threadsEach) as number;
  }

  /** One clip to the JSON document (words, times, confidences); null on failure (see lastError). */
  transcribeJson(context: NativeContext, audio: Float32Array, sampleRate: number, decoder: number, language?: string): Promise<string | null> {
    const lengths = Int32Array.of(audio.length);
    if (language === undefined) {
      return callAsync(this.#native.parakeet_capi_transcribe_pcm_batch_json!, context, audio, lengths, 1, sampleRate, decoder);
    }
    if (!this.features.jsonWithLanguage) throw new Error('this libparakeet has no transcribe_pcm_batch_json_lang');
    return callAsync(this.#native.parakeet_capi_transcribe_pcm_batch_json_lang!, context, audio, lengths, 1, sampleRate, decoder, language);
  }

  /** One clip to plain text with a pinned language (no words); null on failure. */
  transcribeText(context: NativeContext, audio: Float32Array, sampleRate: number, decoder: number, language: string): Promise<string | null> {
    return callAsync(this.#native.parakeet_capi_transcribe_pcm_lang!, context, audio, audio.length, sampleRate, decoder, language);
  }

}

const opened = new Map<string, ParakeetLibrary>();

/**
 * The library for a model, from the first candidate that loads. A missing library is a
 * 503 that names the library, every place looked and how to build it; it is not
 * remembered, so installing the library fixes the next request without a restart.
 */
export function openLibrary(configured: string | undefined, modelId: string, environment: NodeJS.ProcessEnv = process.env): ParakeetLibrary {
  const candidates = libraryCandidates(configured, environment);
  const failures: string[] = [];
  for (const candidate of candidates) {
    const cached = opened.get(candidate.target);
    if (cached) return cached;
    if (!candidate.exists) {
      failures.push(`${candidate.target} (${candidate.source}): no such file`);
      continue;
    }
    try {
      const library = ParakeetLibrary.open(candidate.target);
      opened.set(candidate.target, library);
      return library;
    } catch (error) {
      failures.push(`${describe(candidate)}: ${(error as Error).message}`);
    }
  }
  throw new SpeechError(
    'MODEL_UNAVAILABLE',
    `model '${modelId}' needs libparakeet (parakeet.cpp's C library), which could not be loaded. Looked at: ${failures.join('; ')}. To fix: ${BUILD_ADVICE}`,
    { executor: 'parakeet_cpp', model: modelId },
  );
}

function describe(candidate: LibraryCandidate): string {
  return candidate.source === 'the system loader path' ? `${candidate.target} on the system loader path` : `${candidate.target} (${candidate.source})`;
}
