import 'reflect-metadata';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentTypeFor, FileStore } from '../src/file-store.js';
import { openRequest, rawRequest, readResponse } from './raw-http.js';
import { SCRIPTED, makeTone, startTestServer, type TestServer, readJson } from './test-server.js';

const MAX_UPLOAD = 256 * 1024;

let server: TestServer;
let root: string;
let outside: string;
let tone: Buffer;

beforeAll(async () => {
  server = await startTestServer({ 'scripted-a': { repo: 'fixtures/a', ...SCRIPTED } }, { maxUploadBytes: MAX_UPLOAD });
  root = join(server.dataDir, 'files');
  outside = await mkdtemp(join(tmpdir(), 'talkies-outside-'));
  await writeFile(join(outside, 'secret.txt'), 'do not leak');
  tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 1, ['-ar', '16000']));
});
afterAll(async () => {
  await server?.stop();
  await rm(outside, { recursive: true, force: true });
});

const call = (method: string, path: string, options?: Parameters<typeof rawRequest>[3]) =>
  rawRequest(server.url, method, path, options);

async function paths(): Promise<string[]> {
  const response = await call('GET', '/v1/files');
  return (response.json.files as { path: string }[]).map((file) => file.path);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('PUT, GET, list and DELETE', () => {
  it('stores a raw body (201 {path, size}) and streams it back as an attachment with its type', async () => {
    const put = await call('PUT', '/v1/files/calls/2026/tone.wav', { body: tone, headers: { 'content-type': 'audio/wav' } });
    expect(put.status).toBe(201);
    expect(put.json).toEqual({ path: 'calls/2026/tone.wav', size: tone.length });
    const get = await call('GET', '/v1/files/calls/2026/tone.wav');
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('audio/wav');
    expect(get.headers['content-disposition']).toBe('attachment; filename="tone.wav"');
    expect(get.headers['x-content-type-options']).toBe('nosniff');
    expect(Number(get.headers['content-length'])).toBe(tone.length);
    expect(get.body.equals(tone)).toBe(true);
  });

  it('guesses the content type from the extension', async () => {
    expect(contentTypeFor('a.wav')).toBe('audio/wav');
    expect(contentTypeFor('a.MP3')).toBe('audio/mpeg');
    expect(contentTypeFor('a.ogg')).toBe('audio/ogg');
    expect(contentTypeFor('a.opus')).toBe('audio/ogg');
    expect(contentTypeFor('a.flac')).toBe('audio/flac');
    expect(contentTypeFor('a.m4a')).toBe('audio/mp4');
    expect(contentTypeFor('a.aac')).toBe('audio/aac');
    expect(contentTypeFor('a.webm')).toBe('audio/webm');
    expect(contentTypeFor('a.mp4')).toBe('video/mp4');
    expect(contentTypeFor('a.json')).toBe('application/json');
    expect(contentTypeFor('a.srt')).toBe('application/x-subrip');
    expect(contentTypeFor('a.vtt')).toBe('text/vtt');
    expect(contentTypeFor('README')).toBe('application/octet-stream');
    expect(contentTypeFor('page.html')).toBe('application/octet-stream');
    expect((await call('PUT', '/v1/files/notes/%E2%82%AC%20b.txt', { body: 'hello' })).json.path).toBe('notes/€ b.txt');
    const text = await call('GET', '/v1/files/notes/%E2%82%AC%20b.txt');
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.headers['content-disposition']).toBe(`attachment; filename="? b.txt"; filename*=UTF-8''%E2%82%AC%20b.txt`);
    expect(text.text).toBe('hello');
  });

  it('strips leading slashes and overwrites', async () => {
    const first = await call('PUT', '/v1/files//lead.txt', { body: 'one' });
    expect(first.json).toEqual({ path: 'lead.txt', size: 3 });
    const second = await call('PUT', '/v1/files/lead.txt', { body: 'second' });
    expect(second.status).toBe(201);
    expect((await call('GET', '/v1/files/lead.txt')).text).toBe('second');
  });

  it('lists regular files sorted by path, with downloads and .part leftovers, skipping symlinks', async () => {
    await mkdir(join(root, 'downloads'), { recursive: true });
    await writeFile(join(root, 'downloads', '0123456789abcdef-a.wav'), 'x');
    await writeFile(join(root, 'lead.txt.part.deadbeef'), 'partial');
    await symlink(join(root, 'lead.txt'), join(root, 'link-to-lead.txt'));
    await symlink(outside, join(root, 'linked-folder'));
    const response = await call('GET', '/v1/files');
    expect(response.status).toBe(200);
    const files = response.json.files as { path: string; size: number; modified: string }[];
    const listed = files.map((file) => file.path);
    expect(listed).toEqual([...listed].sort());
    expect(listed).toEqual(
      expect.arrayContaining(['calls/2026/tone.wav', 'downloads/0123456789abcdef-a.wav', 'lead.txt', 'lead.txt.part.deadbeef']),
    );
    expect(listed.some((path) => path.startsWith('link') || path.includes('secret'))).toBe(false);
    const lead = files.find((file) => file.path === 'lead.txt')!;
    expect(lead.size).toBe(6);
    expect(lead.modified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Math.abs(Date.parse(lead.modified) - Date.now())).toBeLessThan(60_000);
    await rm(join(root, 'link-to-lead.txt'));
    await rm(join(root, 'linked-folder'));
    await rm(join(root, 'lead.txt.part.deadbeef'));
  });

  it('404s missing files, folders and symlinks with `file not found`', async () => {
    await symlink(join(root, 'lead.txt'), join(root, 'inside-link.txt'));
    for (const path of ['nope.wav', 'calls', 'inside-link.txt']) {
      for (const method of ['GET', 'DELETE']) {
        const response = await call(method, `/v1/files/${path}`);
        expect(response.status, `${method} ${path}`).toBe(404);
        expect(response.json.error.message).toMatch(new RegExp(`^file not found: ${path}`));
        expect(response.json.detail).toBe(response.json.error.message);
      }
    }
    await rm(join(root, 'inside-link.txt'));
  });

  it('DELETE answers {deleted} and prunes the folders it empties, never the root', async () => {
    await call('PUT', '/v1/files/keep/a/b/one.txt', { body: '1' });
    await call('PUT', '/v1/files/keep/other.txt', { body: '2' });
    const deleted = await call('DELETE', '/v1/files/keep/a/b/one.txt');
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ deleted: 'keep/a/b/one.txt' });
    expect(await readdir(join(root, 'keep'))).toEqual(['other.txt']);
    await call('DELETE', '/v1/files/keep/other.txt');
    await expect(stat(join(root, 'keep'))).rejects.toThrow();
    await call('PUT', '/v1/files/solo/x.txt', { body: 'x' });
    const everything = await paths();
    for (const path of everything) {
      const encoded = path.split('/').map(encodeURIComponent).join('/');
      expect((await call('DELETE', `/v1/files/${encoded}`)).status, path).toBe(200);
    }
    expect(await paths()).toEqual([]);
    expect((await stat(root)).isDirectory()).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('path rules over raw HTTP (400 naming the rule)', () => {
  const cases: [string, RegExp][] = [
    ['/v1/files/../outside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/a/../../outside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/%2e%2e/outside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/%2E%2E%2Foutside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/%252e%252e/outside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/%25252e%25252e/outside.txt', /forbidden segment '\.\.'/],
    ['/v1/files/a/%2e/b.txt', /forbidden segment '\.'/],
    ['/v1/files/./b.txt', /forbidden segment '\.'/],
    ['/v1/files/a//b.txt', /empty segment/],
    ['/v1/files/a/', /empty segment/],
    ['/v1/files/a%00.txt', /null byte/],
    ['/v1/files/a%2500.txt', /null byte/],
    ['/v1/files/a\\b.txt', /backslash/],
    ['/v1/files/a%5cb.txt', /backslash/],
    ['/v1/files/..%5coutside.txt', /backslash/],
    ['/v1/files/', /path is empty/],
    ['/v1/files//', /path is empty after stripping leading slashes/],
    ['/v1/files/%zz.txt', /not valid percent-encoding/],
  ];

  for (const method of ['GET', 'PUT', 'DELETE']) {
    it(`${method} refuses traversal, encoded traversal, null bytes, backslashes and empty segments`, async () => {
      for (const [path, rule] of cases) {
        const response = await call(method, path, method === 'PUT' ? { body: 'pwned' } : {});
        expect(response.status, `${method} ${path}`).toBe(400);
        expect(response.json.error.code, path).toBe('invalid_request');
        expect(response.json.error.message, path).toMatch(rule);
      }
      await expect(stat(join(server.dataDir, 'outside.txt'))).rejects.toThrow();
      expect(await readdir(outside)).toEqual(['secret.txt']);
    });
  }

  it('refuses symlinks that lead out of the root, for reading, writing and deleting', async () => {
    await mkdir(root, { recursive: true });
    await symlink(outside, join(root, 'escape'));
    await symlink(join(outside, 'secret.txt'), join(root, 'secret-link.txt'));
    await symlink(join(outside, 'created-later'), join(root, 'dangling'));
    try {
      const checks: [string, string][] = [
        ['GET', '/v1/files/escape/secret.txt'],
        ['DELETE', '/v1/files/escape/secret.txt'],
        ['PUT', '/v1/files/escape/new.txt'],
        ['PUT', '/v1/files/escape/deeper/new.txt'],
        ['GET', '/v1/files/secret-link.txt'],
        ['DELETE', '/v1/files/secret-link.txt'],
        ['PUT', '/v1/files/dangling/new.txt'],
      ];
      for (const [method, path] of checks) {
        const response = await call(method, path, method === 'PUT' ? { body: 'pwned' } : {});
        expect(response.status, `${method} ${path}`).toBe(400);
        expect(response.json.error.message, path).toMatch(/path escapes base directory/);
        expect(response.text).not.toMatch(/do not leak/);
      }
      expect(await readdir(outside)).toEqual(['secret.txt']);
      expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('do not leak');
      const form = new FormData();
      form.append('model', 'scripted-a');
      form.append('file_path', 'escape/secret.txt');
      const transcription = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
      expect(transcription.status).toBe(400);
      expect((await readJson(transcription)).error.message).toMatch(/path escapes base directory/);
    } finally {
      for (const name of ['escape', 'secret-link.txt', 'dangling']) await rm(join(root, name));
    }
  });

  it('refuses writing over a folder or under a file', async () => {
    await call('PUT', '/v1/files/box/inner.txt', { body: 'x' });
    const overFolder = await call('PUT', '/v1/files/box', { body: 'x' });
    expect(overFolder.status).toBe(400);
    expect(overFolder.json.error.message).toMatch(/'box' is a folder/);
    const underFile = await call('PUT', '/v1/files/box/inner.txt/child.txt', { body: 'x' });
    expect(underFile.status).toBe(400);
    expect(underFile.json.error.message).toMatch(/parent folder of 'box\/inner.txt\/child.txt' is a file/);
    await call('DELETE', '/v1/files/box/inner.txt');
  });
});

describe('upload cap and atomic writes', () => {
  it('refuses a declared Content-Length over the cap before reading the body', async () => {
    // Nothing of the body is ever sent: the answer must come from the header alone.
    const { request, response } = openRequest(server.url, 'PUT', '/v1/files/big.bin', { 'content-length': MAX_UPLOAD + 1 });
    request.flushHeaders();
    const answer = await readResponse(await response);
    request.destroy();
    expect(answer.status).toBe(413);
    expect(answer.json.error.message).toMatch(/upload too large \(262145 bytes > 262144\).*TALKIES_MAX_UPLOAD_BYTES/);
    expect(await paths()).not.toContain('big.bin');
  });

  it('stops a chunked upload with 413 as soon as it passes the cap, while the client is still sending', async () => {
    const { request, response } = openRequest(server.url, 'PUT', '/v1/files/streamed.bin', { 'transfer-encoding': 'chunked' });
    request.on('error', () => undefined);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    let answered = false;
    void response.then(() => (answered = true));
    // Send just past the cap, then keep the request open: the body is never finished.
    while (sent <= MAX_UPLOAD && !answered) {
      request.write(chunk);
      sent += chunk.length;
      await sleep(5);
    }
    const answer = await readResponse(await response);
    expect(request.writableEnded).toBe(false);
    request.destroy();
    expect(answer.status).toBe(413);
    expect(answer.json.error.message).toMatch(/upload too large \(more than 262144 bytes\)/);
    await until(async () => !(await paths()).some((path) => path.startsWith('streamed.bin')), 'the .part file to go');
  });

  it('accepts exactly the cap', async () => {
    const response = await call('PUT', '/v1/files/exact.bin', { body: Buffer.alloc(MAX_UPLOAD, 1) });
    expect(response.status).toBe(201);
    expect(response.json.size).toBe(MAX_UPLOAD);
    await call('DELETE', '/v1/files/exact.bin');
  });

  it('a killed upload leaves no file and no .part behind, and never shows a partial file', async () => {
    await call('PUT', '/v1/files/killed.bin', { body: 'the old complete version' });
    const { request, response } = openRequest(server.url, 'PUT', '/v1/files/killed.bin', { 'transfer-encoding': 'chunked' });
    request.on('error', () => undefined);
    response.catch(() => undefined);
    request.write(Buffer.alloc(32 * 1024, 1));
    // On disk, not through the listing: the listing never shows partial files.
    const onDisk = async () => readdir(join(server.dataDir, 'files'));
    await until(async () => (await onDisk()).some((path) => path.startsWith('killed.bin.part.')), 'the .part file');
    expect(await paths()).not.toContainEqual(expect.stringContaining('.part.'));
    expect((await call('GET', '/v1/files/killed.bin')).text).toBe('the old complete version');
    request.destroy();
    await until(async () => !(await onDisk()).some((path) => path.startsWith('killed.bin.part.')), 'the .part file to go');
    expect((await call('GET', '/v1/files/killed.bin')).text).toBe('the old complete version');
    await call('DELETE', '/v1/files/killed.bin');
  });
});

describe('FileStore, as MCP uses it', () => {
  it('is one instance per server and puts, stats, lists and deletes', async () => {
    const store = server.container.resolve(FileStore);
    expect(server.container.resolve(FileStore)).toBe(store);
    expect(await store.put('/mcp/hello.json', new TextEncoder().encode('{"a":1}'), 100)).toEqual({ path: 'mcp/hello.json', size: 7 });
    const info = await store.stat('mcp/hello.json');
    expect(info).toMatchObject({ path: 'mcp/hello.json', size: 7, contentType: 'application/json' });
    expect(await readFile(info.absolute, 'utf8')).toBe('{"a":1}');
    expect((await store.list()).map((file) => file.path)).toContain('mcp/hello.json');
    await expect(store.put('mcp/big.bin', new Uint8Array(101), 100)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const stream = Readable.from([Buffer.alloc(60), Buffer.alloc(60)]);
    await expect(store.put('mcp/big.bin', stream, 100)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    await expect(store.put('mcp/../x', new Uint8Array(1), 100)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(await store.delete('mcp/hello.json')).toEqual({ deleted: 'mcp/hello.json' });
    await expect(store.stat('mcp/hello.json')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/^file not found: mcp\/hello.json/) });
    expect((await store.list()).some((file) => file.path.startsWith('mcp/'))).toBe(false);
  });
});
