import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { SCRIPTED, startTestServer, type TestServer, readJson } from './test-server.js';

const run = promisify(execFile);
const jfk = resolve(__dirname, '../../../../shared/audio/jfk.wav');
const haveShared = existsSync(jfk);
if (!haveShared) console.warn(`long-audio tests need ${jfk} (../shared/audio beside the repo); skipping them`);

let server: TestServer;
let tenMinutes: string;

beforeAll(async () => {
  server = await startTestServer({
    chunked: { repo: 'fixtures/a', ...SCRIPTED, engineOptions: { longForm: false } },
    whole: { repo: 'fixtures/b', ...SCRIPTED },
  });
  if (!haveShared) return;
  // Ten minutes of real speech: jfk.wav (11 s) followed by 1.5 s of silence, 48 times.
  tenMinutes = join(server.dataDir, 'ten-minutes.flac');
  await run('ffmpeg', [
    '-loglevel', 'error', '-y', '-i', jfk, '-f', 'lavfi', '-t', '1.5', '-i', 'anullsrc=r=16000:cl=mono',
    '-filter_complex', '[0:a][1:a]concat=n=2:v=0:a=1,aloop=loop=47:size=200000[out]', '-map', '[out]', '-ac', '1', '-ar', '16000', tenMinutes,
  ]);
}, 120_000);
afterAll(() => server?.stop());

async function transcribe(model: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.append('model', model);
  form.append('response_format', 'verbose_json');
  form.append('file', new Blob([await readFile(path)]), 'long.flac');
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  return { status: response.status, body: await readJson(response) };
}

describe.skipIf(!haveShared)('long audio through the server', () => {
  it('cuts a 10-minute recording at pauses into chunks no longer than 28 s and stitches one result', async () => {
    const before = scriptedControl.events.length;
    const { status, body } = await transcribe('chunked', tenMinutes);
    expect(status).toBe(200);
    const calls = scriptedControl.events.slice(before).filter((event) => event.model === 'chunked' && event.event === 'transcribe-start');
    expect(calls.length).toBeGreaterThan(20);
    for (const call of calls) expect(call.seconds!).toBeLessThanOrEqual(28);
    const duration = body.duration as number;
    expect(duration).toBeCloseTo(48 * 12.5, 0);
    const segments = body.segments as { id: number; start: number; end: number }[];
    expect(segments.length).toBeGreaterThan(calls.length);
    segments.forEach((segment, index) => {
      expect(segment.id).toBe(index);
      expect(segment.start).toBeGreaterThanOrEqual(index === 0 ? 0 : segments[index - 1]!.start);
      expect(segment.end).toBeGreaterThanOrEqual(segment.start);
      expect(segment.end).toBeLessThanOrEqual(duration);
    });
  });

  it('hands the whole recording to a backend that handles long audio itself', async () => {
    const before = scriptedControl.events.length;
    const { status, body } = await transcribe('whole', tenMinutes);
    expect(status).toBe(200);
    const calls = scriptedControl.events.slice(before).filter((event) => event.model === 'whole' && event.event === 'transcribe-start');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.seconds!).toBeCloseTo(body.duration as number, 1);
  });

  it('sends audio of 30 s or less whole, even to a backend that needs chunking', async () => {
    const before = scriptedControl.events.length;
    const { status } = await transcribe('chunked', jfk);
    expect(status).toBe(200);
    const calls = scriptedControl.events.slice(before).filter((event) => event.model === 'chunked' && event.event === 'transcribe-start');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.seconds!).toBeCloseTo(11, 0);
  });
});
