/**
 * Test helpers: generated NeMo models in a temporary directory, backends over them, and
 * parakeet.js (offline, wasm) on the same files.
 */
import { findPackageJSON } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EngineContext, ModelEntry, TranscribeRequest } from '@talkies/core';
import engine from '../../src/index.js';
import { nemoOptionsSchema, type NemoOptions } from '../../src/engine-options.js';
import { writeFixtures } from '../../src/testing/index.js';
import type { NemoBackend } from '../../src/nemo-backend.js';

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export async function generatedModels(slugs: string[]): Promise<{ dataDir: string; entries: Record<string, ModelEntry>; remove(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'talkies-nemo-'));
  const entries = (await writeFixtures(dataDir, { only: new Set(slugs) })) as Record<string, ModelEntry>;
  return { dataDir, entries, remove: () => rm(dataDir, { recursive: true, force: true }) };
}

export function createBackend(dataDir: string, slug: string, entry: Partial<ModelEntry> = {}, options: Partial<NemoOptions> = {}): NemoBackend {
  const context: EngineContext<NemoOptions> = {
    modelId: slug,
    entry: { repo: `talkies-fixtures/${slug}`, executor: 'parakeet', ...entry },
    options: nemoOptionsSchema.parse({ download: false, ...options }),
    fields: {},
    paths: { dataDir, modelDir: join(dataDir, 'models', slug) },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => 0,
  };
  return engine.createBackend(context) as NemoBackend;
}

export function request(audio: Float32Array, extra: Partial<TranscribeRequest> = {}): TranscribeRequest {
  return { audio, sampleRate: 16000, task: 'transcribe', timestamps: false, signal: new AbortController().signal, ...extra };
}

export interface ParakeetJsResult {
  utterance_text: string;
  tokenIds: number[];
  frameIndices: number[];
  tdtSteps: number[];
  tokens: Array<{ raw_token: string; start_time: number; end_time: number }>;
  words: Array<{ text: string; start_time: number; end_time: number }>;
}

/**
 * parakeet.js 1.4.4 offline in Node on a generated model directory: the wasm backend with the
 * wasm files of the onnxruntime-web copy parakeet.js itself imports, the vocabulary as a
 * data: URL (Node's fetch cannot read files) and the encoder's external data as bytes.
 */
export async function parakeetJs(modelDir: string): Promise<(audio: Float32Array) => Promise<ParakeetJsResult>> {
  const parakeetEntry = import.meta.resolve('parakeet.js');
  const ortWebManifest = findPackageJSON('onnxruntime-web', parakeetEntry);
  if (!ortWebManifest) throw new Error('onnxruntime-web (parakeet.js dependency) not found');
  const ortWebDist = join(dirname(ortWebManifest), 'dist');
  const ortWeb = (await import(pathToFileURL(join(ortWebDist, 'ort.node.min.mjs')).href)) as { env: { wasm: { wasmPaths?: string } } };
  ortWeb.env.wasm.wasmPaths = pathToFileURL(ortWebDist).href + '/';
  const { ParakeetModel } = (await import('parakeet.js')) as unknown as {
    ParakeetModel: { fromUrls(options: object): Promise<{ transcribe(audio: Float32Array, rate: number, options: object): Promise<ParakeetJsResult> }> };
  };
  const vocabulary = await readFile(join(modelDir, 'vocab.txt'));
  // parakeet.js prints an object dump on load and timing tables unless profiling is off.
  const log = console.log;
  console.log = () => {};
  try {
    const model = await ParakeetModel.fromUrls({
      encoderUrl: join(modelDir, 'encoder-model.onnx'),
      decoderUrl: join(modelDir, 'decoder_joint-model.onnx'),
      tokenizerUrl: `data:text/plain;base64,${vocabulary.toString('base64')}`,
      encoderDataUrl: new Uint8Array(await readFile(join(modelDir, 'encoder-model.onnx.data'))),
      filenames: { encoder: 'encoder-model.onnx', decoder: 'decoder_joint-model.onnx' },
      backend: 'wasm',
      cpuThreads: 1,
      preprocessorBackend: 'js',
    });
    return async (audio) => {
      const quiet = console.log;
      console.log = () => {};
      try {
        return await model.transcribe(audio, 16000, {
          returnTimestamps: true, returnTokenIds: true, returnFrameIndices: true, returnTdtSteps: true, enableProfiling: false,
        });
      } finally {
        console.log = quiet;
      }
    };
  } finally {
    console.log = log;
  }
}
