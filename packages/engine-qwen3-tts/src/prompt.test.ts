/**
 * Prompt ids per mode against hand-written expectations, built from the reference's
 * documented format (QwenLM/Qwen3-TTS: the assistant chat template, the user turn for
 * instructions, the codec think/language/speaker/pad/bos track beside tts_pad/tts_bos,
 * the first text token with codec_bos, the rest and tts_eos one per frame).
 */
import { describe, expect, it } from 'vitest';
import { addedTokensOf, BpeTokenizer } from './bpe-tokenizer.js';
import { qwen3ConfigSchema, talkerSpecials } from './model-config.js';
import { buildPrompt } from './prompt.js';
import { CODEC_IDS, fixtureConfig, FIXTURE_LANGUAGE_IDS, FIXTURE_SPEAKER_IDS, graphOptions, TEXT_IDS, tokenizerFiles } from './testing/index.js';

const files = tokenizerFiles();
const tokenizer = new BpeTokenizer({ vocab: files.vocab, merges: files.merges, added: addedTokensOf(files.tokenizerConfig) });
const specials = talkerSpecials(qwen3ConfigSchema.parse(fixtureConfig('custom_voice', '1b7', graphOptions())));

// Byte-level ids of GPT-2/Qwen2 vocabularies: printable ASCII byte b has id b − 33.
const H = 'H'.charCodeAt(0) - 33;
const i = 'i'.charCodeAt(0) - 33;
const dot = '.'.charCodeAt(0) - 33;
const { im_start, im_end, assistant, user, newline, tts_pad, tts_bos, tts_eos } = TEXT_IDS;
const { codec_think_id: think, codec_nothink_id: nothink, codec_think_bos_id: thinkBos, codec_think_eos_id: thinkEos, codec_pad_id: pad, codec_bos_id: bos } = CODEC_IDS;

describe('the Qwen2 tokenizer', () => {
  it('keeps chat-template tokens whole and spells the rest with byte-level BPE', () => {
    expect(tokenizer.encode('<|im_start|>assistant\nHi<|im_end|>\n')).toEqual([im_start, assistant, newline, H, i, im_end, newline]);
    expect(tokenizer.encode('<|im_start|>user\n')).toEqual([im_start, user, newline]);
    // A space is its own byte character (Ġ, id 220) joined to the word that follows.
    expect(tokenizer.encode(' a')).toEqual([220, 'a'.charCodeAt(0) - 33]);
    // Multi-byte UTF-8 is spelled byte by byte: é is 0xC3 0xA9.
    expect(tokenizer.encode('é')).toHaveLength(2);
  });
});

describe('prompt plans (hand-written ids)', () => {
  it('custom voice with a language: role, think/language/speaker/pad beside tts_pad, tts_bos, first text token with codec_bos', () => {
    const plan = buildPrompt(tokenizer, specials, { mode: 'custom_voice', text: 'Hi.', languageToken: FIXTURE_LANGUAGE_IDS.english, speakerToken: FIXTURE_SPEAKER_IDS.ryan });
    expect(plan.rows).toEqual([
      { text: im_start },
      { text: assistant },
      { text: newline },
      { text: tts_pad, codec: think },
      { text: tts_pad, codec: thinkBos },
      { text: tts_pad, codec: FIXTURE_LANGUAGE_IDS.english },
      { text: tts_pad, codec: thinkEos },
      { text: tts_pad, codec: FIXTURE_SPEAKER_IDS.ryan },
      { text: tts_bos, codec: pad },
      { text: H, codec: bos },
    ]);
    expect(plan.trailing).toEqual([i, dot, tts_eos]);
  });

  it('without a language: nothink, think_bos, think_eos; instructions first as a user turn', () => {
    const plan = buildPrompt(tokenizer, specials, { mode: 'voice_design', text: 'Hi', instructions: 'Hi' });
    expect(plan.rows).toEqual([
      { text: im_start },
      { text: user },
      { text: newline },
      { text: H },
      { text: i },
      { text: im_end },
      { text: newline },
      { text: im_start },
      { text: assistant },
      { text: newline },
      { text: tts_pad, codec: nothink },
      { text: tts_pad, codec: thinkBos },
      { text: tts_pad, codec: thinkEos },
      { text: tts_bos, codec: pad },
      { text: H, codec: bos },
    ]);
    expect(plan.trailing).toEqual([i, tts_eos]);
  });

  it('base with the x-vector only: the speaker row sits where a preset speaker would', () => {
    const plan = buildPrompt(tokenizer, specials, { mode: 'base', text: 'Hi', languageToken: FIXTURE_LANGUAGE_IDS.english, xVector: true });
    expect(plan.rows.slice(3)).toEqual([
      { text: tts_pad, codec: think },
      { text: tts_pad, codec: thinkBos },
      { text: tts_pad, codec: FIXTURE_LANGUAGE_IDS.english },
      { text: tts_pad, codec: thinkEos },
      { text: tts_pad, speaker: true },
      { text: tts_bos, codec: pad },
      { text: H, codec: bos },
    ]);
  });

  it('base with a transcript (ICL): transcript and text beside codec_bos and the reference frames', () => {
    // Text track: transcript "Hi" + text "Hi." + tts_eos = 6 ids; codec track: bos + 2 frames = 3.
    const plan = buildPrompt(tokenizer, specials, { mode: 'base', text: 'Hi.', languageToken: FIXTURE_LANGUAGE_IDS.english, xVector: true, reference: { transcript: 'Hi', frames: 2 } });
    expect(plan.rows.slice(-4)).toEqual([
      { text: tts_bos, codec: pad },
      { text: H, codec: bos },
      { text: i, referenceFrame: 0 },
      { text: H, referenceFrame: 1 },
    ]);
    expect(plan.trailing).toEqual([i, dot, tts_eos]);
    // A longer reference than text: the text track is padded with tts_pad, nothing trails.
    const long = buildPrompt(tokenizer, specials, { mode: 'base', text: 'H', xVector: true, reference: { transcript: 'i', frames: 4 } });
    expect(long.rows.slice(-5).map((row) => row.text)).toEqual([i, H, tts_eos, tts_pad, tts_pad]);
    expect(long.trailing).toEqual([]);
  });
});
