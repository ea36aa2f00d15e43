/**
 * Which GGUF a model uses and fetching it. A parakeet.cpp repository (for example
 * `mudler/parakeet-cpp-gguf`) holds many models and quantisations side by side:
 * `gguf_file` picks one, and only that file is downloaded. Without it the first GGUF of
 * the repository (in name order) is used, as the Python talkies did.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SpeechError, type EngineLogger } from '@talkies/core';
import type { DownloadProgress, DownloadSummary } from '@talkies/hub';

/** A `gguf_file` must name a file inside the model directory. */
export function checkGgufFile(entry: Readonly<Record<string, unknown>>, modelId: string): string | undefined {
  const file = entry.gguf_file;
  if (file === undefined) return undefined;
  if (typeof file !== 'string') {
    throw new SpeechError('CONFIG_INVALID', `model '${modelId}': gguf_file must be a string, the path of a .gguf file in the repository`, {
      executor: 'parakeet_cpp',
      model: modelId,
    });
  }
  const parts = file.split(/[\\/]/);
  if (!file.toLowerCase().endsWith('.gguf') || file.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new SpeechError(
      'CONFIG_INVALID',
      `model '${modelId}': gguf_file '${file}' must be the path of a .gguf file inside the repository (no leading "/", no "." or ".." parts)`,
      { executor: 'parakeet_cpp', model: modelId },
    );
  }
  return file;
}

function firstGguf(paths: readonly string[]): string | undefined {
  return paths.filter((path) => path.toLowerCase().endsWith('.gguf')).sort()[0];
}

/** The GGUF on disk for this model, or undefined when it is not there yet. */
export async function localGguf(modelDir: string, ggufFile: string | undefined): Promise<string | undefined> {
  let names: string[];
  try {
    names = (await readdir(modelDir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(modelDir.length + 1).split('\\').join('/'));
  } catch {
    return undefined;
  }
  const chosen = ggufFile === undefined ? firstGguf(names) : names.includes(ggufFile) ? ggufFile : undefined;
  return chosen === undefined ? undefined : join(modelDir, chosen);
}

export interface GgufDownload {
  modelId: string;
  repo: string;
  revision?: string;
  modelDir: string;
  ggufFile?: string;
  signal?: AbortSignal;
  logger?: EngineLogger;
  onProgress?(progress: DownloadProgress): void;
}

/** Fetches the chosen GGUF (only it) through @talkies/hub. */
export async function downloadGguf(options: GgufDownload): Promise<DownloadSummary> {
  const { downloadRepoFiles } = await import('@talkies/hub');
  const { ggufFile, ...common } = options;
  return downloadRepoFiles({
    ...common,
    executor: 'parakeet_cpp',
    select: (listing) => {
      if (ggufFile !== undefined) return listing.includes(ggufFile) ? [ggufFile] : [];
      const first = firstGguf(listing);
      return first === undefined ? [] : [first];
    },
    required: ggufFile === undefined ? [] : [ggufFile],
    fallback: ggufFile === undefined ? [] : [ggufFile],
    manualFiles: [ggufFile ?? '<model>.gguf'],
    describeMissing: (missing, listing) => {
      const available = listing.filter((path) => path.toLowerCase().endsWith('.gguf'));
      return (
        `the repository has no ${missing.join(', ')}; ` +
        (available.length > 0 ? `its GGUF files are: ${available.join(', ')} — set gguf_file to one of them` : 'it has no GGUF files at all')
      );
    },
  });
}
