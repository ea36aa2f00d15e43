/**
 * The parts of a Qwen3-TTS checkpoint's `config.json` the engine reads: the special token
 * ids of the text tokenizer, the codec control tokens, the language and speaker ids, and
 * the talker's shape. Everything the engine feeds the graphs comes from here, never from
 * constants, so a checkpoint with other ids just works.
 */
import { z } from 'zod';

const idMap = z.record(z.string(), z.number().int().min(0));

const talkerConfigSchema = z
  .object({
    hidden_size: z.number().int().min(1),
    num_hidden_layers: z.number().int().min(1),
    num_key_value_heads: z.number().int().min(1),
    head_dim: z.number().int().min(1).optional(),
    num_attention_heads: z.number().int().min(1).optional(),
    vocab_size: z.number().int().min(1),
    num_code_groups: z.number().int().min(2).default(16),
    codec_bos_id: z.number().int().min(0),
    codec_eos_token_id: z.number().int().min(0),
    codec_pad_id: z.number().int().min(0),
    codec_think_id: z.number().int().min(0),
    codec_nothink_id: z.number().int().min(0),
    codec_think_bos_id: z.number().int().min(0),
    codec_think_eos_id: z.number().int().min(0),
    codec_language_id: idMap.default({}),
    spk_id: idMap.default({}),
    code_predictor_config: z.object({ vocab_size: z.number().int().min(1) }).loose().optional(),
  })
  .loose();

export const qwen3ConfigSchema = z
  .object({
    tts_model_type: z.enum(['base', 'custom_voice', 'voice_design']).optional(),
    tts_model_size: z.string().optional(),
    im_start_token_id: z.number().int().min(0).default(151644),
    im_end_token_id: z.number().int().min(0).default(151645),
    tts_pad_token_id: z.number().int().min(0).default(151671),
    tts_bos_token_id: z.number().int().min(0).default(151672),
    tts_eos_token_id: z.number().int().min(0).default(151673),
    talker_config: talkerConfigSchema,
  })
  .loose();

export type Qwen3Config = z.output<typeof qwen3ConfigSchema>;

/** What generation needs from the config, flattened. */
export interface TalkerSpecials {
  imStart: number;
  imEnd: number;
  ttsPad: number;
  ttsBos: number;
  ttsEos: number;
  codecBos: number;
  codecEos: number;
  codecPad: number;
  codecThink: number;
  codecNothink: number;
  codecThinkBos: number;
  codecThinkEos: number;
  /** Talker vocabulary: codes [0, codebookSize) are audio, the rest control tokens. */
  talkerVocab: number;
  /** Codes per codebook (the code predictor's vocabulary). */
  codebookSize: number;
  codeGroups: number;
  /** Lower-case language name → codec language token. */
  languages: Record<string, number>;
  /** Lower-case speaker name → codec speaker token. */
  speakers: Record<string, number>;
}

export function talkerSpecials(config: Qwen3Config): TalkerSpecials {
  const talker = config.talker_config;
  const lower = (map: Record<string, number>) => Object.fromEntries(Object.entries(map).map(([name, id]) => [name.toLowerCase(), id]));
  return {
    imStart: config.im_start_token_id,
    imEnd: config.im_end_token_id,
    ttsPad: config.tts_pad_token_id,
    ttsBos: config.tts_bos_token_id,
    ttsEos: config.tts_eos_token_id,
    codecBos: talker.codec_bos_id,
    codecEos: talker.codec_eos_token_id,
    codecPad: talker.codec_pad_id,
    codecThink: talker.codec_think_id,
    codecNothink: talker.codec_nothink_id,
    codecThinkBos: talker.codec_think_bos_id,
    codecThinkEos: talker.codec_think_eos_id,
    talkerVocab: talker.vocab_size,
    codebookSize: talker.code_predictor_config?.vocab_size ?? 2048,
    codeGroups: talker.num_code_groups,
    languages: lower(talker.codec_language_id),
    speakers: lower(talker.spk_id),
  };
}

/** Speaker names as the seed lists them: first letters capitalised (`Uncle_Fu`, `Ono_Anna`). */
export function displaySpeakerName(name: string): string {
  return name
    .split('_')
    .map((part) => (part ? part[0]!.toUpperCase() + part.slice(1) : part))
    .join('_');
}
