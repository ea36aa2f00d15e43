import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseTiktoken, tokenizerConfigJson, tokenizerJson } from './testing/tokenizer-files.js';
import { specialTokenLayout } from './special-tokens.js';
import { WhisperTokenizer, type TokenizerJson } from './whisper-tokenizer.js';
import { hasShared, whisperAssetsDirectory } from '../test/support/shared-assets.js';

const SAMPLES = [
  ' And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.',
  " It's 3.14 o'clock — naïve café, Grüße, 日本語のテキスト, emoji 🎉 and   spaces\n\ttabs.",
  'Привет, мир! ¿Qué tal? 12345678 ',
];

describe.skipIf(!hasShared('whisper-assets/multilingual.tiktoken'))('WhisperTokenizer on the real multilingual vocabulary', () => {
  let json: TokenizerJson;
  let tokenizer: WhisperTokenizer;
  const layout = specialTokenLayout(50257, 99);
  beforeAll(() => {
    const tokens = parseTiktoken(readFileSync(join(whisperAssetsDirectory, 'multilingual.tiktoken'), 'utf8'));
    expect(tokens.length).toBe(50257);
    json = tokenizerJson(tokens, layout) as TokenizerJson;
    tokenizer = new WhisperTokenizer(json);
  });

  it('has the multilingual special-token ids', () => {
    expect(tokenizer.size).toBe(51865);
    expect(tokenizer.id('<|endoftext|>')).toBe(50257);
    expect(tokenizer.id('<|startoftranscript|>')).toBe(50258);
    expect(tokenizer.id('<|en|>')).toBe(50259);
    expect(tokenizer.id('<|su|>')).toBe(50357);
    expect(tokenizer.id('<|translate|>')).toBe(50358);
    expect(tokenizer.id('<|transcribe|>')).toBe(50359);
    expect(tokenizer.id('<|startofprev|>')).toBe(50361);
    expect(tokenizer.id('<|nospeech|>')).toBe(50362);
    expect(tokenizer.id('<|notimestamps|>')).toBe(50363);
    expect(tokenizer.id('<|0.00|>')).toBe(50364);
    expect(tokenizer.id('<|30.00|>')).toBe(51864);
  });

  it('round-trips text through encode and decode', () => {
    for (const text of SAMPLES) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('encodes a known sentence to the ids openai/whisper gives', () => {
    // tiktoken's whisper multilingual encoding of " Hello world" is [2425, 1002].
    expect(tokenizer.encode(' Hello world')).toEqual([2425, 1002]);
  });

  it('encodes and decodes like transformers.js on the same tokenizer.json', async () => {
    const { PreTrainedTokenizer } = await import('@huggingface/transformers');
    const reference = new PreTrainedTokenizer(json, tokenizerConfigJson(layout));
    for (const text of SAMPLES) {
      const ids = tokenizer.encode(text);
      expect(reference.encode(text, { add_special_tokens: false })).toEqual(ids);
      expect(reference.decode(ids)).toBe(tokenizer.decode(ids));
    }
    // Random ids decode to the same text, broken UTF-8 included.
    let seed = 7;
    for (let round = 0; round < 50; round++) {
      const ids = Array.from({ length: 20 }, () => (seed = (seed * 48271) % 2147483647) % 50257);
      expect(tokenizer.decode(ids)).toBe(reference.decode(ids));
    }
  });
});
