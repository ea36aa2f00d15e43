/**
 * Fetching a model's files from the Hugging Face hub (or a mirror: `HF_ENDPOINT`) with
 * @huggingface/hub: the files an engine selects from the repository, nothing else.
 *
 * - Files are written to `<modelDir>.download/` first, as `<file>.part` while they grow.
 *   The model directory only ever receives complete, size-checked files, so a failed or
 *   interrupted download leaves no half model behind — only parts to resume from.
 * - A connection that drops mid-file is resumed with a Range request (a few attempts).
 * - Each file's size is checked against what the hub reports before it is kept.
 * - When everything is there, the staging directory becomes the model directory (one
 *   rename), or its files move in one by one when the directory already exists.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { SpeechError, type DownloadProgress, type EngineLogger } from '@talkies/core';

/** Per-file progress, as core's engine contract defines it (`file` is the path inside the repository). */
export type { DownloadProgress };

/** Where a download goes and how it reaches the hub; what engines pass through from their callers. */
export interface HubDownloadCommon {
  modelId: string;
  repo: string;
  revision?: string;
  /** `$TALKIES_DATA_DIR/models/<slug>`. */
  modelDir: string;
  signal?: AbortSignal;
  logger?: EngineLogger;
  /** Hub base URL; default `HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Default `HF_TOKEN`. */
  token?: string;
  /** Attempts per file when the connection fails (default 4). */
  attempts?: number;
  onProgress?(progress: DownloadProgress): void;
  /** For tests: the fetch the hub client uses. */
  fetch?: typeof fetch;
}

export interface RepoDownloadOptions extends HubDownloadCommon {
  /**
   * The files to fetch: a function of the repository listing (every file path in it) that
   * returns the paths wanted, or an explicit list (paths the listing lacks are skipped
   * unless required).
   */
  select: readonly string[] | ((listing: readonly string[]) => readonly string[]);
  /** Paths the model cannot run without: one missing from the listing fails with a 503. */
  required: readonly string[];
  /** Paths fetched when the repository has them; a 404 on them is not an error. */
  optional?: readonly string[];
  /**
   * Paths to fetch by name when the hub offers no listing (a mirror without the tree API);
   * those not in `required` are fetched when present. Default: `select` when it is a list,
   * else `required` and `optional`.
   */
  fallback?: readonly string[];
  /** The reason given when required paths are missing from the listing (default: "the repository has no …"). */
  describeMissing?(missing: readonly string[], listing: readonly string[]): string;
  /** Files named in the "put the files (…) in <modelDir> by hand" advice (default `required`). */
  manualFiles?: readonly string[];
  /** `executor` in the errors' details. */
  executor?: string;
}

export interface DownloadSummary {
  files: string[];
  /** Bytes transferred by this call (resumed parts not counted twice). */
  bytes: number;
}

type Hub = typeof import('@huggingface/hub');

interface HubCommon {
  repo: { type: 'model'; name: string };
  revision: string;
  hubUrl: string;
  fetch: typeof fetch;
  accessToken?: string;
}

interface WantedFile {
  path: string;
  size?: number;
  optional: boolean;
}

const inFlight = new Map<string, Promise<DownloadSummary>>();

/** Downloads what is missing; concurrent calls for the same directory share one download. */
export function downloadRepoFiles(options: RepoDownloadOptions): Promise<DownloadSummary> {
  let running = inFlight.get(options.modelDir);
  if (!running) {
    running = download(options).finally(() => inFlight.delete(options.modelDir));
    inFlight.set(options.modelDir, running);
  }
  return running;
}

