/**
 * Fetching a Whisper model's files from the Hugging Face hub (or a mirror: `HF_ENDPOINT`):
 * only the files the chosen precision needs. The download itself (staging, resume, size
 * checks, the 503s) is @talkies/hub's.
 */
import { downloadRepoFiles, type DownloadProgress, type DownloadSummary, type HubDownloadCommon } from '@talkies/hub';
import { belongsToVariant, OPTIONAL_FILES, PRECISION_SUFFIX, requiredFiles, type Precision } from './model-files.js';

/** Per-file progress, as core's engine contract defines it (`file` is the path inside the repository). */
export type { DownloadProgress, DownloadSummary };

export interface DownloadOptions extends HubDownloadCommon {
  precision: Precision;
}

/** Downloads what is missing; concurrent calls for the same directory share one download. */
export function downloadModel(options: DownloadOptions): Promise<DownloadSummary> {
  const { precision, ...common } = options;
  const required = requiredFiles(precision);
  return downloadRepoFiles({
    ...common,
    executor: 'whisper',
    // The configs, the variant's two graphs and their external data (models over 2 GB).
    select: (listing) => listing.filter((path) => belongsToVariant(path, precision)),
    required,
    optional: OPTIONAL_FILES,
    fallback: [...required, ...OPTIONAL_FILES],
    describeMissing: (missing, available) => {
      const precisions = (Object.keys(PRECISION_SUFFIX) as Precision[]).filter((candidate) =>
        requiredFiles(candidate).every((file) => available.includes(file)),
      );
      return (
        `the repository has no ${missing.join(', ')} (precision '${precision}'); ` +
        (precisions.length > 0 ? `it offers: ${precisions.join(', ')} — set engineOptions.precision to one of them` : 'it does not look like a Whisper ONNX export')
      );
    },
  });
}
