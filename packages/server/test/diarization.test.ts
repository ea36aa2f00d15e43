import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietShare } from '@talkies-fixtures/engine-scripted';
import { SCRIPTED, makeTone, startTestServer, type TestServer, readJson } from './test-server.js';

/** The two channels of a 16-bit PCM WAV as float32 (the test's own reader, not the server's). */
async function readStereo(path: string): Promise<{ channels: Float32Array[]; sampleRate: number }> {
  const bytes = await readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 12;
  let sampleRate = 0;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') sampleRate = view.getUint32(offset + 12, true);
    if (id === 'data') {
      const frames = Math.floor(size / 4);
      const channels = [new Float32Array(frames), new Float32Array(frames)];
      for (let frame = 0; frame < frames; frame++) {
        channels[0]![frame] = view.getInt16(offset + 8 + frame * 4, true) / 32768;
        channels[1]![frame] = view.getInt16(offset + 10 + frame * 4, true) / 32768;
      }
      return { channels, sampleRate };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

const sharedAudio = resolve(__dirname, '../../../../shared/audio');
const stereoPath = join(sharedAudio, 'stereo_diarization.wav');
const haveShared = existsSync(stereoPath);
if (!haveShared) console.warn(`diarization tests need ${stereoPath} (../shared/audio beside the repo); skipping them`);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } });
});
afterAll(() => server?.stop());

async function transcribe(fields: Record<string, string>, path: string): Promise<Response> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  form.append('file', new Blob([await readFile(path)]), 'call.wav');
  return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

describe.skipIf(!haveShared)('stereo diarization on a real two-speaker recording', () => {
  it('transcribes each channel and merges them by start time, left first on ties', async () => {
    const response = await transcribe({ model: 'scripted', diarization: 'yes', response_format: 'verbose_json' }, stereoPath);
    expect(response.status).toBe(200);
    const body = await readJson(response);
    expect(body.segments.map((segment: { id: number; channel: string; start: number }) => [segment.id, segment.channel, segment.start])).toEqual([
      [0, 'L', 0],
      [1, 'R', 0],
      [2, 'L', 2],
      [3, 'R', 2],
    ]);
    expect(body.words.every((word: { channel: string }) => word.channel === 'L' || word.channel === 'R')).toBe(true);
    expect(body.text).toBe('L: the quick.\nR: the quick.\nL: quick brown.\nR: quick brown.');
    expect(body.duration).toBeCloseTo(5, 1);
    // Each segment carries the share of quiet samples in its span of the audio its
    // channel's transcription saw: read both channels here and check that every L segment
    // measured the left channel and every R segment the right one (swapped channels fail).
    const { channels, sampleRate } = await readStereo(stereoPath);
    const expected = (channel: 'L' | 'R', start: number, end: number) =>
      quietShare(channels[channel === 'L' ? 0 : 1]!, sampleRate, start, end);
    for (const segment of body.segments as Array<{ channel: 'L' | 'R'; start: number; end: number; no_speech_prob: number }>) {
      expect(segment.no_speech_prob).toBeCloseTo(expected(segment.channel, segment.start, segment.end), 2);
    }
    // The two channels really differ where the test looks (else the check above proves nothing).
    expect(Math.abs(expected('L', 2, 4) - expected('R', 2, 4))).toBeGreaterThan(0.05);
  });

  it('accepts true, 1, yes and on, and prefixes subtitle cues with the channel', async () => {
    for (const flag of ['true', '1', 'ON']) {
      const response = await transcribe({ model: 'scripted', diarization: flag, response_format: 'srt' }, stereoPath);
      expect(await response.text()).toMatch(/^1\n00:00:00,000 --> 00:00:02,000\nL: the quick\.\n\n2\n00:00:00,000 --> 00:00:02,000\nR: the quick\./);
    }
  });

  it('replaces L and R with speaker_labels', async () => {
    const response = await transcribe(
      { model: 'scripted', diarization: 'true', speaker_labels: 'left=Agent,right=Caller' },
      stereoPath,
    );
    expect((await readJson(response)).text).toBe('Agent: the quick.\nCaller: the quick.\nAgent: quick brown.\nCaller: quick brown.');
  });

  it('downmixes stereo without diarization', async () => {
    const response = await transcribe({ model: 'scripted', diarization: 'false', response_format: 'verbose_json' }, stereoPath);
    const body = await readJson(response);
    expect(body.segments.every((segment: Record<string, unknown>) => !('channel' in segment))).toBe(true);
    expect(body.segments).toHaveLength(2);
  });
});

describe('diarization refuses sources that are not stereo', () => {
  it('400 for mono and for three channels, saying how many were found', async () => {
    const mono = await makeTone(join(server.dataDir, 'mono.wav'), 2);
    const monoResponse = await transcribe({ model: 'scripted', diarization: 'true' }, mono);
    expect(monoResponse.status).toBe(400);
    expect((await readJson(monoResponse)).detail).toMatch(/requires a stereo \(2-channel\) source; got 1 channel\(s\)/);
    const three = await makeTone(join(server.dataDir, 'three.wav'), 2, ['-ac', '3']);
    const threeResponse = await transcribe({ model: 'scripted', diarization: 'true' }, three);
    expect(threeResponse.status).toBe(400);
    expect((await readJson(threeResponse)).detail).toMatch(/got 3 channel\(s\)/);
  });

  it('422 for malformed speaker_labels', async () => {
    const mono = await makeTone(join(server.dataDir, 'mono2.wav'), 2);
    const response = await transcribe({ model: 'scripted', diarization: 'true', speaker_labels: 'middle=Bob' }, mono);
    expect(response.status).toBe(422);
  });
});
