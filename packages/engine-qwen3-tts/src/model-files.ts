/** Reading a model directory's text files: config.json and the tokenizer. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { addedTokensOf, BpeTokenizer } from './bpe-tokenizer.js';
import { qwen3ConfigSchema, type Qwen3Config } from './model-config.js';

export async function readConfig(modelDir: string): Promise<Qwen3Config> {
  const raw = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as unknown;
  const parsed = qwen3ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`config.json is not a Qwen3-TTS config: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

export async function readTokenizer(modelDir: string): Promise<BpeTokenizer> {
  const [vocab, merges, tokenizerConfig] = await Promise.all([
    readFile(join(modelDir, 'vocab.json'), 'utf8').then((text) => JSON.parse(text) as Record<string, number>),
    readFile(join(modelDir, 'merges.txt'), 'utf8'),
    readFile(join(modelDir, 'tokenizer_config.json'), 'utf8').then((text) => JSON.parse(text) as unknown),
  ]);
  return new BpeTokenizer({ vocab, merges, added: addedTokensOf(tokenizerConfig) });
}
