import { createReadStream, readFileSync } from 'node:fs';
import { SpeechError } from '@talkies/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureDirectory, type FixtureDirectory } from './__fixtures__/generate-audio.js';
import { probeAudio } from './probe-audio.js';

let fixtures: FixtureDirectory;

beforeAll(() => {
  fixtures = fixtureDirectory();
});
afterAll(() => fixtures.remove());

describe('probeAudio', () => {
  it('describes the first audio stream of a file', async () => {
    const path = fixtures.tone('stereo.flac', { seconds: 1.5, extra: ['-ac', '2'] });
    expect(await probeAudio(path)).toEqual({ format: 'flac', channels: 2, duration: 1.5, codec: 'flac', sampleFormat: 's16', sampleRate: 44100 });
  });

  it('reads bytes and streams', async () => {
    const path = fixtures.tone('tone.mp3', { seconds: 1, sampleRate: 24000 });
    const fromBytes = await probeAudio(readFileSync(path));
    expect(fromBytes).toMatchObject({ channels: 1, codec: 'mp3', sampleRate: 24000 });
    const fromStream = await probeAudio(createReadStream(path));
    expect(fromStream).toMatchObject({ channels: 1, codec: 'mp3', sampleRate: 24000 });
  });

  it('says when there is no audio stream', async () => {
    const path = fixtures.make('video.mkv', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=32x32:rate=5', '-c:v', 'mjpeg']);
    const error = await probeAudio(path).catch((caught: unknown) => caught);
    expect(SpeechError.is(error) && error.code).toBe('AUDIO_DECODE_FAILED');
    expect((error as Error).message).toBe('ffprobe: no audio stream in upload; send a file with an audio track');
  });

  it('rejects garbage and empty input', async () => {
    const garbage = await probeAudio(Buffer.from('not audio '.repeat(100))).catch((caught: unknown) => caught);
    expect(SpeechError.is(garbage) && garbage.code).toBe('AUDIO_DECODE_FAILED');
    expect((garbage as Error).message).toMatch(/^audio could not be decoded; send a complete audio or video file/);
    // ffprobe's own words are the cause, for the log.
    expect(((garbage as Error).cause as Error).message).toMatch(/^ffprobe: .*Invalid data/s);
    const empty = await probeAudio(new Uint8Array(0)).catch((caught: unknown) => caught);
    expect(SpeechError.is(empty) && empty.code).toBe('INVALID_REQUEST');
  });
});
