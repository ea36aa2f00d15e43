/**
 * Test helpers: generated Whisper models in a temporary directory, backends over them,
 * and the transformers.js pipeline on the same files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineContext, TranscribeRequest } from '@talkies/core';
import engine from '../../src/index.js';
import { whisperOptionsSchema, type WhisperOptions } from '../../src/engine-options.js';
import { writeFixtures } from '../../src/testing/index.js';
import type { WhisperBackend } from '../../src/whisper-backend.js';

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export async function generatedModels(slugs: string[]): Promise<{ dataDir: string; remove(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'talkies-whisper-'));
  await writeFixtures(dataDir, { only: new Set(slugs) });
  return { dataDir, remove: () => rm(dataDir, { recursive: true, force: true }) };
}

export function createBackend(dataDir: string, slug: string, options: Partial<WhisperOptions> = {}, repo = `talkies-fixtures/${slug}`): WhisperBackend {
  const context: EngineContext<WhisperOptions> = {
    modelId: slug,
    entry: { repo, executor: 'whisper' },
    options: whisperOptionsSchema.parse({ temperatureFallback: false, download: false, ...options }),
    fields: {},
    paths: { dataDir, modelDir: join(dataDir, 'models', slug) },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => 0,
  };
  return engine.createBackend(context) as WhisperBackend;
}

export function request(audio: Float32Array, extra: Partial<TranscribeRequest> = {}): TranscribeRequest {
  return { audio, sampleRate: 16000, task: 'transcribe', timestamps: false, signal: new AbortController().signal, ...extra };
}

export interface ReferenceRun {
  /** Every generate() output sequence (prompt included), in call order. */
  sequences: number[][];
  output: { text: string; chunks?: Array<{ text: string; timestamp: [number, number | null] }> };
}

/** The transformers.js ASR pipeline, offline, on a generated model directory. */
export async function referencePipeline(modelDir: string): Promise<(audio: Float32Array, options: Record<string, unknown>) => Promise<ReferenceRun>> {
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  const pipe = (await pipeline('automatic-speech-recognition', modelDir, { local_files_only: true, dtype: 'fp32' })) as unknown as {
    (audio: Float32Array, options: Record<string, unknown>): Promise<ReferenceRun['output']>;
    model: { generate(options: unknown): Promise<unknown> };
  };
  let sequences: number[][] = [];
  const generate = pipe.model.generate.bind(pipe.model);
  pipe.model.generate = async (options: unknown) => {
    const result = (await generate(options)) as { sequences?: { tolist(): bigint[][] }; tolist?(): bigint[][] };
    const tensor = result.sequences ?? (result as { tolist(): bigint[][] });
    sequences.push(tensor.tolist()[0]!.map(Number));
    return result;
  };
  return async (audio, options) => {
    sequences = [];
    const output = await pipe(audio, options);
    return { sequences, output };
  };
}
