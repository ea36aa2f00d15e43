/**
 * Generated Qwen3-TTS models for tests and benchmarks (`pnpm fixtures`): the split ONNX
 * export's files with random weights (see qwen3-graphs.ts), the checkpoint's config.json
 * with the real special-token, codec-control, language and speaker ids, a tiny byte-level
 * BPE tokenizer whose byte tokens and chat-template tokens have Qwen2's real ids, and for
 * the base mode a `voices/` folder of reference recordings. One model per mode.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelEntry } from '@talkies/core';
import { pcm16WavFile, SeededWeights } from '@talkies/testkit';
import { BYTE_CHARACTERS, byteOrder } from '../bpe-tokenizer.js';
import { GRAPHS } from '../model-layout.js';
import {
  buildCodecDecodeGraph,
  buildCodecEmbedGraph,
  buildCodecEncodeGraph,
  buildPredictorEmbedGraph,
  buildPredictorGraph,
  buildSpeakerEncoderGraph,
  buildTalkerGraph,
  buildTextProjectGraph,
  type Qwen3GraphOptions,
} from './qwen3-graphs.js';

export { SAMPLES_PER_FRAME, CODEC_RECEPTIVE_FRAMES } from './qwen3-graphs.js';
export * from './qwen3-graphs.js';

/** Codec control ids of the Qwen3-TTS-12Hz talker (config.json `talker_config`). */
export const CODEC_IDS = {
  codec_pad_id: 2148,
  codec_bos_id: 2149,
  codec_eos_token_id: 2150,
  codec_think_id: 2154,
  codec_nothink_id: 2155,
  codec_think_bos_id: 2156,
  codec_think_eos_id: 2157,
} as const;

/** `talker_config.codec_language_id` as written into the fixtures. */
export const FIXTURE_LANGUAGE_IDS = {
  chinese: 2055,
  english: 2050,
  german: 2053,
  italian: 2070,
  portuguese: 2071,
  spanish: 2054,
  japanese: 2058,
  korean: 2064,
  french: 2061,
  russian: 2069,
} as const;

/** `talker_config.spk_id` of the CustomVoice checkpoints as written into the fixtures. */
export const FIXTURE_SPEAKER_IDS = {
  serena: 3066,
  vivian: 3065,
  uncle_fu: 3010,
  ryan: 3061,
  aiden: 2861,
  ono_anna: 2873,
  sohee: 2864,
  eric: 2875,
  dylan: 2878,
} as const;

/** Qwen2 ids of the chat-template pieces (the fixture vocabulary keeps them). */
export const TEXT_IDS = {
  endoftext: 151643,
  im_start: 151644,
  im_end: 151645,
  tts_pad: 151671,
  tts_bos: 151672,
  tts_eos: 151673,
  assistant: 77091,
  user: 872,
  newline: 198,
} as const;

export const FIXTURE_SLUGS = {
  base: 'qwen3-tts-0.6b',
  custom: 'qwen3-tts-0.6b-custom',
  customLarge: 'qwen3-tts-1.7b-custom',
  design: 'qwen3-tts-1.7b-design',
} as const;

/** The built-in reference voices of the base fixture; `alloy` has a transcript, `echo` has none. */
export const FIXTURE_VOICES = { alloy: 'A short reference recording.', echo: undefined, fable: 'Another voice.' } as const;

export interface Qwen3FixtureOptions {
  /** Slugs to write (default: all four). */
  only?: Set<string>;
  /** Talker width (default 16), layers (default 2), heads (default 2). */
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  /** Talker position after which codec_eos wins (default 56). */
  eosAfter?: number;
  /** Predictor layers (default 1). */
  predictorLayers?: number;
}

export function graphOptions(options: Qwen3FixtureOptions = {}, seed = 11): Qwen3GraphOptions {
  return {
    seed,
    hiddenSize: options.hiddenSize ?? 16,
    layers: options.layers ?? 2,
    heads: options.heads ?? 2,
    talkerVocab: 3072,
    codebookSize: 2048,
    codeGroups: 16,
    codecEos: CODEC_IDS.codec_eos_token_id,
    eosAfter: options.eosAfter ?? 56,
    predictorLayers: options.predictorLayers,
  };
}

