/**
 * A loaded Kokoro model: the inference worker with its session, the tensor names and
 * types read from the model, the vocabulary, and the voice tables read so far. Imported
 * by the backend only in load(): it starts a worker thread that loads onnxruntime-node.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { SpeechError, defaultInferenceThreads, type EngineLogger } from '@talkies/core';
import { EspeakSessions } from './espeak-session.js';
import { InferenceWorker } from './inference-client.js';
import type { InputDescription, TensorInput } from './inference-worker.js';
import type { KokoroOptions } from './kokoro-options.js';
import { STYLE_ROWS, STYLE_WIDTH, type ModelFiles } from './model-layout.js';
import { boundaryIds, styleRow } from './phoneme-tokens.js';
import { PAD_TOKEN_ID } from './phoneme-vocabulary.js';

/** Kokoro speaks at 24 kHz. */
export const KOKORO_SAMPLE_RATE = 24000;

export interface TensorNames {
  tokens: string;
  style: string;
  speed: string;
  output: string;
}

/** How the `speed` input takes its value. */
export type SpeedInput = 'float32' | 'int32' | 'int64';

function pick(inputs: InputDescription[], wanted: string | undefined, candidates: string[], what: string, modelId: string): InputDescription {
  const names = inputs.map((input) => input.name);
  const chosen = wanted ?? candidates.find((name) => names.includes(name));
  const input = inputs.find((candidate) => candidate.name === chosen);
  if (!input) {
    throw new SpeechError(
      'MODEL_LOAD_FAILED',
      `model '${modelId}' has no ${what} input (looked for ${wanted ? `'${wanted}'` : candidates.map((name) => `'${name}'`).join(' or ')}; it has ${names.join(', ')}); set engineOptions.inputNames in models.json`,
      { model: modelId },
    );
  }
  return input;
}

/** Finds the tensors and checks their element types. */
export function describeModel(
  inputs: InputDescription[],
  outputs: string[],
  options: Pick<KokoroOptions, 'inputNames' | 'outputName'>,
  modelId: string,
): { names: TensorNames; tokenType: 'int64' | 'int32'; speedType: SpeedInput } {
  const tokens = pick(inputs, options.inputNames?.tokens, ['input_ids', 'tokens'], 'token-id', modelId);
  const style = pick(inputs, options.inputNames?.style, ['style', 'ref_s'], 'style', modelId);
  const speed = pick(inputs, options.inputNames?.speed, ['speed'], 'speed', modelId);
  const output = options.outputName ?? ['waveform', 'audio'].find((name) => outputs.includes(name)) ?? outputs[0];
  if (!output || !outputs.includes(output)) {
    throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}' has no output '${output}' (it has ${outputs.join(', ')}); set engineOptions.outputName`, { model: modelId });
  }
  if (tokens.type !== 'int64' && tokens.type !== 'int32') {
    throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}': input '${tokens.name}' is ${tokens.type}; Kokoro token ids must be int64 or int32`, { model: modelId });
  }
  if (style.type !== 'float32') {
    throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}': input '${style.name}' is ${style.type}; this engine feeds float32 style vectors (use an export that keeps float32 inputs)`, { model: modelId });
  }
  if (speed.type !== 'float32' && speed.type !== 'int32' && speed.type !== 'int64') {
    throw new SpeechError('MODEL_LOAD_FAILED', `model '${modelId}': input '${speed.name}' is ${speed.type}; expected float32 (or int32/int64 in older exports)`, { model: modelId });
  }
  return {
    names: { tokens: tokens.name, style: style.name, speed: speed.name, output },
    tokenType: tokens.type,
    speedType: speed.type,
  };
}

export interface RuntimeContext {
  modelId: string;
  logger: EngineLogger;
  /** espeak-ng voices to start at load (the default voice's language). */
  warmEspeakVoices?: string[];
}

export class KokoroRuntime {
  readonly vocabulary: Map<string, number>;
  readonly boundaries: ReturnType<typeof boundaryIds>;
  readonly names: TensorNames;
  readonly tokenType: 'int64' | 'int32';
  readonly speedType: SpeedInput;
  /** Model calls made so far (for tests and diagnostics). */
  inferenceCount = 0;
  /** The espeak-ng processes that turn text into phonemes, one per language. */
  readonly espeak = new EspeakSessions();
  readonly #files: ModelFiles;
  readonly #tables = new Map<string, Promise<Float32Array>>();
  readonly #modelPath: string;
  readonly #sessionOptions: InferenceSession.SessionOptions;
  readonly #context: RuntimeContext;
  #worker: InferenceWorker;
  #restarting?: Promise<InferenceWorker>;

