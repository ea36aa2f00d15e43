/**
 * The stand-in libparakeet (../stand-in/parakeet-stand-in.c), compiled by the tests with
 * the system's C compiler at the ABI version asked for, once per process. Without a C
 * compiler the tests that need it skip with a message.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { EngineContext, TranscribeRequest } from '@talkies/core';
import engine from '../../src/index.js';
import { parakeetOptionsSchema, type ParakeetOptions } from '../../src/engine-options.js';
import type { ParakeetCppBackend } from '../../src/parakeet-backend.js';
import { writeGguf } from './gguf-writer.js';

const source = fileURLToPath(new URL('../stand-in/parakeet-stand-in.c', import.meta.url));
const compiler = process.env.CC ?? 'cc';

function probeCompiler(): boolean {
  try {
    execFileSync(compiler, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when a C compiler is there; otherwise warns once and returns false. */
export const hasCompiler: boolean = (() => {
  const found = probeCompiler();
  if (!found) console.warn(`skipping the libparakeet stand-in tests: no C compiler ('${compiler}' not found; set CC or install gcc)`);
  return found;
})();

export interface StandInVariant {
  abi: number;
  /** Leave out transcribe_pcm_batch_json_lang (an early ABI-3 build). */
  noJsonWithLanguage?: boolean;
}

let buildDirectory: string | undefined;
const built = new Map<string, string>();

/** Compiles the stand-in (cached per variant) and returns the library's path. */
export function standInLibrary(variant: StandInVariant): string {
  const key = `${variant.abi}${variant.noJsonWithLanguage ? '-nojsonlang' : ''}`;
  const existing = built.get(key);
  if (existing) return existing;
  buildDirectory ??= mkdtempSync(join(tmpdir(), 'parakeet-stand-in-'));
  // One directory per variant: each is a libparakeet.so of its own.
  const output = join(buildDirectory, key, 'libparakeet.so');
  execFileSync('mkdir', ['-p', join(buildDirectory, key)]);
  const defines = [`-DSTANDIN_ABI=${variant.abi}`, ...(variant.noJsonWithLanguage ? ['-DSTANDIN_NO_JSON_LANG'] : [])];
  execFileSync(compiler, ['-shared', '-fPIC', '-O1', '-pthread', ...defines, '-o', output, source, '-lm'], { stdio: 'pipe' });
  built.set(key, output);
  return output;
}

/** The stand-in's own counters, read through koffi from the same loaded library. */
export async function standInCounters(libraryPath: string) {
  const { default: koffi } = await import('koffi');
  const library = koffi.load(libraryPath);
  const counter = (name: string) => library.func(name, 'int', []) as () => number;
  const reset = library.func('standin_reset_stats', 'void', []) as () => void;
  return {
    liveStrings: counter('standin_live_strings'),
    badFrees: counter('standin_bad_frees'),
    maxInFlight: counter('standin_max_in_flight'),
    transcribeCalls: counter('standin_transcribe_calls'),
    streamRaces: counter('standin_stream_races'),
    streamThreadSwitches: counter('standin_stream_thread_switches'),
    liveStreams: counter('standin_live_streams'),
    contextsFreedWithStreams: counter('standin_contexts_freed_with_streams'),
    reset,
  };
}

export interface StandInModel {
  /** prompt-conditioned (language tags, locales) like Nemotron, else a plain Parakeet. */
  nemotron?: boolean;
  streaming?: boolean;
  delayMs?: number;
}

/** A model directory with a GGUF the stand-in reads (architecture, streaming flag, delay). */
export async function writeStandInModel(modelDir: string, file: string, model: StandInModel = {}): Promise<string> {
  await mkdir(modelDir, { recursive: true });
  const path = join(modelDir, file);
  await writeFile(
    path,
    writeGguf({
      'general.architecture': { type: 'string', value: model.nemotron ? 'nemotron' : 'parakeet' },
      'general.name': { type: 'string', value: file },
      'parakeet.streaming': { type: 'bool', value: model.streaming ?? false },
      'standin.delay_ms': { type: 'uint32', value: model.delayMs ?? 0 },
      'standin.languages': { type: 'array-string', value: ['en', 'de'] },
    }),
  );
  return path;
}

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface BackendSetup {
  modelId?: string;
  dataDir: string;
  file?: string;
  library: string;
  languages?: string[];
  maxConcurrency?: number;
  options?: Partial<ParakeetOptions>;
  ggufFile?: string | null;
  repo?: string;
}

export function createBackend(setup: BackendSetup): ParakeetCppBackend {
  const modelId = setup.modelId ?? 'parakeet-test';
  const context: EngineContext<ParakeetOptions> = {
    modelId,
    entry: {
      repo: setup.repo ?? 'talkies-fixtures/parakeet-cpp-gguf',
      executor: 'parakeet_cpp',
      ...(setup.ggufFile === null ? {} : { gguf_file: setup.ggufFile ?? setup.file ?? 'model.gguf' }),
      ...(setup.languages ? { languages: setup.languages } : {}),
      ...(setup.maxConcurrency ? { max_concurrency: setup.maxConcurrency } : {}),
    },
    options: parakeetOptionsSchema.parse({ download: false, library: setup.library, ...setup.options }),
    fields: {},
    paths: { dataDir: setup.dataDir, modelDir: join(setup.dataDir, 'models', modelId) },
    logger: silentLogger,
    signal: new AbortController().signal,
    now: () => 0,
  };
  return engine.createBackend(context) as ParakeetCppBackend;
}

export function request(audio: Float32Array, extra: Partial<TranscribeRequest> = {}): TranscribeRequest {
  return { audio, sampleRate: 16000, task: 'transcribe', timestamps: true, signal: new AbortController().signal, ...extra };
}

export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * "Speech" the stand-in recognises: a 300 Hz tone (amplitude 0.3) in each [start, end)
 * second range, silence elsewhere. Each range is one word.
 */
export function bursts(seconds: number, ranges: Array<[number, number]>, sampleRate = 16000): Float32Array {
  const audio = new Float32Array(Math.round(seconds * sampleRate));
  for (const [start, end] of ranges) {
    for (let index = Math.round(start * sampleRate); index < Math.min(audio.length, Math.round(end * sampleRate)); index++) {
      audio[index] = 0.3 * Math.sin((2 * Math.PI * 300 * index) / sampleRate);
    }
  }
  return audio;
}
