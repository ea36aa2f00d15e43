/**
 * The worker thread that owns a model's runtime and runs whole generations.
 *
 * One frame of Qwen3-TTS is about seventeen graph runs (talker, fifteen predictor steps,
 * embeddings); crossing threads for each would cost more than the runs of a small model.
 * So the whole loop — prompt embedding, talker, code predictor, sampling, chunked codec
 * decoding, and the reference recording's x-vector and codes — runs here, and only audio
 * chunks cross back. The server's event loop never waits on a graph.
 *
 * A request stops at once when the main thread sets its stop flag (a shared Int32Array):
 * the loop checks it before every frame and every chunk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { ChunkedCodecDecoder } from './codec-stream.js';
import { generateFrames, type GenerationSettings, type GenerationTimings } from './generation.js';
import type { TalkerSpecials } from './model-config.js';
import type { GraphName } from './model-layout.js';
import { logMel } from './mel.js';
import { OrtRuntime } from './ort-runtime.js';
import { readTokenizer } from './model-files.js';
import { buildPrompt, type PromptInput } from './prompt.js';
import type { Qwen3Runtime } from './runtime.js';

export interface WorkerSetup {
  /** Where the tokenizer files are. */
  modelDir: string;
  paths: Partial<Record<GraphName, string>>;
  sessionOptions: InferenceSession.SessionOptions;
  specials: TalkerSpecials;
}

export interface StreamSettings {
  /** Frames per streamed chunk after the first. */
  chunkFrames: number;
  /** Frames before the first chunk is decoded. */
  firstChunkFrames: number;
  leftContextFrames: number;
  fadeSamples: number;
}

export interface WorkerGenerateRequest {
  type: 'generate';
  id: number;
  /** The prompt; for in-context cloning its reference frame count is filled in here, from the recording's codes. */
  prompt: PromptInput;
  /** A cloned voice: its 24 kHz samples (omitted when `key` is cached), and whether the plan uses its codes (ICL). */
  reference?: { key: string; samples?: Float32Array; codes: boolean };
  settings: GenerationSettings;
  stream: StreamSettings;
  /** Int32Array over a SharedArrayBuffer: index 0 becomes 1 to stop. */
  stop: SharedArrayBuffer;
}

export type WorkerRequest = WorkerGenerateRequest | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; hiddenSize: number; layers: number }
  | { type: 'failed'; message: string }
  | { type: 'need-reference'; id: number }
  | { type: 'audio'; id: number; samples: Float32Array }
  | { type: 'done'; id: number; frames: number; timings: GenerationTimings & { codec: number; runs: number } }
  | { type: 'error'; id: number; message: string }
  | { type: 'closed' };

const port = parentPort!;
const setup = workerData as WorkerSetup;

function send(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

interface VoiceAnalysis {
  xVector: Float32Array;
  codes?: { codes: Int32Array; frames: number };
}

/** Analysed reference recordings by key (path, size and time): a voice is analysed once per load. */
const voices = new Map<string, VoiceAnalysis>();
const VOICES_KEPT = 32;

async function analyse(runtime: Qwen3Runtime, reference: NonNullable<WorkerGenerateRequest['reference']>): Promise<VoiceAnalysis | undefined> {
  const known = voices.get(reference.key);
  if (known && (!reference.codes || known.codes)) return known;
  if (!reference.samples) return undefined;
  if (!runtime.speakerEmbedding) throw new Error('this model has no speaker encoder: it cannot clone a voice');
  const { mel, frames } = logMel(reference.samples);
  if (frames === 0) throw new Error('the reference recording is empty');
  const analysis: VoiceAnalysis = known ?? { xVector: await runtime.speakerEmbedding(mel, frames) };
  if (reference.codes) {
    if (!runtime.encodeAudio) throw new Error('this model has no codec encoder: it cannot use a transcript (in-context cloning)');
    analysis.codes = await runtime.encodeAudio(reference.samples);
  }
  if (voices.size >= VOICES_KEPT) voices.delete(voices.keys().next().value!);
  voices.set(reference.key, analysis);
  return analysis;
}

async function generate(runtime: OrtRuntime, request: WorkerGenerateRequest): Promise<void> {
  const stop = new Int32Array(request.stop);
  const stopped = () => Atomics.load(stop, 0) !== 0;
  let analysis: VoiceAnalysis | undefined;
  if (request.reference) {
    analysis = await analyse(runtime, request.reference);
    if (!analysis) {
      send({ type: 'need-reference', id: request.id });
      return;
    }
  }
  const reference = request.reference?.codes ? analysis?.codes : undefined;
  const prompt = reference && request.prompt.reference ? { ...request.prompt, reference: { ...request.prompt.reference, frames: reference.frames } } : request.prompt;
  const plan = buildPrompt(tokenizer, setup.specials, prompt);
  const timings = { talker: 0, predictor: 0, embed: 0, codec: 0, runs: 0 };
  const runsBefore = runtime.runs;
  const decoder = new ChunkedCodecDecoder(
    {
      groups: setup.specials.codeGroups,
      leftContext: request.stream.leftContextFrames,
      fadeSamples: request.stream.fadeSamples,
      decode: async (codes, frames) => {
        const started = performance.now();
        const samples = await runtime.decodeCodes(codes, frames);
        timings.codec += performance.now() - started;
        return samples;
      },
    },
    // A cloned voice's codes are the decoder's left context: the first chunk continues that voice.
    reference,
  );
  let frames = 0;
  let nextChunk = request.stream.firstChunkFrames;
  const flush = async (final: boolean) => {
    const samples = await decoder.flush(final);
    if (samples.length > 0 && !stopped()) send({ type: 'audio', id: request.id, samples }, [samples.buffer as ArrayBuffer]);
  };
  for await (const frame of generateFrames(
    runtime,
    setup.specials,
    { plan, speaker: analysis?.xVector, reference },
    request.settings,
    stopped,
    timings,
  )) {
    decoder.push(frame);
    frames++;
    if (decoder.pending >= nextChunk) {
      await flush(false);
      nextChunk = request.stream.chunkFrames;
    }
    if (stopped()) break;
  }
  if (!stopped()) await flush(true);
  timings.runs = runtime.runs - runsBefore;
  send({ type: 'done', id: request.id, frames, timings });
}

let tokenizer: Awaited<ReturnType<typeof readTokenizer>>;

try {
  tokenizer = await readTokenizer(setup.modelDir);
  const runtime = await OrtRuntime.open({ paths: setup.paths, sessionOptions: setup.sessionOptions });
  const queue: WorkerGenerateRequest[] = [];
  let busy = false;
  let closing = false;
  const close = async () => {
    await runtime.release();
    send({ type: 'closed' });
    port.close();
  };
  const drain = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const request = queue.shift()!;
      if (Atomics.load(new Int32Array(request.stop), 0) !== 0) continue;
      try {
        await generate(runtime, request);
      } catch (error) {
        send({ type: 'error', id: request.id, message: (error as Error)?.message ?? String(error) });
      }
    }
    busy = false;
    if (closing) await close();
  };
  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'generate') {
      queue.push(request);
      void drain();
    } else if (request.type === 'close') {
      closing = true;
      queue.length = 0;
      if (!busy) void close();
    }
  });
  send({ type: 'ready', hiddenSize: runtime.hiddenSize, layers: runtime.layers });
} catch (error) {
  send({ type: 'failed', message: (error as Error)?.message ?? String(error) });
}
