/**
 * Which files of a Qwen3-TTS export repository the engine reads, and fetching them from
 * the Hugging Face hub through @talkies/hub: the text files, the mode's graphs (with
 * their external data, `<graph>.onnx.data` / `<graph>.onnx_data`), and for a base model
 * the reference voices under `voices/`.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DownloadOptions as CoreDownloadOptions, EngineContext } from '@talkies/core';
import type { DownloadSummary } from '@talkies/hub';
import { GRAPHS, requiredGraphs, TEXT_FILES } from './model-layout.js';
import type { Qwen3Mode } from './prompt.js';
import type { Qwen3Options } from './qwen3-options.js';

export interface Qwen3FileSet {
  required: string[];
  select(listing: readonly string[]): string[];
}

export function qwen3FileSet(mode: Qwen3Mode, options: Qwen3Options): Qwen3FileSet {
  const prefix = options.onnxDir ? `${options.onnxDir.replace(/\/+$/, '')}/` : '';
  const graphs = requiredGraphs(mode).map((name) => `${prefix}${GRAPHS[name]}`);
  const required = [...TEXT_FILES, ...graphs];
  const isGraphOrData = (path: string) => graphs.some((graph) => path === graph || path.startsWith(`${graph}.data`) || path.startsWith(`${graph}_data`));
  const isVoice = (path: string) => mode === 'base' && /^voices\/.+\.(wav|txt|lang)$/i.test(path);
  return {
    required,
    select: (listing) => listing.filter((path) => (TEXT_FILES as readonly string[]).includes(path) || isGraphOrData(path) || isVoice(path)),
  };
}

/** What the model directory lacks to load (empty when complete). */
export async function missingFiles(modelDir: string, mode: Qwen3Mode, options: Qwen3Options): Promise<string[]> {
  const missing: string[] = [];
  for (const file of qwen3FileSet(mode, options).required) {
    const present = await stat(join(modelDir, file)).then((info) => info.isFile() && info.size > 0, () => false);
    if (!present) missing.push(file);
  }
  return missing;
}

export async function downloadQwen3(
  context: Pick<EngineContext<Qwen3Options>, 'modelId' | 'entry' | 'paths' | 'options' | 'logger' | 'signal'>,
  options: CoreDownloadOptions & { endpoint?: string; token?: string; fetch?: typeof fetch } = {},
): Promise<DownloadSummary> {
  const { modeOf } = await import('./qwen3-backend.js');
  const files = qwen3FileSet(modeOf(context), context.options ?? {});
  const { downloadRepoFiles } = await import('@talkies/hub');
  return downloadRepoFiles({
    modelId: context.modelId,
    repo: context.entry.repo,
    revision: context.entry.revision,
    modelDir: context.paths.modelDir,
    executor: context.entry.executor,
    select: files.select,
    required: files.required,
    optional: [],
    fallback: files.required,
    describeMissing: (missing) =>
      `the repository has no ${missing.join(', ')}; it is not a Qwen3-TTS export in the split layout this engine reads (docs/qwen3-tts-export.md says how to make one)`,
    signal: options.signal ?? context.signal,
    logger: context.logger,
    onProgress: options.onProgress,
    endpoint: options.endpoint,
    token: options.token,
    fetch: options.fetch,
  });
}
