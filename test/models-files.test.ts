import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '@talkies/core';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

async function jsonFilesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json') && entry.name.startsWith('models'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('every shipped models.json validates against the registry schema', async () => {
  const files = [join(root, 'models.json'), ...(await jsonFilesUnder(join(root, 'examples')))];
  it('finds the root models.json and the examples', () => {
    expect(files.length).toBeGreaterThan(1);
  });
  for (const file of files) {
    it(file.slice(root.length + 1), async () => {
      const registry = ModelRegistry.fromJson(JSON.parse(await readFile(file, 'utf8')), { source: file });
      expect(registry.slugs.length).toBeGreaterThan(0);
    });
  }
  for (const file of files) {
    it(`${file.slice(root.length + 1)} maps OpenAI's model names (whisper-1, tts-1, tts-1-hd) to its own models`, async () => {
      const registry = ModelRegistry.fromJson(JSON.parse(await readFile(file, 'utf8')), { source: file });
      const modality = (name: string) => registry.get(registry.resolve(name) ?? '')?.modality;
      expect(modality('tts-1')).toBe('tts');
      expect(modality('tts-1-hd')).toBe('tts');
      const hasAsr = registry.entries().some(([, entry]) => entry.modality === 'asr');
      expect(modality('whisper-1')).toBe(hasAsr ? 'asr' : undefined);
    });
  }
  it('the root models.json ships the espeak TTS model so a fresh install can speak', async () => {
    const registry = ModelRegistry.fromJson(JSON.parse(await readFile(join(root, 'models.json'), 'utf8')));
    expect(registry.get('espeak')).toMatchObject({ executor: 'espeak', modality: 'tts' });
  });
});
