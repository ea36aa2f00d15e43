/**
 * What the decoder needs from config.json, generation_config.json, preprocessor_config.json
 * and tokenizer.json. Special-token ids come from the files (generation config first,
 * then the tokenizer), never from a table: `.en`, multilingual and large-v3 vocabularies
 * put them at different ids.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WhisperTokenizer, type TokenizerJson } from './whisper-tokenizer.js';

export interface WhisperModelConfig {
  decoderLayers: number;
  decoderHeads: number;
  encoderHeads: number;
  dModel: number;
  melBins: number;
  maxTargetPositions: number;
  /** Frames of the encoder output (1500). */
  maxSourcePositions: number;
  medianFilterWidth: number;
  multilingual: boolean;
  endOfText: number;
  startOfTranscript: number;
  startOfPrevious: number | undefined;
  startOfLm: number | undefined;
  noSpeech: number | undefined;
  noTimestamps: number;
  timestampBegin: number;
  translate: number | undefined;
  transcribe: number | undefined;
  /** Language code → token id, in model order. */
  languages: Map<string, number>;
  suppressTokens: number[];
  beginSuppressTokens: number[];
  maxLength: number;
  alignmentHeads: Array<[number, number]> | undefined;
  vocabularySize: number;
}

export interface LoadedModelFiles {
  config: WhisperModelConfig;
  tokenizer: WhisperTokenizer;
  /** preprocessor_config.json's `mel_filters`, when the export ships them. */
  melFilters?: number[][];
}

type Json = Record<string, unknown>;

async function readJson(path: string, required: boolean): Promise<Json> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Json;
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const numbers = (value: unknown): number[] | undefined =>
  Array.isArray(value) && value.every((item) => typeof item === 'number') ? (value as number[]) : undefined;

export async function loadModelFiles(modelDir: string): Promise<LoadedModelFiles> {
  const [config, generation, preprocessor, tokenizerJson] = await Promise.all([
    readJson(join(modelDir, 'config.json'), true),
    readJson(join(modelDir, 'generation_config.json'), false),
    readJson(join(modelDir, 'preprocessor_config.json'), false),
    readJson(join(modelDir, 'tokenizer.json'), true),
  ]);
  const tokenizer = new WhisperTokenizer(tokenizerJson as unknown as TokenizerJson);
  const pick = (key: string): unknown => generation[key] ?? config[key];
  const tokenId = (key: string, content: string): number | undefined => number(pick(key)) ?? tokenizer.id(content);
  const require = (value: number | undefined, what: string): number => {
    if (value === undefined) throw new Error(`${modelDir}: cannot find the ${what} token in generation_config.json or tokenizer.json`);
    return value;
  };
  const eosValue = pick('eos_token_id');
  const endOfText = require(Array.isArray(eosValue) ? number(eosValue[0]) : tokenId('eos_token_id', '<|endoftext|>'), 'end-of-text');
  const noTimestamps = require(tokenId('no_timestamps_token_id', '<|notimestamps|>'), '<|notimestamps|>');
  const taskToId = (generation.task_to_id ?? {}) as Record<string, number>;
  const langToId = (generation.lang_to_id ?? {}) as Record<string, number>;
  const languages = new Map<string, number>();
  const languageEntries = Object.keys(langToId).length > 0
    ? Object.entries(langToId)
    : Array.from({ length: tokenizer.size }, (_, id) => [tokenizer.token(id), id] as [string, number]).filter(
        ([token, id]) => tokenizer.isAdded(id) && /^<\|[a-z]{2,3}\|>$/.test(token),
      );
  for (const [token, id] of languageEntries.sort((a, b) => a[1] - b[1])) {
    const match = /^<\|([a-z]{2,3})\|>$/.exec(token);
    if (match) languages.set(match[1]!, id);
  }
  const multilingual = typeof generation.is_multilingual === 'boolean' ? generation.is_multilingual : languages.size > 1;
  const rawHeads = generation.alignment_heads;
  const alignmentHeads =
    Array.isArray(rawHeads) && rawHeads.length > 0 && rawHeads.every((pair) => Array.isArray(pair) && pair.length === 2 && numbers(pair))
      ? (rawHeads as Array<[number, number]>).map(([layer, head]) => [layer, head] as [number, number])
      : undefined;
  const melFilters = Array.isArray(preprocessor.mel_filters) ? (preprocessor.mel_filters as number[][]) : undefined;
  return {
    tokenizer,
    melFilters,
    config: {
      decoderLayers: require(number(config.decoder_layers), 'decoder_layers'),
      decoderHeads: number(config.decoder_attention_heads) ?? 8,
      encoderHeads: number(config.encoder_attention_heads) ?? number(config.decoder_attention_heads) ?? 8,
      dModel: number(config.d_model) ?? 512,
      melBins: number(preprocessor.feature_size) ?? number(config.num_mel_bins) ?? 80,
      maxTargetPositions: number(config.max_target_positions) ?? 448,
      maxSourcePositions: number(config.max_source_positions) ?? 1500,
      medianFilterWidth: number(config.median_filter_width) ?? 7,
      multilingual,
      endOfText,
      startOfTranscript: require(tokenId('decoder_start_token_id', '<|startoftranscript|>'), '<|startoftranscript|>'),
      startOfPrevious: tokenId('prev_sot_token_id', '<|startofprev|>'),
      startOfLm: tokenizer.id('<|startoflm|>'),
      noSpeech: tokenizer.id('<|nospeech|>') ?? tokenizer.id('<|nocaptions|>'),
      noTimestamps,
      timestampBegin: noTimestamps + 1,
      translate: number(taskToId.translate) ?? tokenizer.id('<|translate|>'),
      transcribe: number(taskToId.transcribe) ?? tokenizer.id('<|transcribe|>'),
      languages,
      suppressTokens: numbers(pick('suppress_tokens')) ?? [],
      beginSuppressTokens: numbers(pick('begin_suppress_tokens')) ?? [220, endOfText],
      maxLength: number(generation.max_length) ?? number(config.max_target_positions) ?? 448,
      alignmentHeads,
      vocabularySize: number(config.vocab_size) ?? tokenizer.size,
    },
  };
}