/** A byte-level BPE vocabulary: the 256 byte tokens at Qwen2's ids, merges up to `assistant` (77091) and `user` (872). */
export function tokenizerFiles(): { vocab: Record<string, number>; merges: string; tokenizerConfig: object } {
  const vocab: Record<string, number> = {};
  byteOrder().forEach((byte, id) => {
    vocab[BYTE_CHARACTERS[byte]!] = id;
  });
  const merges: string[] = [];
  let next = 256;
  const chain = (word: string, finalId: number) => {
    let current = word[0]!;
    for (let index = 1; index < word.length; index++) {
      const merged = current + word[index]!;
      merges.push(`${current} ${word[index]}`);
      if (vocab[merged] === undefined) vocab[merged] = index === word.length - 1 ? finalId : next++;
      current = merged;
    }
  };
  chain('assistant', TEXT_IDS.assistant);
  chain('user', TEXT_IDS.user);
  const added: Record<string, string> = {
    [TEXT_IDS.endoftext]: '<|endoftext|>',
    [TEXT_IDS.im_start]: '<|im_start|>',
    [TEXT_IDS.im_end]: '<|im_end|>',
    [TEXT_IDS.tts_pad]: '<tts_pad>',
    [TEXT_IDS.tts_bos]: '<tts_text_bos>',
    [TEXT_IDS.tts_eos]: '<tts_text_eod>',
  };
  return {
    vocab,
    merges: `#version: 0.2\n${merges.join('\n')}\n`,
    tokenizerConfig: {
      tokenizer_class: 'Qwen2Tokenizer',
      added_tokens_decoder: Object.fromEntries(Object.entries(added).map(([id, content]) => [id, { content, special: true }])),
    },
  };
}

export function fixtureConfig(mode: 'base' | 'custom_voice' | 'voice_design', size: '0b6' | '1b7', graph: Qwen3GraphOptions): object {
  return {
    architectures: ['Qwen3TTSForConditionalGeneration'],
    tts_model_type: mode,
    tts_model_size: size,
    im_start_token_id: TEXT_IDS.im_start,
    im_end_token_id: TEXT_IDS.im_end,
    tts_pad_token_id: TEXT_IDS.tts_pad,
    tts_bos_token_id: TEXT_IDS.tts_bos,
    tts_eos_token_id: TEXT_IDS.tts_eos,
    talker_config: {
      hidden_size: graph.hiddenSize,
      num_hidden_layers: graph.layers,
      num_attention_heads: graph.heads,
      num_key_value_heads: graph.heads,
      head_dim: graph.hiddenSize / graph.heads,
      vocab_size: graph.talkerVocab,
      num_code_groups: graph.codeGroups,
      ...CODEC_IDS,
      codec_language_id: FIXTURE_LANGUAGE_IDS,
      spk_id: mode === 'custom_voice' ? FIXTURE_SPEAKER_IDS : {},
      code_predictor_config: { vocab_size: graph.codebookSize, num_code_groups: graph.codeGroups },
    },
  };
}

/** A mono 16-bit WAV (samples clamped to [-1, 1] and scaled by 32767). */
export function wavFile(samples: Float32Array, sampleRate: number): Uint8Array {
  const pcm = Buffer.alloc(samples.length * 2);
  samples.forEach((sample, index) => pcm.writeInt16LE(Math.round(Math.max(-1, Math.min(1, sample)) * 32767), index * 2));
  return pcm16WavFile(pcm, sampleRate);
}

/** A voice-like test signal: a few harmonics with a wobble and noise, `seconds` long at 24 kHz. */
export function referenceRecording(seed: number, seconds = 1.5): Float32Array {
  const random = new SeededWeights(seed);
  const base = 110 + random.integer(120);
  const samples = new Float32Array(Math.round(24000 * seconds));
  for (let index = 0; index < samples.length; index++) {
    const time = index / 24000;
    const pitch = base * (1 + 0.05 * Math.sin(2 * Math.PI * 3 * time));
    let value = 0;
    for (let harmonic = 1; harmonic <= 4; harmonic++) value += Math.sin(2 * Math.PI * pitch * harmonic * time) / harmonic;
    samples[index] = 0.3 * value + 0.02 * random.uniform();
  }
  return samples;
}

