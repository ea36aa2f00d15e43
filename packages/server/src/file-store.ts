/**
 * The staging area under `$TALKIES_DATA_DIR/files`, as /v1/files, `file_path=` and the MCP
 * file tools see it. Every path goes through the rules in staged-path.ts; writes are
 * atomic (a `.part.<random>` file renamed into place), so a file is either absent or
 * complete: partial files are never listed or served, a failed write removes its own and
 * the folders it leaves empty, and {@link FileStore.recover} removes those a crash left.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { inject, injectable } from 'tsyringe';
import { probeAudio } from '@talkies/audio';
import { SpeechError } from '@talkies/core';
import { blockedAddressReason } from './blocked-address.js';
import type { ServerConfig } from './config.js';
import { containedPath, isPartialName, resolveStagedFile, sanitizeStagedPath } from './staged-path.js';
import type { ServerMetrics } from './metrics.js';
import { ConfigToken, MetricsToken } from './tokens.js';
import { UrlDownloader } from './url-downloader.js';

/** One entry of `GET /v1/files`. */
export interface StagedFile {
  path: string;
  size: number;
  /** Last modification, UTC ISO 8601 ending in `Z`. */
  modified: string;
}

/** A staged file ready to be read. */
export interface StagedFileInfo {
  /** Where to read it on disk. */
  absolute: string;
  /** The normalised relative path. */
  path: string;
  size: number;
  contentType: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.flac': 'audio/flac',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.webm': 'audio/webm',
  '.mp4': 'video/mp4',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.srt': 'application/x-subrip',
  '.vtt': 'text/vtt',
};

/** The Content-Type a staged file is served with, from its extension. */
export function contentTypeFor(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

function notFound(path: string): SpeechError {
  return new SpeechError('NOT_FOUND', `file not found: ${path}; GET /v1/files lists what is staged`, { param: 'path' });
}

function uploadTooLarge(maxBytes: number): SpeechError {
  return new SpeechError(
    'PAYLOAD_TOO_LARGE',
    `upload too large (more than ${maxBytes} bytes); send a smaller file or raise TALKIES_MAX_UPLOAD_BYTES`,
    { param: 'path' },
  );
}

/**
 * How old a partial write must be before it counts as abandoned: well past both the
 * upload idle cut (two windows of TALKIES_BODY_IDLE_TIMEOUT) and a URL download's 300 s
 * between reads. At least 10 minutes.
 */
export function stalePartialSeconds(bodyIdleTimeoutSeconds: number): number {
  return Math.max(600, 4 * bodyIdleTimeoutSeconds);
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Copy `source` into `file`, failing with 413 as soon as more than `maxBytes` arrived.
 * The source is never destroyed: on failure it is left paused with our listeners removed,
 * and its owner decides what to do with the rest (the HTTP route discards it).
 */
function receive(source: NodeJS.ReadableStream, file: FileHandle, maxBytes: number, signal?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let size = 0;
    let settled = false;
    let writing: Promise<unknown> = Promise.resolve();
    const detach = () => {
      source.removeListener('data', onData);
      source.removeListener('end', onEnd);
      source.removeListener('error', onError);
      source.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      detach();
      source.pause();
      reject(error);
    };
    // One write at a time, the source paused meanwhile: memory stays at one chunk.
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) return fail(uploadTooLarge(maxBytes));
      source.pause();
      writing = file.write(bytes);
      writing.then(() => {
        if (!settled) source.resume();
      }, fail);
    };
    const onEnd = () => {
      if (settled) return;
      settled = true;
      detach();
      writing.then(() => resolve(size), reject);
    };
    const interrupted = () => new SpeechError('ABORTED', 'upload interrupted before the body was complete');
    const onError = () => fail(interrupted());
    const onClose = () => fail(interrupted());
    const onAbort = () => fail(signal?.reason ?? interrupted());
    if (signal?.aborted) return fail(signal.reason ?? interrupted());
    signal?.addEventListener('abort', onAbort, { once: true });
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
    source.resume();
  });
}

@injectable()
export class FileStore {
  readonly root: string;
  /** A partial write untouched this long is a crash's leftover. */
  readonly staleAfterSeconds: number;
  #sweeper: NodeJS.Timeout | undefined;
  /** Fetches `file_path` URLs into `downloads/`; shared so concurrent requests share one download. */
  readonly downloader: UrlDownloader;

