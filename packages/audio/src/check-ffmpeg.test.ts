import { SpeechError } from '@talkies/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkFfmpeg } from './check-ffmpeg.js';

describe('checkFfmpeg', () => {
  const previous = { ffmpeg: process.env.TALKIES_FFMPEG, ffprobe: process.env.TALKIES_FFPROBE };
  afterEach(() => {
    for (const [key, value] of [['TALKIES_FFMPEG', previous.ffmpeg], ['TALKIES_FFPROBE', previous.ffprobe]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('returns the binaries and the ffmpeg version, and caches the answer', async () => {
    const first = checkFfmpeg();
    expect(checkFfmpeg()).toBe(first);
    const result = await first;
    expect(result.ffmpeg).toBe(process.env.TALKIES_FFMPEG || 'ffmpeg');
    expect(result.ffprobe).toBe(process.env.TALKIES_FFPROBE || 'ffprobe');
    expect(result.version).toMatch(/^\S+$/);
  });

  it.each(['TALKIES_FFMPEG', 'TALKIES_FFPROBE'] as const)('says how to install ffmpeg when %s points nowhere', async (variable) => {
    process.env[variable] = '/nonexistent/talkies-test-binary';
    const error = await checkFfmpeg().catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toContain('apt-get install ffmpeg');
    expect((error as Error).message).toContain(variable);
  });
});
