/**
 * Which files of a Kokoro repository the engine reads (exactly what model-layout.ts opens),
 * and fetching them from the Hugging Face hub through @talkies/hub.
 *
 * - `onnx-community`: the chosen `onnx/model<suffix>.onnx` (or `engineOptions.model`) and
 *   its external data, `tokenizer.json`, and `voices/<name>.bin` of every catalog voice
 *   (those espeak-ng can phonemise: no ja, no zh). `config.json` comes along when present.
 * - `nvidia`: `kokoro-82m-v1.0.onnx` (or `engineOptions.model`), `tokens.txt`, `voices.bin`
 *   and `voices.txt`.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DownloadOptions as CoreDownloadOptions, EngineContext, ModelEntry } from '@talkies/core';
import type { DownloadSummary } from '@talkies/hub';
import type { KokoroOptions } from './kokoro-options.js';
import { languageOfVoice } from './languages.js';
import { NVIDIA_MODEL_FILE, ONNX_COMMUNITY_DTYPES, type LayoutName } from './model-layout.js';

/** The catalog voices of Kokoro v1.0, fetched by name from a mirror that cannot list the repository. */
const V1_CATALOG_VOICES = [
  'af_heart', 'af_alloy', 'af_aoede', 'af_bella', 'af_jessica', 'af_kore', 'af_nicole', 'af_nova', 'af_river', 'af_sarah', 'af_sky',
  'am_adam', 'am_echo', 'am_eric', 'am_fenrir', 'am_liam', 'am_michael', 'am_onyx', 'am_puck', 'am_santa',
  'bf_alice', 'bf_emma', 'bf_isabella', 'bf_lily', 'bm_daniel', 'bm_fable', 'bm_george', 'bm_lewis',
  'ef_dora', 'em_alex', 'em_santa', 'ff_siwis', 'hf_alpha', 'hf_beta', 'hm_omega', 'hm_psi',
  'if_sara', 'im_nicola', 'pf_dora', 'pm_alex', 'pm_santa',
];

export interface KokoroFileSet {
  layout: LayoutName;
  /** The .onnx file, relative to the model directory. */
  model: string;
  /** What must be in the repository. */
  required: string[];
  /** Fetched when the repository has it. */
  optional: string[];
  /** The paths of a repository listing the engine reads. */
  select(listing: readonly string[]): string[];
  /** What to fetch by name without a listing. */
  fallback: string[];
}

export function layoutOf(entry: Pick<ModelEntry, 'executor'>, options: KokoroOptions): LayoutName {
  return options.layout ?? (entry.executor === 'kokoro_nvidia' ? 'nvidia' : 'onnx-community');
}

/** A graph and its external data (`model.onnx_data`, `model.onnx.data`, `…_data_1`) for exports over 2 GB. */
function isGraphOrData(path: string, graph: string): boolean {
  return path === graph || path.startsWith(`${graph}_data`) || path.startsWith(`${graph}.data`);
}

export function kokoroFileSet(entry: Pick<ModelEntry, 'executor' | 'default_voice'>, options: KokoroOptions): KokoroFileSet {
  const layout = layoutOf(entry, options);
  if (layout === 'nvidia') {
    const model = options.model ?? NVIDIA_MODEL_FILE;
    const required = [model, 'tokens.txt', 'voices.bin', 'voices.txt'];
    return {
      layout,
      model,
      required,
      optional: [],
      select: (listing) => listing.filter((path) => required.includes(path) || isGraphOrData(path, model)),
      fallback: required,
    };
  }
  const model = options.model ?? `onnx/model${ONNX_COMMUNITY_DTYPES[options.dtype ?? 'fp32']}.onnx`;
  const defaultVoice = entry.default_voice ?? 'af_heart';
  const required = [model, 'tokenizer.json', ...(languageOfVoice(defaultVoice) ? [`voices/${defaultVoice}.bin`] : [])];
  const optional = ['config.json'];
  const isCatalogVoice = (path: string) => {
    const match = /^voices\/([^/]+)\.bin$/.exec(path);
    return match !== null && languageOfVoice(match[1]!) !== undefined;
  };
  return {
    layout,
    model,
    required,
    optional,
    select: (listing) => listing.filter((path) => required.includes(path) || optional.includes(path) || isGraphOrData(path, model) || isCatalogVoice(path)),
    fallback: [...new Set([...required, ...optional, ...V1_CATALOG_VOICES.map((name) => `voices/${name}.bin`)])],
  };
}

async function present(path: string, kind: 'file' | 'directory'): Promise<boolean> {
  return stat(path).then((info) => (kind === 'file' ? info.isFile() && info.size > 0 : info.isDirectory()), () => false);
}

/** What the model directory lacks to load (empty when complete), as the layout reads it. */
export async function missingFiles(modelDir: string, entry: Pick<ModelEntry, 'executor' | 'default_voice'>, options: KokoroOptions): Promise<string[]> {
  const files = kokoroFileSet(entry, options);
  const missing: string[] = [];
  if (!(await present(join(modelDir, files.model), 'file'))) {
    // The nvidia layout also runs the only .onnx file of the directory, whatever its name.
    const onlyOnnx = files.layout === 'nvidia' && options.model === undefined &&
      (await readdir(modelDir).catch(() => [] as string[])).filter((name) => name.endsWith('.onnx')).length === 1;
    if (!onlyOnnx) missing.push(files.model);
  }
  const others = files.layout === 'nvidia' ? ['tokens.txt', 'voices.bin', 'voices.txt'] : ['tokenizer.json'];
  for (const file of others) if (!(await present(join(modelDir, file), 'file'))) missing.push(file);
  if (files.layout === 'onnx-community' && !(await present(join(modelDir, 'voices'), 'directory'))) missing.push('voices/');
  return missing;
}

/** Fetches the entry's files from the hub (`HF_ENDPOINT`, `HF_TOKEN`) into its model directory. */
export async function downloadKokoro(
  context: Pick<EngineContext<KokoroOptions>, 'modelId' | 'entry' | 'paths' | 'options' | 'logger' | 'signal'>,
  options: CoreDownloadOptions & { endpoint?: string; token?: string; fetch?: typeof fetch } = {},
): Promise<DownloadSummary> {
  const files = kokoroFileSet(context.entry, context.options ?? {});
  const { downloadRepoFiles } = await import('@talkies/hub');
  return downloadRepoFiles({
    modelId: context.modelId,
    repo: context.entry.repo,
    revision: context.entry.revision,
    modelDir: context.paths.modelDir,
    executor: context.entry.executor,
    select: files.select,
    required: files.required,
    optional: files.optional,
    fallback: files.fallback,
    describeMissing: (missing) =>
      `the repository has no ${missing.join(', ')}; it does not look like a Kokoro export in the ${files.layout} layout` +
      (files.layout === 'onnx-community' ? ' (set engineOptions.dtype or model to a variant it has, or default_voice to one of its voices)' : ''),
    signal: options.signal ?? context.signal,
    logger: context.logger,
    onProgress: options.onProgress,
    endpoint: options.endpoint,
    token: options.token,
    fetch: options.fetch,
  });
}
