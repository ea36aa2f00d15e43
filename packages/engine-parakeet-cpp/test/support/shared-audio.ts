/**
 * Real recordings from the shared reference folder (`shared/` beside the repository or
 * one of its ancestors, or `TALKIES_SHARED_DIR`). A user's clone has none: tests that need
 * it skip with a message.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findShared(): string | undefined {
  if (process.env.TALKIES_SHARED_DIR) return resolve(process.env.TALKIES_SHARED_DIR);
  // The repository root, then each folder above it: works from /work/main and from a worktree.
  for (let directory = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..'); ; directory = dirname(directory)) {
    const candidate = join(dirname(directory), 'shared');
    if (existsSync(join(candidate, 'audio'))) return candidate;
    if (directory === dirname(directory)) return undefined;
  }
}

export const sharedDirectory = findShared();

/** The path of a file under shared/, or undefined (with a warning) when it is not there. */
export function sharedFile(relativePath: string): string | undefined {
  const path = sharedDirectory && join(sharedDirectory, relativePath);
  if (path && existsSync(path)) return path;
  console.warn(`skipping: shared/${relativePath} not found (set TALKIES_SHARED_DIR; a plain clone has no shared folder)`);
  return undefined;
}
