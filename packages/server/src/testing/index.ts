/**
 * `@talkies/server/testing`: helpers for tests that run a real talkies server, for the
 * server's own tests and for engine packages' end-to-end tests. `startTestServer` starts
 * one on a loopback port with a models.json in a temporary data directory; engines
 * resolve exactly as in production (plugin discovery and models.json `package`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { startServer, type RunningServer, type ServerConfig } from '../index.js';

const run = promisify(execFile);

export interface TestServer extends RunningServer {
  dataDir: string;
  /** Advance the injected clock (ms). */
  advance(ms: number): void;
  stop(): Promise<void>;
}

export const SCRIPTED = { executor: 'scripted', package: '@talkies-fixtures/engine-scripted', modality: 'asr' } as const;
export const ESPEAK = { repo: 'espeak-ng', executor: 'espeak', modality: 'tts', default_voice: 'en-us' } as const;

export async function startTestServer(
  models: Record<string, Record<string, unknown>>,
  config: Partial<ServerConfig> = {},
  options: { logger?: pino.Logger } = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'talkies-test-'));
  const modelsFile = join(dataDir, 'models.json');
  await writeFile(modelsFile, JSON.stringify({ models }));
  let clock = 1_000_000;
  const server = await startServer({
    environment: {},
    config: { port: 0, host: '127.0.0.1', dataDir, modelsFile, sweeperIntervalSeconds: 0, ...config },
    logger: options.logger ?? pino({ level: process.env.TALKIES_TEST_LOG_LEVEL ?? 'silent' }),
    now: () => clock,
  });
  return {
    ...server,
    dataDir,
    advance(ms: number) {
      clock += ms;
    },
    async stop() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A tone of `seconds` as a 16 kHz mono WAV, made by the real ffmpeg. */
export async function makeTone(path: string, seconds: number, extra: string[] = []): Promise<string> {
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, ...extra, path]);
  return path;
}

/** ffprobe's view of an encoded clip. */
export async function probe(path: string): Promise<{ codec: string; duration: number; channels: number; sampleRate: number }> {
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-select_streams', 'a:0',
    '-show_entries', 'stream=codec_name,channels,sample_rate:format=duration',
    '-of', 'json', path,
  ]);
  const json = JSON.parse(stdout) as { streams: { codec_name: string; channels: number; sample_rate: string }[]; format: { duration: string } };
  const stream = json.streams[0]!;
  return { codec: stream.codec_name, duration: Number(json.format.duration), channels: stream.channels, sampleRate: Number(stream.sample_rate) };
}

/** A promise with its resolve function, for holding a scripted request open. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** What each encoded speech format must look like: its Content-Type and ffprobe's codec name. */
export const EXPECTED_CODECS = {
  mp3: { contentType: 'audio/mpeg', codec: 'mp3' },
  opus: { contentType: 'audio/ogg', codec: 'opus' },
  aac: { contentType: 'audio/aac', codec: 'aac' },
  flac: { contentType: 'audio/flac', codec: 'flac' },
  wav: { contentType: 'audio/wav', codec: 'pcm_s16le' },
} as const;

/** A response's JSON body, typed loosely: the tests assert its shape. */
export async function readJson(response: Response): Promise<any> {
  return response.json();
}

/** What an official `openai` client throws for an error answer (its `APIError`), as far as tests read it. */
export interface ClientRefusal extends Error {
  status: number | undefined;
  code?: string | null;
  param?: string | null;
  type?: string;
  error?: unknown;
}

/**
 * The error an `openai` client call was refused with (an `APIError`: it carries the HTTP
 * `status`); fails the test when the call succeeds, and rethrows anything else.
 */
export async function refusal(request: Promise<unknown>): Promise<ClientRefusal> {
  try {
    await request;
  } catch (error) {
    if (error instanceof Error && 'status' in error) return error as ClientRefusal;
    throw error;
  }
  throw new Error('the request succeeded');
}
