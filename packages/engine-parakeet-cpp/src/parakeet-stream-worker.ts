/**
 * The thread of one streaming session. parakeet.cpp's streams must be used from one
 * thread: this worker begins the stream, makes every feed and finalize call on it, and
 * frees it, all on its own thread, one message at a time. The main thread only sends
 * audio and receives the library's strings.
 *
 * It imports nothing from the package at run time (type imports only), so that Node can
 * run it straight from the TypeScript source in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';

export interface StreamWorkerSetup {
  libraryPath: string;
  /** The address of the model's `parakeet_ctx`, owned by the main thread, which outlives this worker. */
  context: bigint;
  /** Locale for `stream_begin_lang`; undefined uses `stream_begin`. */
  language?: string;
  /** Use `stream_feed_json` / `stream_finalize_json` (ABI 4+). */
  json: boolean;
}

export type StreamWorkerRequest =
  | { type: 'feed'; id: number; audio: Float32Array }
  | { type: 'finalize'; id: number }
  | { type: 'close' };

export type StreamWorkerReply =
  | { type: 'begun' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; raw: string | null; mask: number; error: string }
  | { type: 'closed' };

const setup = workerData as StreamWorkerSetup;
const port = parentPort!;

try {
  // Inference code may want more stack than koffi's default for synchronous calls.
  koffi.config({ ...koffi.config(), sync_stack_size: 8 << 20 });
} catch {
  // Already configured in this thread: keep it.
}

const library = koffi.load(setup.libraryPath);
const heapString = koffi.disposable('str', library.func('parakeet_capi_free_string', 'void', ['void *']));
// The context crosses threads as an address; on every platform koffi supports, a pointer
// argument and a uintptr_t one are passed the same way.
const lastError = library.func('parakeet_capi_last_error', 'str', ['uintptr_t']);
const begin = setup.language === undefined
  ? library.func('parakeet_capi_stream_begin', 'void *', ['uintptr_t'])
  : library.func('parakeet_capi_stream_begin_lang', 'void *', ['uintptr_t', 'str']);
const feed = setup.json
  ? library.func('parakeet_capi_stream_feed_json', heapString, ['void *', 'const float *', 'int'])
  : library.func('parakeet_capi_stream_feed', heapString, ['void *', 'const float *', 'int', koffi.out(koffi.pointer('int'))]);
const finalize = library.func(setup.json ? 'parakeet_capi_stream_finalize_json' : 'parakeet_capi_stream_finalize', heapString, ['void *']);
const free = library.func('parakeet_capi_stream_free', 'void', ['void *']);

const stream: unknown = setup.language === undefined ? begin(setup.context) : begin(setup.context, setup.language);
const post = (reply: StreamWorkerReply) => port.postMessage(reply);

if (!stream) {
  post({ type: 'failed', message: (lastError(setup.context) as string | null) || 'no reason given' });
  port.close();
} else {
  post({ type: 'begun' });
  port.on('message', (request: StreamWorkerRequest) => {
    if (request.type === 'close') {
      free(stream);
      post({ type: 'closed' });
      port.close();
      return;
    }
    let raw: string | null;
    const mask = [0];
    if (request.type === 'feed') {
      raw = (setup.json ? feed(stream, request.audio, request.audio.length) : feed(stream, request.audio, request.audio.length, mask)) as string | null;
    } else {
      raw = finalize(stream) as string | null;
    }
    post({ type: 'result', id: request.id, raw, mask: mask[0] ?? 0, error: raw === null ? ((lastError(setup.context) as string | null) ?? '') : '' });
  });
}
