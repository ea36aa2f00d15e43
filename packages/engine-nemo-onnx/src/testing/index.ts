/**
 * Generated NeMo test models for `pnpm fixtures --out DIR` (scripts/fixtures.mjs): random
 * weights in the exact onnx-asr file layout (`encoder-model.onnx` with its `.onnx.data`
 * external weights, `.int8.onnx` variants, `vocab.txt`, `config.json`), with the real tensor
 * names and shapes.
 *
 * - `parakeet-test-tiny-v3`: Parakeet TDT layout (128 mel bins, 5 durations, 640-wide
 *   prediction state), tiny dimensions, for tests.
 * - `parakeet-test-v3-dimensions`: v3's encoder output width (1024) and vocabulary (8192 +
 *   blank) with a heavier encoder, for `bench/nemo`; written only when named in `only`.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tdtDecoderJoint, tdtEncoder, type TdtArchitecture } from './parakeet-graphs.js';
import { sentencePieces, transducerVocabularyText } from './vocabulary-files.js';

/** Sentence ends a little more likely than other pieces, so that random text has segments. */
function punctuationBias(pieces: number): Record<number, number> {
  const vocabulary = sentencePieces(pieces);
  return { [vocabulary.indexOf('.')]: 1.5, [vocabulary.indexOf('?')]: 1, [vocabulary.indexOf(',')]: 1 };
}

export interface FixtureEntry {
  repo: string;
  executor: string;
  modality: 'asr';
  license: string;
  description: string;
  languages?: string[];
  default_task?: string;
  default_source_lang?: string;
  default_target_lang?: string;
  engineOptions?: Record<string, unknown>;
}

interface ParakeetSpec {
  kind: 'parakeet';
  slug: string;
  description: string;
  architecture: TdtArchitecture;
  /** Written only when `only` names it (large). */
  onRequest?: boolean;
}

export type FixtureSpec = ParakeetSpec;

export const TINY_TDT: TdtArchitecture = {
  melBins: 128,
  encoderDimension: 64,
  subsamplingChannels: 32,
  encoderBlocks: 0,
  vocabularySize: 1025,
  durations: 5,
  stateSize: 640,
  predictionSize: 32,
  jointSize: 64,
  blankBias: 2.5,
  durationBias: [0.5, 0.8, 0.4, 0, -0.3],
  tokenBias: punctuationBias(1024),
  seed: 11,
};

export const FIXTURE_MODELS: readonly FixtureSpec[] = [
  {
    kind: 'parakeet',
    slug: 'parakeet-test-tiny-v3',
    description: 'Generated test model: Parakeet TDT 0.6B v3 layout (onnx-asr export), tiny random weights (talkies fixtures).',
    architecture: TINY_TDT,
  },
  {
    kind: 'parakeet',
    slug: 'parakeet-test-v3-dimensions',
    description: "Generated benchmark model: Parakeet TDT v3's encoder width (1024), vocabulary (8192 + blank) and prediction state; random weights, random text.",
    onRequest: true,
    architecture: {
      ...TINY_TDT,
      encoderDimension: 1024,
      subsamplingChannels: 256,
      encoderBlocks: 8,
      vocabularySize: 8193,
      predictionSize: 640,
      jointSize: 640,
      tokenBias: punctuationBias(8192),
      seed: 12,
    },
  },
];

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

const json = (value: object) => JSON.stringify(value, null, 4);

async function writeParakeet(modelDirectory: string, spec: ParakeetSpec): Promise<void> {
  const architecture = spec.architecture;
  await writeAtomically(join(modelDirectory, 'config.json'), json({ model_type: 'nemo-conformer-tdt', features_size: architecture.melBins, subsampling_factor: 8 }));
  await writeAtomically(join(modelDirectory, 'vocab.txt'), transducerVocabularyText(architecture.vocabularySize - 1));
  // fp32 as the published v3 ships it: the encoder's weights in external data.
  const encoder = tdtEncoder(architecture, 'fp32', 'encoder-model.onnx.data');
  await writeAtomically(join(modelDirectory, 'encoder-model.onnx.data'), encoder.data!);
  await writeAtomically(join(modelDirectory, 'encoder-model.onnx'), encoder.model);
  await writeAtomically(join(modelDirectory, 'decoder_joint-model.onnx'), tdtDecoderJoint(architecture, 'fp32'));
  await writeAtomically(join(modelDirectory, 'encoder-model.int8.onnx'), tdtEncoder(architecture, 'int8').model);
  await writeAtomically(join(modelDirectory, 'decoder_joint-model.int8.onnx'), tdtDecoderJoint(architecture, 'int8'));
}

/**
 * Writes `outDir/models/<slug>/` for every fixture (or those in `only`) and returns the
 * models.json entries.
 */
export async function writeFixtures(outDir: string, options: { only?: Set<string> } = {}): Promise<Record<string, FixtureEntry>> {
  const chosen = FIXTURE_MODELS.filter((spec) => (options.only ? options.only.has(spec.slug) : !spec.onRequest));
  const entries: Record<string, FixtureEntry> = {};
  for (const spec of chosen) {
    const modelDirectory = join(outDir, 'models', spec.slug);
    await rm(modelDirectory, { recursive: true, force: true });
    await writeParakeet(modelDirectory, spec);
    entries[spec.slug] = {
      repo: `talkies-fixtures/${spec.slug}`,
      executor: 'parakeet',
      modality: 'asr',
      license: 'CC-BY-4.0 layout; generated random weights (talkies fixtures)',
      description: spec.description,
    };
  }
  return entries;
}
