/**
 * Generated NeMo test models for `pnpm fixtures --out DIR` (scripts/fixtures.mjs): random
 * weights in the exact onnx-asr file layout (`encoder-model.onnx` with its `.onnx.data`
 * external weights, `.int8.onnx` variants, `vocab.txt`, `config.json`), with the real tensor
 * names and shapes.
 *
 * - `parakeet-test-tiny-v3`: Parakeet TDT layout (128 mel bins, 5 durations, 640-wide
 *   prediction state), tiny dimensions, for tests.
 * - `canary-test-tiny-flash`: Canary flash layout (128 mel bins, six mem lists, an aggregate
 *   vocabulary for en, de, es, fr) whose decoder's tokens are known by construction
 *   (`expectedCanaryTokens`); `canary-test-tiny-flash-de2en` and `-en2de` are the same files
 *   as translation slugs.
 * - `parakeet-test-v3-dimensions`: v3's encoder output width (1024) and vocabulary (8192 +
 *   blank) with a heavier encoder, for `bench/nemo`; written only when named in `only`.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tdtDecoderJoint, tdtEncoder, type TdtArchitecture } from './parakeet-graphs.js';
import { canaryDecoder, canaryEncoder, type CanaryArchitecture } from './canary-graphs.js';
import { canaryQwenDecoder, canaryQwenEmbedTokens, canaryQwenEncoder, qwenTokenizerJson, type CanaryQwenArchitecture } from './canary-qwen-graphs.js';
import { CANARY_QWEN_TEMPLATE } from '../canary-qwen-runtime.js';
import { QwenTokenizer, type TokenizerJson } from '../qwen-tokenizer.js';
import { canaryVocabulary, sentencePieces, transducerVocabularyText, vocabularyText } from './vocabulary-files.js';

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

interface CanarySpec {
  kind: 'canary';
  slug: string;
  description: string;
  languages: readonly string[];
  /** models.json fields of a translation slug. */
  translation?: { source: string; target: string };
  onRequest?: boolean;
}

interface CanaryQwenSpec {
  kind: 'canary_salm';
  slug: string;
  description: string;
  onRequest?: boolean;
}

export type FixtureSpec = ParakeetSpec | CanarySpec | CanaryQwenSpec;

const QWEN_WORDS = [
  'user', 'Transcribe', ' the', ' following', 'assistant', 'hello', ' world', ' and', ' so', ' my', ' fellow', ' Americans', ' ask', ' not',
  ' what', ' your', ' country', ' can', ' do', ' for', ' you', '.', ',', ' speech', ' model', ' text', ' audio', ' small', ' test',
];
export const QWEN_TOKENIZER = qwenTokenizerJson(QWEN_WORDS);
/** The audio placeholder's id in the generated model (the real one is 151669, past Qwen's vocabulary). */
export const QWEN_PLACEHOLDER = QWEN_TOKENIZER.size;

/** Ids of the canary-qwen prompt other than the placeholder, under the generated tokenizer. */
function promptTokenCount(): number {
  const tokenizer = new QwenTokenizer(QWEN_TOKENIZER.json as TokenizerJson);
  return CANARY_QWEN_TEMPLATE('Transcribe the following: ').reduce((total, part) => total + (part === null ? 0 : tokenizer.encode(part).length), 0);
}

export const TINY_CANARY_QWEN: CanaryQwenArchitecture = {
  melBins: 128,
  width: 16,
  layers: 2,
  vocabularySize: QWEN_TOKENIZER.size,
  rule: {
    textStart: QWEN_TOKENIZER.textStart,
    textCount: QWEN_TOKENIZER.textCount,
    multiplier: 3,
    positionMultiplier: 1,
    countMultiplier: 5,
    promptTokens: promptTokenCount(),
    framesPerToken: 6,
    endOfTurn: QWEN_TOKENIZER.size - 1,
  },
  seed: 31,
};

export const CANARY_LANGUAGES = ['en', 'de', 'es', 'fr'] as const;
const CANARY_VOCABULARY = canaryVocabulary(CANARY_LANGUAGES, 200);

/** The tiny Canary model: d 16, six mem lists (4 decoder layers + 2) like the flash exports. */
export const TINY_CANARY: CanaryArchitecture = {
  melBins: 128,
  width: 16,
  mems: 6,
  vocabularySize: CANARY_VOCABULARY.pieces.length,
  rule: {
    textStart: CANARY_VOCABULARY.textStart,
    textCount: CANARY_VOCABULARY.textCount,
    multiplier: 3,
    positionMultiplier: 1,
    countMultiplier: 5,
    promptLength: 10,
    framesPerToken: 6,
    endOfText: CANARY_VOCABULARY.pieces.indexOf('<|endoftext|>'),
  },
  seed: 21,
};

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

