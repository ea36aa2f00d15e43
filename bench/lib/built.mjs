/** The repository's built packages, for the benchmark scripts (they run after `pnpm exec tsc -b`). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** Imports `relativePath` (from the repository root), saying to build first when it is missing. */
export function importBuilt(relativePath) {
  const path = join(root, relativePath);
  if (!existsSync(path)) throw new Error(`${relativePath} is missing; build first with \`pnpm exec tsc -b\``);
  return import(pathToFileURL(path).href);
}
