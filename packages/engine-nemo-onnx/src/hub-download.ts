/**
 * Fetching a NeMo ONNX model's files from the Hugging Face hub (or a mirror: `HF_ENDPOINT`):
 * only what the family and precision need. The download itself (staging, resume, size
 * checks) is @talkies/hub's.
 */
import { downloadRepoFiles, type DownloadProgress, type DownloadSummary, type HubDownloadCommon } from '@talkies/hub';
import { belongsToVariant, dependencyFiles, PRECISION_SUFFIX, repositoryFiles, type NemoFamily, type Precision } from './model-files.js';

export type { DownloadProgress, DownloadSummary };

export interface DownloadOptions extends HubDownloadCommon {
  family: NemoFamily;
  precision: Precision;
  /** The entry's `dependencies` (canary-qwen: the Qwen3 repository its tokenizer comes from). */
  dependencies?: readonly string[];
}

/** The repository canary-qwen's tokenizer comes from when the entry names none. */
export const DEFAULT_TOKENIZER_REPOSITORY = 'Qwen/Qwen3-1.7B';

/**
 * Downloads what is missing: the model's files, then those it takes from its dependency
 * repository. Concurrent calls for the same directory share one download.
 */
export async function downloadModel(options: DownloadOptions): Promise<DownloadSummary> {
  const summary = await downloadFromModelRepository(options);
  const fromDependency = dependencyFiles(options.family);
  if (fromDependency.length === 0) return summary;
  const { family, precision: _precision, dependencies, ...common } = options;
  const repo = dependencies?.[0] ?? DEFAULT_TOKENIZER_REPOSITORY;
  const extra = await downloadRepoFiles({
    ...common,
    repo,
    revision: undefined,
    executor: family,
    select: fromDependency,
    required: fromDependency,
    describeMissing: (missing) => `the dependency repository ${repo} has no ${missing.join(', ')}; name the Qwen3 repository in the entry's "dependencies"`,
  });
  return { files: [...summary.files, ...extra.files], bytes: summary.bytes + extra.bytes };
}

function downloadFromModelRepository(options: DownloadOptions): Promise<DownloadSummary> {
  const { family, precision, dependencies: _dependencies, ...common } = options;
  const required = repositoryFiles(family, precision);
  return downloadRepoFiles({
    ...common,
    executor: family,
    select: (listing) => listing.filter((path) => belongsToVariant(path, family, precision)),
    required,
    fallback: required,
    describeMissing: (missing, available) => {
      const precisions = (Object.keys(PRECISION_SUFFIX) as Precision[]).filter((candidate) =>
        repositoryFiles(family, candidate).every((file) => available.includes(file)),
      );
      return (
        `the repository has no ${missing.join(', ')} (precision '${precision}'); ` +
        (precisions.length > 0
          ? `it offers: ${precisions.join(', ')} — set engineOptions.precision to one of them`
          : `it does not look like an onnx-asr export for the '${family}' executor`)
      );
    },
  });
}
