/** Generated Kokoro models and backends for the engine's tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineLogger } from '@talkies/core';
import { writeNvidiaModel, writeOnnxCommunityModel, type KokoroFixtureOptions } from '../testing/index.js';
import { KokoroBackend } from '../kokoro-backend.js';
import type { KokoroOptions } from '../kokoro-options.js';

/** A few voices per language keep the fixtures small and fast to write. */
export const TEST_VOICES = [
  'af_heart', 'af_bella', 'af_sky', 'am_adam', 'bf_emma', 'bm_george',
  'ef_dora', 'ff_siwis', 'hf_alpha', 'if_sara', 'pf_dora', 'jf_alpha', 'zf_xiaobei',
];

export interface LoggedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  object: object | string;
  message?: string;
}

export function recordingLogger(lines: LoggedLine[] = []): EngineLogger & { lines: LoggedLine[] } {
  const record = (level: LoggedLine['level']) => (object: object | string, message?: string) => {
    lines.push({ level, object, message });
  };
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

export interface TestModels {
  root: string;
  onnxCommunity: string;
  nvidia: string;
  remove(): Promise<void>;
}

export async function writeTestModels(options: KokoroFixtureOptions = {}): Promise<TestModels> {
  const root = await mkdtemp(join(tmpdir(), 'kokoro-engine-test-'));
  const onnxCommunity = join(root, 'onnx-community');
  const nvidia = join(root, 'nvidia');
  await Promise.all([
    writeOnnxCommunityModel(onnxCommunity, { voices: TEST_VOICES, ...options }),
    writeNvidiaModel(nvidia, { voices: TEST_VOICES, ...options }),
  ]);
  return { root, onnxCommunity, nvidia, remove: () => rm(root, { recursive: true, force: true }) };
}

export function createBackend(
  modelDir: string,
  executor: 'kokoro' | 'kokoro_nvidia',
  options: KokoroOptions = {},
  logger: EngineLogger = recordingLogger(),
  entry: Record<string, unknown> = {},
): KokoroBackend {
  return new KokoroBackend({
    modelId: executor === 'kokoro' ? 'kokoro-82m' : 'kokoro-82m-nvidia',
    entry: { repo: executor === 'kokoro' ? 'onnx-community/Kokoro-82M-v1.0-ONNX' : 'nvidia/kokoro-82M-onnx-opt', executor, ...entry },
    options: { threads: 1, ...options },
    fields: {},
    paths: { dataDir: modelDir, modelDir },
    logger,
    signal: new AbortController().signal,
    now: () => performance.now(),
  });
}

export function signal(): AbortSignal {
  return new AbortController().signal;
}
