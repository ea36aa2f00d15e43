/**
 * Paths under `$TALKIES_DATA_DIR/files`, as `file_path=`, /v1/files and the MCP file tools
 * name them. The rules follow the Python talkies (leading `/` stripped; null bytes,
 * backslashes, empty, `.` and `..` segments rejected) and go further: encoded forms are
 * rejected too, single or double, and the real path must stay under the root, so a
 * symlink cannot lead out.
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, isAbsolute } from 'node:path';
import { SpeechError } from '@talkies/core';

/** A write in progress: `<name>.part.<12 hex digits>`, renamed into place once complete. */
const PARTIAL_SUFFIX = /\.part\.[0-9a-f]{12}$/;

/** Whether a file name (or a path's last segment) is a partial write, never to be listed or served. */
export function isPartialName(name: string): boolean {
  return PARTIAL_SUFFIX.test(name);
}

function invalid(message: string, param: string): SpeechError {
  return new SpeechError('INVALID_REQUEST', `${message}; use a relative path like 'calls/2026/a.wav'`, { param });
}

/**
 * Validate a staged path and return it normalised (no leading slash). `param` names the
 * request field in errors (`file_path` for transcription, `path` for /v1/files).
 */
export function sanitizeStagedPath(raw: string, param = 'file_path'): string {
  if (!raw) throw invalid('path is empty', param);
  // Decoded repeatedly so %2e%2e and %252e%252e are caught like '..'.
  const decoded = decodeRepeatedly(raw);
  for (const candidate of new Set([raw, decoded])) {
    if (candidate.includes('\0')) throw invalid('path contains null byte', param);
    if (candidate.includes('\\')) throw invalid('path contains backslash', param);
  }
  const path = raw.replace(/^\/+/, '');
  if (path === '') throw invalid('path is empty after stripping leading slashes', param);
  if (isPartialName(path) || isPartialName(decoded)) {
    throw new SpeechError(
      'INVALID_REQUEST',
      `'${path}' ends like a partial write (.part.<12 hex digits>); those names are reserved for uploads in progress, choose another`,
      { param },
    );
  }
  for (const form of new Set([path, decoded.replace(/^\/+/, '')])) {
    for (const segment of form.split('/')) {
      if (segment === '') throw invalid('path contains empty segment (double slash)', param);
      if (segment === '.' || segment === '..') throw invalid(`path contains forbidden segment '${segment}'`, param);
    }
  }
  return path;
}

function isInside(root: string, target: string): boolean {
  const inside = relative(root, target);
  return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
}

/**
 * The real location `absolute` would have: the realpath of its deepest existing ancestor
 * with the missing tail appended. A dangling symlink on the way has no such location and
 * is refused, since it could point anywhere once its target appears.
 */
async function realLocation(absolute: string, param: string): Promise<string> {
  const tail: string[] = [];
  let current = absolute;
  let lookedAgain = 0;
  for (;;) {
    try {
      return join(await realpath(current), ...tail.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
    const info = await lstat(current).catch(() => undefined);
    if (info) {
      // Not a symlink: it appeared between the two calls (another request, or another
      // replica on a shared volume, renamed a file into place). Look again.
      if (!info.isSymbolicLink() && lookedAgain++ < 3) continue;
      throw invalid('path escapes base directory (it goes through a dangling symlink)', param);
    }
    const parent = dirname(current);
    if (parent === current) return absolute;
    tail.push(basename(current));
    current = parent;
  }
}

/**
 * Join a sanitized relative path under `root` and check that its real location, following
 * every symlink that exists, stays under the real root. Returns the real root and the
 * joined (not resolved) absolute path, so callers can still tell a symlink from a file
 * with `lstat`.
 */
export async function containedPath(root: string, path: string, param = 'path'): Promise<{ root: string; absolute: string }> {
  const realRoot = await realLocation(root, param);
  const absolute = join(realRoot, path);
  if (!isInside(realRoot, absolute)) throw invalid('path escapes base directory', param);
  if (!isInside(realRoot, await realLocation(absolute, param))) {
    throw invalid('path escapes base directory (a symlink leads outside the files root)', param);
  }
  return { root: realRoot, absolute };
}

/** Resolve a `file_path` value to a real file under `root`, or throw 400/404. Symlinks inside the root are followed. */
export async function resolveStagedFile(root: string, raw: string): Promise<string> {
  const path = sanitizeStagedPath(raw, 'file_path');
  const { absolute } = await containedPath(root, path, 'file_path');
  const info = await stat(absolute).catch(() => undefined);
  if (!info) {
    throw new SpeechError('NOT_FOUND', `file_path not found: ${path}; upload it first with PUT /v1/files/${path}`, {
      param: 'file_path',
    });
  }
  if (!info.isFile()) {
    throw new SpeechError('NOT_FOUND', `file_path not found: ${path} (not a regular file)`, { param: 'file_path' });
  }
  return realpath(absolute);
}

/**
 * Percent-decode up to three times: clients (LiteLLM's `%2F` ids, double-encoded paths)
 * send values encoded more than once. Stops at the first malformed escape.
 */
export function decodeRepeatedly(raw: string): string {
  let value = raw;
  for (let round = 0; round < 3 && /%[0-9a-f]{2}/i.test(value); round++) {
    try {
      value = decodeURIComponent(value);
    } catch {
      break;
    }
  }
  return value;
}
