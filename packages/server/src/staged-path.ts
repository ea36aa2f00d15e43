/**
 * Paths under `$TALKIES_DATA_DIR/files`, as `file_path=` names them. The rules follow the
 * Python talkies (leading `/` stripped; null bytes, backslashes, empty, `.` and `..`
 * segments rejected, also percent-encoded) and the final real path must stay under the
 * root, so a symlink cannot lead out.
 */
import { realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { SpeechError } from '@talkies/core';

function invalid(message: string): SpeechError {
  return new SpeechError('INVALID_REQUEST', `${message}; use a relative path like 'calls/2026/a.wav'`, { param: 'file_path' });
}

/** Validate a staged path and return it normalised (no leading slash). */
export function sanitizeStagedPath(raw: string): string {
  if (!raw) throw invalid('path is empty');
  let decoded = raw;
  // Decode repeatedly so %2e%2e and %252e%252e are caught like '..'.
  for (let round = 0; round < 3 && /%[0-9a-f]{2}/i.test(decoded); round++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      break;
    }
  }
  for (const candidate of new Set([raw, decoded])) {
    if (candidate.includes('\0')) throw invalid('path contains null byte');
    if (candidate.includes('\\')) throw invalid('path contains backslash');
  }
  const path = raw.replace(/^\/+/, '');
  if (path === '') throw invalid('path is empty after stripping leading slashes');
  for (const segment of decoded.replace(/^\/+/, '').split('/')) {
    if (segment === '') throw invalid('path contains empty segment (double slash)');
    if (segment === '.' || segment === '..') throw invalid(`path contains forbidden segment '${segment}'`);
  }
  return path;
}

/** Resolve a staged path to a real file under `root`, or throw 400/404. */
export async function resolveStagedFile(root: string, raw: string): Promise<string> {
  const path = sanitizeStagedPath(raw);
  const candidate = join(root, path);
  let real: string;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(candidate);
  } catch {
    throw new SpeechError('NOT_FOUND', `file_path not found: ${raw}; upload it first with PUT /v1/files/${path}`, {
      param: 'file_path',
    });
  }
  const inside = relative(realRoot, real);
  if (inside.startsWith('..') || inside.startsWith(sep) || inside === '') throw invalid('path escapes base directory');
  const info = await stat(real);
  if (!info.isFile()) {
    throw new SpeechError('NOT_FOUND', `file_path not found: ${raw} (not a regular file)`, { param: 'file_path' });
  }
  return real;
}
