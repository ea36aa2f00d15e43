/**
 * Reference voices of a base (voice-cloning) model, as the seed has them:
 *
 * - built-in voices in the model's `voices/` folder, custom ones under
 *   `$TALKIES_DATA_DIR/custom-voices/`; each `<name>.wav`, nested folders included
 *   (`clients/acme/jane.wav` is voice `clients/acme/jane`);
 * - a custom voice shadows a built-in one of the same name;
 * - a sibling `<name>.txt` is the recording's transcript (in-context cloning), without it
 *   the x-vector alone is used; a sibling `<name>.lang` names its language;
 * - folders are read again on every call, so voices appear and disappear without a restart;
 * - a symbolic link is followed only when it stays inside its folder: a link that points
 *   elsewhere on the machine is not a voice.
 */
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface ReferenceVoice {
  id: string;
  origin: 'builtin' | 'custom';
  /** Absolute path of the .wav (symbolic links resolved). */
  path: string;
  size: number;
  modified: number;
}

/** More entries than this in one folder tree are not read (a bound on memory and time). */
const MAX_ENTRIES = 20_000;
const MAX_DEPTH = 16;
/** Sibling text files larger than this are not read. */
const MAX_SIBLING_BYTES = 64 * 1024;

async function realRoot(root: string): Promise<string | undefined> {
  return realpath(root).catch(() => undefined);
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The `.wav` voices under one folder. */
export async function scanVoices(root: string, origin: 'builtin' | 'custom'): Promise<ReferenceVoice[]> {
  const base = await realRoot(root);
  if (!base) return [];
  const voices: ReferenceVoice[] = [];
  let seen = 0;
  const walk = async (directory: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (++seen > MAX_ENTRIES) return;
      if (entry.name.startsWith('.')) continue;
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        await walk(path, depth + 1);
        continue;
      }
      if (!entry.name.toLowerCase().endsWith('.wav')) continue;
      let target = path;
      if (entry.isSymbolicLink()) {
        const resolved = await realpath(path).catch(() => undefined);
        // A link out of the folder would let anyone who can drop a file read any WAV on the machine.
        if (!resolved || !inside(base, resolved)) continue;
        target = resolved;
      } else if (!entry.isFile()) continue;
      const info = await stat(target).catch(() => undefined);
      if (!info?.isFile()) continue;
      const id = relative(base, path).split(sep).join('/').replace(/\.wav$/i, '');
      voices.push({ id, origin, path: target, size: info.size, modified: info.mtimeMs });
    }
  };
  await walk(base, 0);
  return voices;
}

/** Built-in voices first, then custom ones, a custom voice replacing a built-in one of the same id. */
export async function listVoices(builtinRoot: string | undefined, customRoot: string | undefined): Promise<ReferenceVoice[]> {
  const [builtin, custom] = await Promise.all([
    builtinRoot ? scanVoices(builtinRoot, 'builtin') : [],
    customRoot ? scanVoices(customRoot, 'custom') : [],
  ]);
  const byId = new Map<string, ReferenceVoice>();
  for (const voice of [...builtin, ...custom]) byId.set(voice.id, voice);
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

async function sibling(voice: ReferenceVoice, extension: '.txt' | '.lang'): Promise<string | undefined> {
  const path = voice.path.replace(/\.wav$/i, extension);
  const info = await lstat(path).catch(() => undefined);
  if (!info || !info.isFile() || info.size > MAX_SIBLING_BYTES) return undefined;
  const text = (await readFile(path, 'utf8').catch(() => '')).trim();
  return text === '' ? undefined : text;
}

/** The transcript of a voice's recording (`.txt`), if it has one. */
export function transcriptOf(voice: ReferenceVoice): Promise<string | undefined> {
  return sibling(voice, '.txt');
}

/** The language a voice speaks (`.lang`), if it names one. */
export function languageOf(voice: ReferenceVoice): Promise<string | undefined> {
  return sibling(voice, '.lang');
}

export { inside as isInside };
export const voiceRootsFor = (relativeTo: string, path: string | undefined, fallback: string): string => (path ? (path.startsWith('/') ? path : join(relativeTo, path)) : fallback);