/** Writes one model directory. */
export async function writeModel(
  directory: string,
  mode: 'base' | 'custom_voice' | 'voice_design',
  size: '0b6' | '1b7',
  options: Qwen3FixtureOptions = {},
  seed = 11,
): Promise<void> {
  const graph = graphOptions(options, seed);
  await mkdir(directory, { recursive: true });
  const tokenizer = tokenizerFiles();
  const files: Array<[string, string | Uint8Array]> = [
    ['config.json', JSON.stringify(fixtureConfig(mode, size, graph), null, 2)],
    ['vocab.json', JSON.stringify(tokenizer.vocab)],
    ['merges.txt', tokenizer.merges],
    ['tokenizer_config.json', JSON.stringify(tokenizer.tokenizerConfig, null, 2)],
    [GRAPHS.textProject, buildTextProjectGraph(graph)],
    [GRAPHS.codecEmbed, buildCodecEmbedGraph(graph)],
    [GRAPHS.predictorEmbed, buildPredictorEmbedGraph(graph)],
    [GRAPHS.talkerPrefill, buildTalkerGraph(graph, 'prefill')],
    [GRAPHS.talkerDecode, buildTalkerGraph(graph, 'decode')],
    [GRAPHS.predictor, buildPredictorGraph(graph)],
    [GRAPHS.codecDecode, buildCodecDecodeGraph(graph)],
  ];
  if (mode === 'base') {
    files.push([GRAPHS.speakerEncoder, buildSpeakerEncoderGraph(graph)], [GRAPHS.codecEncode, buildCodecEncodeGraph(graph)]);
    await mkdir(join(directory, 'voices'), { recursive: true });
    let voiceSeed = 100;
    for (const [name, transcript] of Object.entries(FIXTURE_VOICES)) {
      files.push([`voices/${name}.wav`, wavFile(referenceRecording(voiceSeed++), 24000)]);
      if (transcript) files.push([`voices/${name}.txt`, transcript]);
    }
  }
  for (const [name, content] of files) await writeFile(join(directory, name), content);
}

export function fixtureEntries(): Record<string, ModelEntry> {
  const common = { executor: 'qwen3_tts', modality: 'tts' as const, default_language: 'English', license: 'Apache-2.0' };
  return {
    [FIXTURE_SLUGS.base]: { ...common, repo: 'talkies-fixtures/qwen3-tts-0.6b-base-onnx', qwen3_mode: 'base', default_voice: 'alloy', languages: ['English', 'Chinese'] },
    [FIXTURE_SLUGS.custom]: { ...common, repo: 'talkies-fixtures/qwen3-tts-0.6b-customvoice-onnx', qwen3_mode: 'custom_voice', default_voice: 'Vivian', languages: ['English', 'Chinese', 'Japanese', 'Korean'] },
    [FIXTURE_SLUGS.customLarge]: { ...common, repo: 'talkies-fixtures/qwen3-tts-1.7b-customvoice-onnx', qwen3_mode: 'custom_voice', default_voice: 'Vivian', languages: ['English', 'Chinese', 'Japanese', 'Korean'] },
    [FIXTURE_SLUGS.design]: { ...common, repo: 'talkies-fixtures/qwen3-tts-1.7b-voicedesign-onnx', qwen3_mode: 'voice_design', default_voice: 'design', languages: ['English', 'Chinese', 'Japanese', 'Korean'] },
  } as Record<string, ModelEntry>;
}

const MODES: Record<string, ['base' | 'custom_voice' | 'voice_design', '0b6' | '1b7']> = {
  [FIXTURE_SLUGS.base]: ['base', '0b6'],
  [FIXTURE_SLUGS.custom]: ['custom_voice', '0b6'],
  [FIXTURE_SLUGS.customLarge]: ['custom_voice', '1b7'],
  [FIXTURE_SLUGS.design]: ['voice_design', '1b7'],
};

/** Writes `<outDir>/models/<slug>/` for each fixture; returns their models.json entries. */
export async function writeFixtures(outDir: string, options: Qwen3FixtureOptions = {}): Promise<Record<string, ModelEntry>> {
  const written: Record<string, ModelEntry> = {};
  for (const [slug, entry] of Object.entries(fixtureEntries())) {
    if (options.only && !options.only.has(slug)) continue;
    const [mode, size] = MODES[slug]!;
    await writeModel(join(outDir, 'models', slug), mode, size, options);
    written[slug] = entry;
  }
  return written;
}
