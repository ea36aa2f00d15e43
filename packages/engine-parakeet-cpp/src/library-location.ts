/**
 * Where libparakeet is looked for, in order: `engineOptions.library`, then
 * `TALKIES_PARAKEET_LIB`, then `lib/` beside this package, then the system loader path
 * (`LD_LIBRARY_PATH`, the ldconfig cache, `/usr/local/lib`, …).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LIBRARY_FILE = process.platform === 'darwin' ? 'libparakeet.dylib' : process.platform === 'win32' ? 'parakeet.dll' : 'libparakeet.so';

/** The package's own directory (dist/.. or src/..). */
export const packageDirectory = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** How to get the library, for error messages. */
export const BUILD_ADVICE =
  `build it from source with docker/parakeet/build-libparakeet.sh (in the talkies repository: pnpm build:libparakeet), ` +
  `which puts ${LIBRARY_FILE} in ${join(packageDirectory, 'lib')}, or set TALKIES_PARAKEET_LIB to the path of an existing ${LIBRARY_FILE}`;

export interface LibraryCandidate {
  /** What koffi.load is given: a path, or a bare file name for the loader's search. */
  target: string;
  /** Where it came from, for messages. */
  source: string;
  /** A path candidate that does not exist is reported without trying it. */
  exists: boolean;
}

export function libraryCandidates(configured: string | undefined, environment: NodeJS.ProcessEnv = process.env): LibraryCandidate[] {
  const explicit = configured ?? environment.TALKIES_PARAKEET_LIB;
  if (explicit) {
    // An explicit choice is the only one tried: falling back silently would hide a typo.
    const target = resolve(explicit);
    return [{ target, source: configured ? 'engineOptions.library' : 'TALKIES_PARAKEET_LIB', exists: existsSync(target) }];
  }
  const beside = join(packageDirectory, 'lib', LIBRARY_FILE);
  return [
    { target: beside, source: 'beside the package', exists: existsSync(beside) },
    { target: LIBRARY_FILE, source: 'the system loader path', exists: true },
  ];
}
