/**
 * canary-qwen (canary_salm) in talkies' split layout, on a generated model whose decoder's
 * tokens are known by construction (src/testing/canary-qwen-graphs.ts): the Qwen chat prompt's
 * exact ids, the audio rows spliced in place of the one placeholder, the KV cache and
 * `position_ids` hand-over (same tokens as without the cache), and the stop on `<|im_end|>`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackendConformance } from '@talkies/core/testing';
import { CanaryQwenModel } from '../src/canary-qwen-runtime.js';
import { nemoOptionsSchema } from '../src/engine-options.js';
import { QwenTokenizer, type TokenizerJson } from '../src/qwen-tokenizer.js';
import { expectedCanaryQwenTokens, QWEN_PLACEHOLDER, QWEN_TOKENIZER, TINY_CANARY_QWEN } from '../src/testing/index.js';
import { hasShared, readJfk } from './support/shared-assets.js';
import { createBackend, generatedModels, request } from './support/nemo-fixtures.js';

const SLUG = 'canary-qwen-test-tiny';
const ENTRY = { executor: 'canary_salm', languages: ['en'] };

function speech(seconds: number): Float32Array {
  if (hasShared('audio/jfk.wav')) return readJfk().subarray(0, Math.round(seconds * 16000));
  return Float32Array.from({ length: Math.round(seconds * 16000) }, (_, index) => 0.3 * Math.sin(0.00002 * index * index));
}

let models: Awaited<ReturnType<typeof generatedModels>>;
beforeAll(async () => {
  models = await generatedModels([SLUG]);
});
afterAll(async () => {
  await models?.remove();
});

describeBackendConformance('canary_salm (generated tiny split-layout model)', {
  create: () => createBackend(models.dataDir, SLUG, ENTRY),
  audio: () => speech(4),
});

describe('the Qwen byte-level BPE tokenizer', () => {
  const tokenizer = new QwenTokenizer(QWEN_TOKENIZER.json as TokenizerJson);
  const vocab = (QWEN_TOKENIZER.json as { model: { vocab: Record<string, number> } }).model.vocab;

  it('splits specials first, then Qwen’s pieces, and merges by rank; decoding round-trips', () => {
    expect(tokenizer.encode('<|im_start|>user\nTranscribe the following: ')).toEqual([
      tokenizer.special('<|im_start|>'), vocab.user, vocab['\u010a'], vocab.Transcribe, vocab['\u0120the'], vocab['\u0120following'], vocab[':'], vocab['\u0120'],
    ]);
    expect(tokenizer.decode(tokenizer.encode('hello world, ask not what your country can do.'))).toBe('hello world, ask not what your country can do.');
    expect(tokenizer.decode(tokenizer.encode('naïve 😀'))).toBe('naïve 😀');
    expect(tokenizer.decode([tokenizer.special('<|im_end|>')!, vocab.hello!])).toBe('hello');
  });
});

describe('canary-qwen decoding', () => {
  let model: CanaryQwenModel;
  beforeAll(async () => {
    model = await CanaryQwenModel.load(join(models.dataDir, 'models', SLUG), nemoOptionsSchema.parse({}));
  });
  afterAll(async () => {
    await model?.release();
  });

  it('the prompt is NeMo’s qwen chat turn with one audio placeholder', () => {
    const tokenizer = model.tokenizer;
    const ids = model.promptIds();
    expect(ids.filter((id) => id === QWEN_PLACEHOLDER)).toHaveLength(1);
    expect(tokenizer.decode(ids.filter((id) => id !== QWEN_PLACEHOLDER))).toBe('user\nTranscribe the following: \nassistant\n');
    expect(ids[0]).toBe(tokenizer.special('<|im_start|>'));
    expect(ids[ids.indexOf(QWEN_PLACEHOLDER) + 1]).toBe(tokenizer.special('<|im_end|>'));
    expect(ids).toHaveLength(TINY_CANARY_QWEN.rule.promptTokens + 1);
  });

  for (const seconds of [0.6, 4, 11]) {
    it(`${seconds} s: the spliced prompt goes first, then one row per call, until <|im_end|>; the cache changes nothing`, async () => {
      const audio = (await model.encode(speech(seconds)))!;
      const prompt = model.promptIds();
      const expected = expectedCanaryQwenTokens(TINY_CANARY_QWEN.rule, prompt, QWEN_PLACEHOLDER, audio.frames);
      expect(expected.length).toBe(Math.floor(audio.frames / TINY_CANARY_QWEN.rule.framesPerToken) + 1);
      const decoded = await model.decode(audio, prompt, { recordCalls: true });
      expect(decoded.tokens).toEqual(expected);
      expect(decoded.calls).toEqual([prompt.length - 1 + audio.frames, ...expected.map(() => 1)]);
      expect((await model.decode(audio, prompt, { useCache: false })).tokens).toEqual(expected);
    });
  }

  it('transcribes to the decoded text: one segment over the audio, no words, English', async () => {
    const backend = createBackend(models.dataDir, SLUG, ENTRY);
    await backend.load();
    const audio = speech(5);
    const encoded = (await model.encode(audio))!;
    const expected = model.tokenizer.decode(expectedCanaryQwenTokens(TINY_CANARY_QWEN.rule, model.promptIds(), QWEN_PLACEHOLDER, encoded.frames)).trim();
    const result = await backend.transcribe(request(audio, { timestamps: true }));
    expect(result.text).toBe(expected);
    expect(result.language).toBe('en');
    expect(result.words).toEqual([]);
    expect(result.segments).toHaveLength(1);
    expect(result.segments[0]).toMatchObject({ start: 0, end: 5 });
    await backend.dispose();
  });
});