  constructor(@inject(ConfigToken) config: ServerConfig, @inject(MetricsToken) metrics: ServerMetrics) {
    this.root = join(config.dataDir, 'files');
    this.staleAfterSeconds = config.stalePartialSeconds ?? stalePartialSeconds(config.bodyIdleTimeoutSeconds);
    this.downloader = new UrlDownloader({
      directory: join(this.root, 'downloads'),
      maxBytes: config.maxDownloadBytes,
      guard: config.blockPrivateDownloads ? blockedAddressReason : undefined,
      // Only audio is kept: anything else fetched through file_path (an internal web page,
      // say) would otherwise be readable through GET /v1/files/downloads/….
      verify: async (path, signal) => {
        await probeAudio(path, { signal });
      },
      onBytes: (bytes) => metrics.downloaded(bytes),
    });
  }

  /** Every regular file, sorted by path; symlinks are skipped and never followed. */
  async list(): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    const walk = async (directory: string, prefix: string): Promise<void> => {
      const entries = await readdir(directory, { withFileTypes: true }).catch((error: unknown) => {
        // The root may not exist yet, and a folder may vanish while we walk.
        if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
        throw error;
      });
      for (const entry of entries) {
        const path = prefix ? `${prefix}/${entry.name}` : entry.name;
        const absolute = join(directory, entry.name);
        if (entry.isDirectory()) await walk(absolute, path);
        else if (entry.isFile() && !isPartialName(entry.name)) {
          const info = await lstat(absolute).catch(() => undefined);
          if (info?.isFile()) files.push({ path, size: info.size, modified: info.mtime.toISOString() });
        }
      }
    };
    await walk(this.root, '');
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Store `body` at `path`, replacing what was there, creating parent folders. At most
   * `maxBytes` are accepted: one more and the write stops with 413. The file appears only
   * once complete; a failed or aborted write leaves nothing behind.
   */
  async put(
    path: string,
    body: NodeJS.ReadableStream | Uint8Array,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<{ path: string; size: number }> {
    const relativePath = sanitizeStagedPath(path, 'path');
    if (body instanceof Uint8Array && body.byteLength > maxBytes) throw uploadTooLarge(maxBytes);
    await mkdir(this.root, { recursive: true });
    const { absolute } = await containedPath(this.root, relativePath);
    if ((await lstat(absolute).catch(() => undefined))?.isDirectory()) {
      throw new SpeechError('INVALID_REQUEST', `'${relativePath}' is a folder; choose a file name inside it`, { param: 'path' });
    }
    const part = `${absolute}.part.${randomBytes(6).toString('hex')}`;
    const file = await this.openPart(part, relativePath);
    let size: number;
    try {
      if (body instanceof Uint8Array) {
        await file.writeFile(body);
        size = body.byteLength;
      } else {
        size = await receive(body, file, maxBytes, signal);
      }
      await file.close();
      await rename(part, absolute);
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(part, { force: true });
      await this.pruneEmptyParents(relativePath);
      if (errorCode(error) === 'EISDIR') {
        throw new SpeechError('INVALID_REQUEST', `'${relativePath}' is a folder; choose a file name inside it`, { param: 'path' });
      }
      throw error;
    }
    return { path: relativePath, size };
  }

  /** Open `<dest>.part.<random>`, creating its folders (again, should a DELETE prune them meanwhile). */
  private async openPart(part: string, relativePath: string): Promise<FileHandle> {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dirname(part), { recursive: true });
        return await open(part, 'wx', 0o644);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT' && attempt < 2) continue;
        if (code === 'ENOTDIR' || code === 'EEXIST') {
          throw new SpeechError('INVALID_REQUEST', `a parent folder of '${relativePath}' is a file; choose another path`, {
            param: 'path',
          });
        }
        throw error;
      }
    }
  }

  /** A regular staged file, or 404 `file not found` (also for symlinks and folders). */
  async stat(path: string): Promise<StagedFileInfo> {
    const relativePath = sanitizeStagedPath(path, 'path');
    const { absolute } = await containedPath(this.root, relativePath);
    const info = await lstat(absolute).catch(() => undefined);
    if (!info?.isFile()) throw notFound(relativePath);
    return { absolute, path: relativePath, size: info.size, contentType: contentTypeFor(relativePath) };
  }

  /** Remove a staged file, then every parent folder it leaves empty (never the root). */
  async delete(path: string): Promise<{ deleted: string }> {
    const relativePath = sanitizeStagedPath(path, 'path');
    const { root, absolute } = await containedPath(this.root, relativePath);
    const info = await lstat(absolute).catch(() => undefined);
    if (!info?.isFile()) throw notFound(relativePath);
    try {
      await unlink(absolute);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw notFound(relativePath);
      throw new SpeechError('INTERNAL', `unlink failed: ${(error as Error).message}`, { cause: error });
    }
    await this.pruneEmptyParents(relativePath, root);
    return { deleted: relativePath };
  }

  /** Remove the folders above `relativePath` that are empty, deepest first (never the root). */
  private async pruneEmptyParents(relativePath: string, root = this.root): Promise<void> {
    const parents = relativePath.split('/').slice(0, -1);
    for (; parents.length > 0; parents.pop()) {
      // rmdir only removes empty folders; the first one still in use stops the walk. A PUT
      // that recreates a pruned folder meanwhile retries (see openPart).
      const removed = await rmdir(join(root, ...parents)).then(
        () => true,
        () => false,
      );
      if (!removed) break;
    }
  }

  /**
   * Remove the partial writes a crash left behind (uploads and downloads that never
   * completed), and with `pruneFolders` every empty folder; at boot, before the server
   * listens, and then every minute (see {@link FileStore.startSweeping}). Only parts
   * untouched for `staleAfterSeconds` go: on a volume shared by replicas, a younger part
   * may be another server's upload in progress (a live one is written to at least every
   * couple of TALKIES_BODY_IDLE_TIMEOUT windows, a download at least every 300 s). Symlinks
   * are neither followed nor removed. Returns the relative paths of the parts removed.
   */
  async recover(options: { pruneFolders?: boolean; now?: number } = {}): Promise<string[]> {
    const removed: string[] = [];
    const cutoff = (options.now ?? Date.now()) - this.staleAfterSeconds * 1000;
    const sweep = async (directory: string, prefix: string): Promise<void> => {
      const entries = await readdir(directory, { withFileTypes: true }).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
        throw error;
      });
      for (const entry of entries) {
        const path = prefix ? `${prefix}/${entry.name}` : entry.name;
        const absolute = join(directory, entry.name);
        if (entry.isDirectory()) {
          await sweep(absolute, path);
          // Fails, as it should, while anything is left inside.
          if (options.pruneFolders) await rmdir(absolute).catch(() => undefined);
        } else if (entry.isFile() && isPartialName(entry.name)) {
          const info = await lstat(absolute).catch(() => undefined);
          if (!info || info.mtimeMs > cutoff) continue;
          await unlink(absolute).catch(() => undefined);
          removed.push(path);
          if (!options.pruneFolders) await this.pruneEmptyParents(path);
        }
      }
    };
    await sweep(this.root, '');
    return removed;
  }

  /** Sweep stale partial writes every `intervalSeconds` until {@link FileStore.stopSweeping}. */
  startSweeping(onRemoved: (paths: string[]) => void, intervalSeconds = Math.min(60, this.staleAfterSeconds)): void {
    this.stopSweeping();
    this.#sweeper = setInterval(() => {
      this.recover().then((paths) => paths.length > 0 && onRemoved(paths), () => undefined);
    }, intervalSeconds * 1000);
    this.#sweeper.unref();
  }

  stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** A staged path or an http(s) URL, as a local file path ready to decode. */
  async resolveForTranscription(value: string, signal: AbortSignal): Promise<string> {
    if (/^https?:\/\//i.test(value)) return this.downloader.fetch(value, signal);
    const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(value);
    if (scheme) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `unsupported URL scheme '${scheme[1]!.toLowerCase()}'; file_path takes a staged path or an http(s) URL`,
        { param: 'file_path' },
      );
    }
    return resolveStagedFile(this.root, value);
  }
}