/** The 503 of a download that cannot complete: the model, the repository, and what to do about it. */
function unavailable(options: RepoDownloadOptions, endpoint: string, reason: string, cause?: unknown): SpeechError {
  const files = (options.manualFiles ?? options.required).join(', ');
  return new SpeechError(
    'MODEL_UNAVAILABLE',
    `model '${options.modelId}' could not be downloaded from ${endpoint}/${options.repo}: ${reason}. ` +
      `Check the network, set HF_ENDPOINT to a reachable hub mirror (and HF_TOKEN for a gated repo), ` +
      `or put the files (${files}) in ${options.modelDir} by hand`,
    { ...(options.executor ? { executor: options.executor } : {}), model: options.modelId, cause },
  );
}

async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then((info) => info.size, () => undefined);
}

async function download(options: RepoDownloadOptions): Promise<DownloadSummary> {
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const token = options.token ?? process.env.HF_TOKEN;
  if (token !== undefined && token !== '' && !token.startsWith('hf_')) {
    throw unavailable(options, endpoint, "HF_TOKEN does not look like a Hugging Face token (they start with 'hf_')");
  }
  const credentials = token ? { accessToken: token } : {};
  const revision = options.revision ?? 'main';
  const signal = options.signal;
  const optional = options.optional ?? [];
  const fetchWithSignal: typeof fetch = (input, init) => (options.fetch ?? fetch)(input, { ...init, signal });
  // Lazy: only a model that actually needs a download loads the hub client.
  const hub: Hub = await import('@huggingface/hub');
  const common: HubCommon = { repo: { type: 'model', name: options.repo }, revision, hubUrl: endpoint, fetch: fetchWithSignal, ...credentials };

  // Which files: the repository listing tells sizes (and lets `select` see every file); a
  // mirror without the tree API gets the fallback list.
  let wanted: WantedFile[];
  try {
    const listing: Array<{ path: string; size: number }> = [];
    for await (const entry of hub.listFiles({ ...common, recursive: true })) {
      if (entry.type !== 'file') continue;
      listing.push({ path: entry.path, size: entry.lfs?.size ?? entry.size });
    }
    const available = listing.map((entry) => entry.path);
    const selected = new Set(typeof options.select === 'function' ? options.select(available) : options.select);
    wanted = listing
      .filter((entry) => selected.has(entry.path))
      .map((entry) => ({ path: entry.path, size: entry.size, optional: optional.includes(entry.path) }));
    const missing = options.required.filter((file) => !available.includes(file));
    if (missing.length > 0) {
      throw unavailable(options, endpoint, options.describeMissing?.(missing, available) ?? `the repository has no ${missing.join(', ')}`);
    }
  } catch (error) {
    if (SpeechError.is(error)) throw error;
    if (signal?.aborted) throw new SpeechError('ABORTED', 'the download was cancelled', { cause: error });
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 401 || status === 403) throw unavailable(options, endpoint, `access denied (HTTP ${status}); the repo may be gated or private`, error);
    if (status !== undefined && status !== 404) throw unavailable(options, endpoint, (error as Error).message, error);
    if (status === 404) {
      options.logger?.debug({ repo: options.repo }, 'no repository listing; fetching the required files by name');
    } else {
      throw unavailable(options, endpoint, (error as Error).message, error);
    }
    const byName = options.fallback ?? (typeof options.select === 'function' ? [...options.required, ...optional] : options.select);
    wanted = [...new Set(byName)].map((path) => ({ path, optional: optional.includes(path) || !options.required.includes(path) }));
  }

  const staging = `${options.modelDir}.download`;
  const summary: DownloadSummary = { files: [], bytes: 0 };
  for (const file of wanted) {
    const target = join(options.modelDir, file.path);
    const existing = await sizeOf(target);
    if (existing !== undefined && (file.size === undefined || existing === file.size)) {
      options.onProgress?.({ file: file.path, received: existing, total: existing, done: true });
      continue;
    }
    const staged = join(staging, file.path);
    const stagedSize = await sizeOf(staged);
    if (stagedSize !== undefined && (file.size === undefined || stagedSize === file.size)) {
      options.onProgress?.({ file: file.path, received: stagedSize, total: stagedSize, done: true });
      summary.files.push(file.path);
      continue;
    }
    const received = await downloadFile(hub, common, file, staged, options, endpoint);
    if (received === undefined) continue; // optional file the repo lacks
    summary.bytes += received;
    summary.files.push(file.path);
  }

  // Everything is complete: move it into the model directory.
  if (summary.files.length > 0) {
    const modelDirExists = (await stat(options.modelDir).then(() => true, () => false));
    if (!modelDirExists) {
      await mkdir(dirname(options.modelDir), { recursive: true });
      await removeParts(staging);
      await rename(staging, options.modelDir);
    } else {
      for (const file of summary.files) {
        await mkdir(dirname(join(options.modelDir, file)), { recursive: true });
        await rename(join(staging, file), join(options.modelDir, file));
      }
      await rm(staging, { recursive: true, force: true });
    }
  }
  return summary;
}