  private constructor(
    files: ModelFiles,
    worker: InferenceWorker,
    vocabulary: Map<string, number>,
    modelPath: string,
    sessionOptions: InferenceSession.SessionOptions,
    context: RuntimeContext,
    options: KokoroOptions,
  ) {
    this.#files = files;
    this.#worker = worker;
    this.#modelPath = modelPath;
    this.#sessionOptions = sessionOptions;
    this.#context = context;
    this.vocabulary = vocabulary;
    this.boundaries = boundaryIds(vocabulary);
    const description = describeModel(worker.inputs, worker.outputs, options, context.modelId);
    this.names = description.names;
    this.tokenType = description.tokenType;
    this.speedType = description.speedType;
  }

  static async open(files: ModelFiles, options: KokoroOptions, context: RuntimeContext): Promise<KokoroRuntime> {
    const [modelPath, vocabulary] = await Promise.all([files.modelPath(), files.vocabulary()]);
    if (vocabulary.get('$') !== undefined && vocabulary.get('$') !== PAD_TOKEN_ID) {
      throw new SpeechError('MODEL_LOAD_FAILED', `model '${context.modelId}': the pad token '$' has id ${vocabulary.get('$')}, expected ${PAD_TOKEN_ID}`, { model: context.modelId });
    }
    const sessionOptions: InferenceSession.SessionOptions = {
      executionProviders: options.executionProviders ?? ['cpu'],
      intraOpNumThreads: options.threads ?? defaultInferenceThreads(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    const worker = await InferenceWorker.start(modelPath, sessionOptions, context.modelId);
    let runtime: KokoroRuntime | undefined;
    try {
      runtime = new KokoroRuntime(files, worker, vocabulary, modelPath, sessionOptions, context, options);
      await Promise.all((context.warmEspeakVoices ?? []).map((voice) => runtime!.espeak.warm(voice)));
      if (runtime.speedType !== 'float32') {
        context.logger.warn(
          { speedInput: runtime.speedType },
          `this export takes speed as ${runtime.speedType}, which would truncate 1.5 to 1: it gets whole speeds, and fractional ones are applied by time-stretching its output`,
        );
      }
      context.logger.debug({ modelPath, layout: files.layout, tensors: runtime.names, threads: sessionOptions.intraOpNumThreads }, 'kokoro model loaded');
      return runtime;
    } catch (error) {
      runtime?.espeak.close();
      await worker.close();
      throw error;
    }
  }

  /** A voice's style table (STYLE_ROWS × STYLE_WIDTH), read once per load. */
  voiceTable(name: string): Promise<Float32Array> {
    let table = this.#tables.get(name);
    if (!table) {
      table = this.#files.voiceTable(name);
      this.#tables.set(name, table);
      table.catch(() => this.#tables.delete(name));
    }
    return table;
  }

  /** The worker, started again if it died (a crash must not leave the model dead until evicted). */
  async #liveWorker(): Promise<InferenceWorker> {
    if (this.#worker.alive) return this.#worker;
    this.#restarting ??= InferenceWorker.start(this.#modelPath, this.#sessionOptions, this.#context.modelId).then(
      (worker) => {
        this.#context.logger.warn({}, 'the inference worker had stopped; started a new one');
        this.#worker = worker;
        this.#restarting = undefined;
        return worker;
      },
      (error) => {
        this.#restarting = undefined;
        throw error;
      },
    );
    return this.#restarting;
  }

  /**
   * One model call: `ids` are the phoneme ids without pads, `table` the voice's style
   * table (the row is chosen by length), `speed` what the model's input takes.
   */
  async run(ids: readonly number[], table: Float32Array, speed: number, signal: AbortSignal): Promise<Float32Array> {
    const length = ids.length + 2;
    const tokens =
      this.tokenType === 'int64' ? new BigInt64Array(length) : new Int32Array(length);
    for (let index = 0; index < ids.length; index++) {
      if (tokens instanceof BigInt64Array) tokens[index + 1] = BigInt(ids[index]!);
      else tokens[index + 1] = ids[index]!;
    }
    const row = styleRow(length, STYLE_ROWS);
    // A copy of one row: posting a view would clone the whole table.
    const style = table.slice(row * STYLE_WIDTH, (row + 1) * STYLE_WIDTH);
    const speedInput: TensorInput =
      this.speedType === 'float32'
        ? { type: 'float32', data: Float32Array.of(speed), dims: [1] }
        : this.speedType === 'int32'
          ? { type: 'int32', data: Int32Array.of(speed), dims: [1] }
          : { type: 'int64', data: BigInt64Array.of(BigInt(speed)), dims: [1] };
    const feeds: Record<string, TensorInput> = {
      [this.names.tokens]: { type: this.tokenType, data: tokens, dims: [1, length] },
      [this.names.style]: { type: 'float32', data: style, dims: [1, STYLE_WIDTH] },
      [this.names.speed]: speedInput,
    };
    const worker = await this.#liveWorker();
    this.inferenceCount++;
    return worker.run(feeds, this.names.output, signal);
  }

  async close(): Promise<void> {
    this.#tables.clear();
    this.espeak.close();
    await this.#restarting?.catch(() => undefined);
    await this.#worker.close();
  }
}