const CANARY_FIXTURES: FixtureSpec[] = [
  {
    kind: 'canary',
    slug: 'canary-test-tiny-flash',
    description: 'Generated test model: Canary flash layout (onnx-asr nemo-conformer-aed export), decoder whose tokens are known by construction.',
    languages: CANARY_LANGUAGES,
  },
  {
    kind: 'canary',
    slug: 'canary-test-tiny-flash-de2en',
    description: 'The generated Canary test model as a translation slug: German speech to English text.',
    languages: CANARY_LANGUAGES,
    translation: { source: 'de', target: 'en' },
  },
  {
    kind: 'canary',
    slug: 'canary-test-tiny-flash-en2de',
    description: 'The generated Canary test model as a translation slug: English speech to German text.',
    languages: CANARY_LANGUAGES,
    translation: { source: 'en', target: 'de' },
  },
];

const CANARY_QWEN_FIXTURES: FixtureSpec[] = [
  {
    kind: 'canary_salm',
    slug: 'canary-qwen-test-tiny',
    description: "Generated test model in talkies' split canary-qwen layout (encoder + projection, token embedding, KV-cached decoder) with a Qwen-style tokenizer; tokens known by construction.",
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

async function writeCanary(modelDirectory: string): Promise<void> {
  await writeAtomically(join(modelDirectory, 'config.json'), json({ model_type: 'nemo-conformer-aed', features_size: TINY_CANARY.melBins }));
  await writeAtomically(join(modelDirectory, 'vocab.txt'), vocabularyText(CANARY_VOCABULARY.pieces));
  await writeAtomically(join(modelDirectory, 'encoder-model.onnx'), canaryEncoder(TINY_CANARY));
  await writeAtomically(join(modelDirectory, 'decoder-model.onnx'), canaryDecoder(TINY_CANARY));
}

async function writeCanaryQwen(modelDirectory: string): Promise<void> {
  await writeAtomically(
    join(modelDirectory, 'config.json'),
    json({ model_type: 'nemo-salm', features_size: TINY_CANARY_QWEN.melBins, subsampling_factor: 8, audio_locator_id: QWEN_PLACEHOLDER, prompt: 'Transcribe the following: ', max_sequence_length: 1024 }),
  );
  // From the dependency repository in real life (Qwen/Qwen3-1.7B); beside the graphs here.
  await writeAtomically(join(modelDirectory, 'tokenizer.json'), JSON.stringify(QWEN_TOKENIZER.json));
  await writeAtomically(join(modelDirectory, 'encoder-model.onnx'), canaryQwenEncoder(TINY_CANARY_QWEN));
  await writeAtomically(join(modelDirectory, 'embed-tokens.onnx'), canaryQwenEmbedTokens(TINY_CANARY_QWEN));
  await writeAtomically(join(modelDirectory, 'decoder-model.onnx'), canaryQwenDecoder(TINY_CANARY_QWEN));
}

/**
 * Writes `outDir/models/<slug>/` for every fixture (or those in `only`) and returns the
 * models.json entries.
 */
export async function writeFixtures(outDir: string, options: { only?: Set<string> } = {}): Promise<Record<string, FixtureEntry>> {
  const chosen = [...FIXTURE_MODELS, ...CANARY_FIXTURES, ...CANARY_QWEN_FIXTURES].filter((spec) => (options.only ? options.only.has(spec.slug) : !spec.onRequest));
  const entries: Record<string, FixtureEntry> = {};
  for (const spec of chosen) {
    const modelDirectory = join(outDir, 'models', spec.slug);
    await rm(modelDirectory, { recursive: true, force: true });
    if (spec.kind === 'parakeet') {
      await writeParakeet(modelDirectory, spec);
      entries[spec.slug] = {
        repo: `talkies-fixtures/${spec.slug}`,
        executor: 'parakeet',
        modality: 'asr',
        license: 'CC-BY-4.0 layout; generated random weights (talkies fixtures)',
        description: spec.description,
      };
      continue;
    }
    if (spec.kind === 'canary_salm') {
      await writeCanaryQwen(modelDirectory);
      entries[spec.slug] = {
        repo: `talkies-fixtures/${spec.slug}`,
        executor: 'canary_salm',
        modality: 'asr',
        license: 'CC-BY-4.0 layout; generated weights (talkies fixtures)',
        description: spec.description,
        languages: ['en'],
      };
      continue;
    }
    await writeCanary(modelDirectory);
    entries[spec.slug] = {
      repo: `talkies-fixtures/${spec.slug}`,
      executor: 'canary_multitask',
      modality: 'asr',
      license: 'CC-BY-4.0 layout; generated weights (talkies fixtures)',
      description: spec.description,
      languages: [...spec.languages],
      ...(spec.translation
        ? { default_task: 's2t_translation', default_source_lang: spec.translation.source, default_target_lang: spec.translation.target }
        : {}),
    };
  }
  return entries;
}

export { expectedCanaryTokens, type CanaryRule } from './canary-graphs.js';
export { expectedCanaryQwenTokens, type CanaryQwenRule } from './canary-qwen-graphs.js';
