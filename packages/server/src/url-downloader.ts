/**
 * Downloads for `file_path=http(s)://…`: cached under `files/downloads`, one download per
 * URL however many requests ask for it, capped in size, redirects followed by hand.
 *
 * The address guard runs inside the socket's DNS lookup, so the address checked is the
 * address connected to: a name that resolves to a public address when checked and to a
 * private one when connecting (DNS rebinding) has no second resolution to exploit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lookup as systemLookup } from 'node:dns/promises';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import { SpeechError } from '@talkies/core';

/** Resolve a host name to every address it has. */
export type ResolveHost = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** Why a download may not connect to `address`, or undefined to allow it. */
export type AddressGuard = (address: string) => string | undefined;

export interface UrlDownloaderOptions {
  /** The cache directory, `$TALKIES_DATA_DIR/files/downloads`. */
  directory: string;
  /** Cap on one download (`TALKIES_MAX_DOWNLOAD_BYTES`). */
  maxBytes: number;
  /**
   * Checked against every address a host resolves to, and against IP-literal hosts, at
   * every hop. The server passes `blockedAddressReason` when
   * `TALKIES_BLOCK_PRIVATE_DOWNLOADS=true` and nothing otherwise.
   */
  guard?: AddressGuard;
  /** Defaults to the system resolver; tests map made-up names to loopback addresses. */
  resolveHost?: ResolveHost;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest wait for the response or for the next chunk of it. Default 300 s. */
  readTimeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  /**
   * Rejects content that must not be kept (the server: anything that is not audio). Runs
   * on a finished download before it appears under its name, and on a cached entry before
   * it is used; what it rejects is deleted at once.
   */
  verify?: (path: string, signal: AbortSignal) => Promise<void>;
  /** Told about every chunk received (the download-bytes metric). */
  onBytes?: (bytes: number) => void;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const systemResolveHost: ResolveHost = (hostname) => systemLookup(hostname, { all: true, verbatim: true });

function failure(message: string): SpeechError {
  return new SpeechError('INVALID_REQUEST', message, { param: 'file_path' });
}

/** The URL as shown in messages and logs: without user:password. */
function shown(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function parseHttpUrl(value: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw failure(`invalid URL '${value}'${where}; file_path must be a staged path or an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw failure(`unsupported URL scheme '${url.protocol}'${where} ('${shown(url)}'); only http and https URLs can be downloaded`);
  }
  if (!url.hostname) throw failure(`URL has no host: '${shown(url)}'${where}`);
  return url;
}

/**
 * The cache file name's tail: the URL path's last segment, percent-decoded, characters
 * outside `[A-Za-z0-9._-]` replaced by `_`, `._-` trimmed from both ends, at most 96
 * characters (an extension shorter than 16 is kept), `download.bin` when nothing is left.
 */
export function safeBasename(url: string): string {
  const pathname = URL.canParse(url) ? new URL(url).pathname : '';
  let name = pathname.slice(pathname.lastIndexOf('/') + 1);
  try {
    name = decodeURIComponent(name);
  } catch {
    // Malformed escapes stay as they are and are replaced below.
  }
  name = name.replace(/[^A-Za-z0-9._-]/gu, '_').replace(/^[._-]+|[._-]+$/g, '');
  if (name.length > 96) {
    const dot = name.lastIndexOf('.');
    const extension = dot > 0 ? name.slice(dot) : '';
    name = extension.length > 1 && extension.length < 16 ? name.slice(0, 96 - extension.length) + extension : name.slice(0, 96);
  }
  return name || 'download.bin';
}

interface InFlight {
  promise: Promise<string>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

/** Wait for `promise`, or reject as soon as `signal` aborts (the promise keeps running). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new SpeechError('ABORTED', 'request aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class UrlDownloader {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly resolveHost: ResolveHost;
  private readonly connectTimeoutMs: number;
  private readonly readTimeoutMs: number;
  private readonly maxRedirects: number;

  constructor(private readonly options: UrlDownloaderOptions) {
    this.resolveHost = options.resolveHost ?? systemResolveHost;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 300_000;
    this.maxRedirects = options.maxRedirects ?? 5;
  }

  /** Where `url` is cached: `<directory>/<sha256(url)[:16]>-<safe basename>`. */
  cachePath(url: string): string {
    parseHttpUrl(url, '');
    const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
    return join(this.options.directory, `${key}-${safeBasename(url)}`);
  }

  /**
   * The local path of `url`'s content, downloading it unless a non-empty cached copy
   * exists. Concurrent calls for one URL share one download, which is cancelled only when
   * every caller has gone away. Every failure is a 400 naming the rule that was hit.
   */
  async fetch(url: string, signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const target = this.cachePath(url);
    const cached = await stat(target).catch(() => undefined);
    if (cached?.isFile() && cached.size > 0) {
      // The cache remembers content, not permission: the policy in force now decides, as
      // it would for a fresh download (it may have been off when the entry was made).
      const parsed = parseHttpUrl(url, '');
      await this.checkAddress(parsed);
      await this.verified(target, parsed, signal);
      return target;
    }

    let entry = this.inFlight.get(url);
    if (!entry) {
      const controller = new AbortController();
      const created: InFlight = { controller, waiters: 0, settled: false, promise: undefined as unknown as Promise<string> };
      created.promise = this.download(url, target, controller.signal).finally(() => {
        created.settled = true;
        this.inFlight.delete(url);
      });
      // A download whose callers all left is cancelled and its rejection has no reader.
      created.promise.catch(() => undefined);
      this.inFlight.set(url, created);
      entry = created;
    }
    entry.waiters += 1;
    try {
      return await untilAborted(entry.promise, signal);
    } finally {
      entry.waiters -= 1;
      if (entry.waiters === 0 && !entry.settled) {
        entry.controller.abort(new SpeechError('ABORTED', 'every request for this download went away'));
      }
    }
  }

  private async download(url: string, target: string, signal: AbortSignal): Promise<string> {
    await mkdir(this.options.directory, { recursive: true });
    const start = parseHttpUrl(url, '');
    let current = start;
    for (let redirects = 0; ; redirects++) {
      const response = await this.get(current, signal);
      const status = response.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status)) {
        response.destroy();
        const location = response.headers.location;
        const from = shown(current);
        if (!location) throw failure(`download failed: HTTP ${status} redirect without a Location header from '${from}'`);
        if (redirects >= this.maxRedirects) {
          throw failure(`too many redirects (>${this.maxRedirects}) starting at '${shown(start)}'`);
        }
        if (!URL.canParse(location, current.href)) {
          throw failure(`download failed: invalid redirect Location '${location}' from '${from}'`);
        }
        current = parseHttpUrl(new URL(location, current).href, ` (redirect from '${from}')`);
        continue;
      }
      if (status < 200 || status >= 300) {
        response.destroy();
        throw failure(`download failed: HTTP ${status} from '${shown(current)}'`);
      }
      const declared = Number(response.headers['content-length']);
      if (declared > this.options.maxBytes) {
        response.destroy();
        throw this.tooLarge(current, declared);
      }
      await this.save(response, target, current, signal);
      return target;
    }
  }

  private tooLarge(url: URL, declared?: number): SpeechError {
    const size = declared === undefined ? `more than ${this.options.maxBytes} bytes` : `${declared} bytes > ${this.options.maxBytes}`;
    return failure(`download too large (${size}) from '${shown(url)}'; stage a smaller file or raise TALKIES_MAX_DOWNLOAD_BYTES`);
  }

  private async save(response: IncomingMessage, target: string, url: URL, signal: AbortSignal): Promise<void> {
    const part = `${target}.part.${randomBytes(6).toString('hex')}`;
    let size = 0;
    // A plain loop rather than stream.pipeline: pipeline can hang when a transform fails
    // after an IncomingMessage has already completed (seen on Node 24), leaving the
    // request waiting forever.
    const stop = () => response.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', stop, { once: true });
    let file: FileHandle | undefined;
    try {
      signal.throwIfAborted();
      file = await open(part, 'wx');
      for await (const chunk of response as AsyncIterable<Buffer>) {
        size += chunk.length;
        this.options.onBytes?.(chunk.length);
        if (size > this.options.maxBytes) throw this.tooLarge(url);
        await file.write(chunk);
      }
      await file.close();
      file = undefined;
      if (size === 0) throw failure(`download failed: empty body from '${shown(url)}'`);
      await this.verified(part, url, signal);
      await rename(part, target);
    } catch (error) {
      response.destroy();
      await file?.close().catch(() => undefined);
      await rm(part, { force: true });
      throw this.explain(error, url, signal);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Runs `verify` on `path`; what it rejects is deleted and reported as a 400 about the URL. */
  private async verified(path: string, url: URL, signal: AbortSignal): Promise<void> {
    if (!this.options.verify) return;
    try {
      await this.options.verify(path, signal);
    } catch (error) {
      if (SpeechError.is(error) && error.code === 'ABORTED') throw error;
      await rm(path, { force: true });
      const reason = error instanceof Error ? error.message : String(error);
      throw new SpeechError('INVALID_REQUEST', `download from '${shown(url)}' was deleted, it is not audio talkies can read (${reason})`, {
        param: 'file_path',
        cause: error,
      });
    }
  }

  /** The address policy for a URL about to be served from the cache: its host as it resolves now. */
  private async checkAddress(url: URL): Promise<void> {
    const guard = this.options.guard;
    if (!guard) return;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) {
      const reason = guard(host);
      if (reason) throw this.refused(url, host, reason);
      return;
    }
    let addresses: { address: string }[];
    try {
      addresses = await this.resolveHost(host);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw failure(`download failed: cannot resolve '${host}' (${reason})`);
    }
    if (addresses.length === 0) throw failure(`download failed: '${host}' has no address ('${shown(url)}')`);
    for (const { address } of addresses) {
      const reason = guard(address);
      if (reason) throw this.refused(url, address, reason, host);
    }
  }

  /** One GET, with the guard in the connection's DNS lookup and both timeouts armed. */
  private get(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      // IP literals never reach the lookup hook, so they are checked here.
      if (isIP(host)) {
        const reason = this.options.guard?.(host);
        if (reason) return reject(this.refused(url, host, reason));
      }
      let response: IncomingMessage | undefined;
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        agent: false,
        lookup: this.guardedLookup(url),
        headers: { 'user-agent': 'talkies', accept: '*/*', 'accept-encoding': 'identity' },
        signal,
      });
      const connectTimer = setTimeout(() => {
        request.destroy(failure(`download failed: connect timeout (${this.connectTimeoutMs / 1000} s) to '${shown(url)}'`));
      }, this.connectTimeoutMs);
      request.once('socket', (socket) => {
        const connected = () => {
          clearTimeout(connectTimer);
          socket.setTimeout(this.readTimeoutMs, () => {
            const error = failure(`download failed: read timeout (no data for ${this.readTimeoutMs / 1000} s) from '${shown(url)}'`);
            (response ?? request).destroy(error);
          });
        };
        if (socket.connecting) socket.once('connect', connected);
        else connected();
      });
      request.once('response', (message) => {
        response = message;
        resolve(message);
      });
      request.on('error', (error) => reject(this.explain(error, url, signal)));
      request.once('close', () => clearTimeout(connectTimer));
      request.end();
    });
  }

  private guardedLookup(url: URL): LookupFunction {
    return (hostname, options, callback) => {
      this.resolveHost(hostname)
        .then((addresses) => {
          if (addresses.length === 0) throw failure(`download failed: '${hostname}' has no address ('${shown(url)}')`);
          for (const { address } of addresses) {
            const reason = this.options.guard?.(address);
            if (reason) throw this.refused(url, address, reason, hostname);
          }
          const family = options.family === 4 || options.family === 6 ? options.family : 0;
          const usable = family ? addresses.filter((entry) => entry.family === family) : addresses;
          if (usable.length === 0) throw failure(`download failed: '${hostname}' has no IPv${family} address ('${shown(url)}')`);
          if (options.all) callback(null, usable);
          else callback(null, usable[0]!.address, usable[0]!.family);
        })
        .catch((error: unknown) => {
          const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
          const explained = SpeechError.is(error) ? error : failure(`download failed: cannot resolve '${hostname}' (${reason})`);
          callback(explained as unknown as NodeJS.ErrnoException, '', 0);
        });
    };
  }

  private refused(url: URL, address: string, reason: string, hostname?: string): SpeechError {
    const article = /^[aeiouAEIOU]/.test(reason) ? 'an' : 'a';
    const what = hostname
      ? `'${hostname}' resolves to ${address}, ${article} ${reason} address`
      : `${address} is ${article} ${reason} address`;
    return failure(
      `download refused: ${what} ('${shown(url)}'); TALKIES_BLOCK_PRIVATE_DOWNLOADS=true only allows public addresses, ` +
        'so stage the file with PUT /v1/files instead',
    );
  }

  private explain(error: unknown, url: URL, signal: AbortSignal): SpeechError {
    if (SpeechError.is(error)) return error;
    if (signal.aborted) return SpeechError.is(signal.reason) ? signal.reason : new SpeechError('ABORTED', 'download cancelled');
    const detail = (error as NodeJS.ErrnoException).message || (error as NodeJS.ErrnoException).code || String(error);
    return failure(`download failed: ${detail} from '${shown(url)}'`);
  }
}