/** Deletes leftover `.part` files (of optional files that failed) before the staging directory is adopted. */
async function removeParts(directory: string): Promise<void> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.part')) await rm(join(entry.parentPath, entry.name), { force: true });
  }
}

/** One file into `staged` via `staged.part`, resuming after dropped connections. Returns the bytes fetched. */
async function downloadFile(
  hub: Hub,
  common: HubCommon,
  file: WantedFile,
  staged: string,
  options: RepoDownloadOptions,
  endpoint: string,
): Promise<number | undefined> {
  const part = `${staged}.part`;
  await mkdir(dirname(staged), { recursive: true });
  const attempts = options.attempts ?? 4;
  let fetched = 0;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (options.signal?.aborted) throw new SpeechError('ABORTED', 'the download was cancelled');
    let blob: Blob | null;
    try {
      // xet: false — plain HTTP with Range requests, which every mirror serves.
      blob = await hub.downloadFile({ ...common, path: file.path, xet: false });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) blob = null;
      else if (status === 401 || status === 403) throw unavailable(options, endpoint, `access denied to ${file.path} (HTTP ${status})`, error);
      else {
        lastError = error;
        await pause(attempt, options.signal);
        continue;
      }
    }
    if (blob === null) {
      if (file.optional) return undefined;
      throw unavailable(options, endpoint, `${file.path} is not in the repository (HTTP 404)`);
    }
    const total = blob.size;
    if (file.size !== undefined && total !== file.size) {
      throw unavailable(options, endpoint, `${file.path} is ${total} bytes on the server but the listing says ${file.size}`);
    }
    let offset = (await sizeOf(part)) ?? 0;
    if (offset > total) {
      await rm(part, { force: true });
      offset = 0;
    }
    if (offset < total) {
      let received = offset;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          fetched += chunk.length;
          options.onProgress?.({ file: file.path, received, total, done: false });
          callback(null, chunk);
        },
      });
      try {
        const body = Readable.fromWeb((offset > 0 ? blob.slice(offset) : blob).stream() as unknown as WebReadableStream<Uint8Array>);
        await pipeline(body, counter, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }), { signal: options.signal });
      } catch (error) {
        if (options.signal?.aborted) throw new SpeechError('ABORTED', 'the download was cancelled', { cause: error });
        lastError = error;
        options.logger?.warn({ file: file.path, received, total, attempt, err: error }, 'download interrupted; resuming');
        await pause(attempt, options.signal);
        continue;
      }
    }
    const size = (await sizeOf(part)) ?? 0;
    if (size !== total) {
      // A server that ignored the Range header (or sent too much): start this file over.
      await rm(part, { force: true });
      lastError = new Error(`${file.path}: got ${size} bytes, expected ${total}`);
      continue;
    }
    await rename(part, staged);
    options.onProgress?.({ file: file.path, received: total, total, done: true });
    return fetched;
  }
  throw unavailable(options, endpoint, `${file.path} failed after ${attempts} attempts (${(lastError as Error)?.message ?? 'unknown error'})`, lastError);
}

function pause(attempt: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.min(2000, 100 * 2 ** (attempt - 1)));
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
