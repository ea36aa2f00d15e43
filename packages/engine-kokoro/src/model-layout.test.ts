import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpeechError } from '@talkies/core';
import { modelFiles, parseTokensText, parseVoiceIndex } from './model-layout.js';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kokoro-layout-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

describe('snapshot files', () => {
  it('parses tokens.txt, including the line of the space phoneme', () => {
    const vocabulary = parseTokensText('$ 0\na 43\n  16\nɹ 123\n');
    expect(vocabulary.get(' ')).toBe(16);
    expect(vocabulary.get('ɹ')).toBe(123);
    expect(() => parseTokensText('a notanumber\n')).toThrow(/malformed/);
  });

  it('parses voices.txt', () => {
    expect([...parseVoiceIndex('0=af_heart\n1=bm_george\n\n')]).toEqual([['af_heart', 0], ['bm_george', 1]]);
    expect(() => parseVoiceIndex('x=af_heart')).toThrow(/malformed/);
  });

  it('refuses a voices.bin whose size does not match voices.txt', async () => {
    await writeFile(join(directory, 'voices.txt'), '0=af_heart\n1=af_sky\n');
    await writeFile(join(directory, 'voices.bin'), new Uint8Array(522240));
    const files = modelFiles('m', directory, 'nvidia/kokoro-82M-onnx-opt', { layout: 'nvidia' });
    expect(await files.voiceNames()).toEqual(['af_heart', 'af_sky']);
    let error: unknown;
    try {
      await files.voiceTable('af_heart');
    } catch (caught) {
      error = caught;
    }
    expect(SpeechError.is(error) && error.code === 'MODEL_LOAD_FAILED' && /2 voices/.test(error.message)).toBe(true);
  });

  it('names the missing file and the repo to download', async () => {
    const files = modelFiles('kokoro-82m', directory, 'onnx-community/Kokoro-82M-v1.0-ONNX', { layout: 'onnx-community', dtype: 'q8' });
    await expect(files.modelPath()).rejects.toThrow(/onnx\/model_quantized.onnx.*onnx-community\/Kokoro-82M-v1.0-ONNX/);
  });
});
