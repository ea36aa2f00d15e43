/**
 * Fetching a NeMo ONNX model's files from the Hugging Face hub (or a mirror: `HF_ENDPOINT`):
 * only what the family and precision need. The download itself (staging, resume, size
 * checks) is @talkies/hub's.
 */
import { downloadRepoFiles, type DownloadProgress, type DownloadSummary, type HubDownloadCommon } from '@talkies/hub';
import { belongsToVariant, PRECISION_SUFFIX, requiredFiles, type NemoFamily, type Precision } from './model-files.js';

export type { DownloadProgress, DownloadSummary };

export interface DownloadOptions extends HubDownloadCommon {
  family: NemoFamily;
  precision: Precision;
}

/** Downloads what is missing; concurrent calls for the same directory share one download. */
export function downloadModel(options: DownloadOptions): Promise<DownloadSummary> {
  const { family, precision, ...common } = options;
  const required = requiredFiles(family, precision);
  return downloadRepoFiles({
    ...common,
    executor: family,
    select: (listing) => listing.filter((path) => belongsToVariant(path, family, precision)),
    required,
    fallback: required,
    describeMissing: (missing, available) => {
      const precisions = (Object.keys(PRECISION_SUFFIX) as Precision[]).filter((candidate) =>
        requiredFiles(family, candidate).every((file) => available.includes(file)),
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
