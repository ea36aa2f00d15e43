/**
 * ffmpeg opens only the file it was handed: uploads, staged files and downloads that are
 * playlists or lists of other files are refused by name, and nothing they point at is
 * ever read. The canary is a spoken recording outside the data folder; no answer may carry
 * its transcript, its duration or its path.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from './raw-http.js';
import { probe, SCRIPTED, startTestServer, type TestServer, readJson } from './test-server.js';

const run = promisify(execFile);

let outside: string;
let canary: string;
let canaryDuration: number;

beforeAll(async () => {
  outside = await mkdtemp(join(tmpdir(), 'talkies-canary-'));
  const spoken = join(outside, 'spoken.wav');
  await run('espeak-ng', ['-w', spoken, 'the canary sings at midnight, seven three one']);
  canary = join(outside, 'secret.mp3');
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-i', spoken, canary]);
  canaryDuration = (await probe(canary)).duration;
});
afterAll(() => rm(outside, { recursive: true, force: true }));

const hlsPlaylist = () => `#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:11.0,\nfile://${canary}\n#EXT-X-ENDLIST\n`;
const ffconcat = () => `ffconcat version 1.0\nfile '${canary}'\n`;

async function transcribe(server: TestServer, fields: Record<string, string>, file?: { bytes: Uint8Array; name: string }) {
  const form = new FormData();
  form.append('model', 'scripted');
  form.append('response_format', 'verbose_json');
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file) form.append('file', new Blob([file.bytes]), file.name);
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  return { status: response.status, text: await response.text() };
}

/** Nothing of the canary in an answer: not its transcript (the scripted engine's words), its length, or where it lives. */
function expectNoCanary(text: string): void {
  expect(text).not.toContain(outside);
  expect(text).not.toMatch(/quick|brown|"duration"/);
  expect(text).not.toContain(canaryDuration.toFixed(2));
}

for (const blockPrivateDownloads of [false, true]) {
  describe(`with TALKIES_BLOCK_PRIVATE_DOWNLOADS=${blockPrivateDownloads}`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } }, { blockPrivateDownloads });
    });
    afterAll(() => server?.stop());

    it('the canary itself is readable audio (so the refusals below mean something)', async () => {
      const { status, text } = await transcribe(server, {}, { bytes: await readFile(canary), name: 'secret.mp3' });
      expect(status).toBe(200);
      // (mp3 encoder padding: within a tenth of a second)
      expect(Math.abs(JSON.parse(text).duration - canaryDuration)).toBeLessThan(0.1);
      expect(text).toMatch(/quick/);
    });

    for (const name of ['list.m3u8', 'list.wav']) {
      it(`an uploaded HLS playlist named ${name} is refused by name`, async () => {
        const { status, text } = await transcribe(server, {}, { bytes: Buffer.from(hlsPlaylist()), name });
        expect(status).toBe(400);
        expect(JSON.parse(text).error.message).toMatch(/^input refused: it is a 'hls' file, which points at other files or URLs/);
        expectNoCanary(text);
      });

      it(`a staged HLS playlist named ${name} (PUT /v1/files, then file_path) is refused by name`, async () => {
        const put = await rawRequest(server.url, 'PUT', `/v1/files/attack/${name}`, { body: hlsPlaylist() });
        expect(put.status).toBe(201);
        const { status, text } = await transcribe(server, { file_path: `attack/${name}` });
        expect(status).toBe(400);
        expect(JSON.parse(text).detail).toMatch(/'hls' file/);
        expectNoCanary(text);
      });
    }

    it('an ffconcat list is refused, uploaded or staged', async () => {
      const uploaded = await transcribe(server, {}, { bytes: Buffer.from(ffconcat()), name: 'list.wav' });
      expect(uploaded.status).toBe(400);
      expect(JSON.parse(uploaded.text).error.message).toMatch(/'concat' file/);
      expectNoCanary(uploaded.text);
      await rawRequest(server.url, 'PUT', '/v1/files/attack/concat.txt', { body: ffconcat() });
      const staged = await transcribe(server, { file_path: 'attack/concat.txt' });
      expect(staged.status).toBe(400);
      expectNoCanary(staged.text);
    });

    it('the playlist is refused with diarization too', async () => {
      const { status, text } = await transcribe(server, { diarization: 'true' }, { bytes: Buffer.from(hlsPlaylist()), name: 'call.wav' });
      expect(status).toBe(400);
      expect(text).toMatch(/'hls' file/);
      expectNoCanary(text);
    });

    it("ffmpeg's own words stay in the log: the client gets a short message", async () => {
      const { status, text } = await transcribe(server, {}, { bytes: Buffer.from('this is not audio at all '.repeat(40)), name: 'a.mp3' });
      expect(status).toBe(400);
      const body = JSON.parse(text);
      expect(body.error.message).toBe('audio could not be decoded; send a complete audio or video file (wav, mp3, ogg, opus, flac, m4a, webm, …)');
      expect(text).not.toMatch(/0x[0-9a-f]{6,}|talkies-uploads|Invalid data|ffprobe/);
    });
  });
}

describe('file_path URLs keep only audio', () => {
  let server: TestServer;
  let origin: Server;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } });
    origin = createServer((request, response) => {
      if (request.url === '/internal/status.html') response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>internal admin page: secret token 1234</body></html>');
      else if (request.url === '/list.m3u8') response.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(hlsPlaylist());
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await server?.stop();
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
  });

  async function downloads(): Promise<string[]> {
    return readdir(join(server.dataDir, 'files', 'downloads')).catch(() => []);
  }

  it('a downloaded page that is not audio is deleted at once, never listed or served', async () => {
    const { status, text } = await transcribe(server, { file_path: `${base}/internal/status.html` });
    expect(status).toBe(400);
    expect(JSON.parse(text).error.message).toMatch(/was deleted, it is not audio talkies can read/);
    expect(text).not.toContain('secret token');
    expect(await downloads()).toEqual([]);
    const listed = await readJson(await fetch(`${server.url}/v1/files`));
    expect(listed.files.filter((file: { path: string }) => file.path.startsWith('downloads/'))).toEqual([]);
  });

  it('a downloaded playlist is refused by name and deleted', async () => {
    const { status, text } = await transcribe(server, { file_path: `${base}/list.m3u8` });
    expect(status).toBe(400);
    expect(text).toMatch(/'hls' file/);
    expectNoCanary(text);
    expect(await downloads()).toEqual([]);
  });
});
