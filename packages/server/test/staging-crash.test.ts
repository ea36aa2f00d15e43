/**
 * Staging survives a crash (issue 8, item 3): partial writes are never listed or served,
 * a crash's leftovers are removed at the next boot, folders left empty are pruned, and a
 * body that stops arriving is cut with 408 while one that keeps moving is not.
 */
import { existsSync, type Dirent } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTED, makeTone, readJson, startTestServer, type TestServer } from './test-server.js';
import { openRequest, rawRequest, readResponse } from './raw-http.js';

const repositoryRoot = resolve(__dirname, '../../..');
const cli = join(repositoryRoot, 'packages/server/dist/cli.js');
const PARTIAL = /\.part\.[0-9a-f]{12}$/;

/** Every path under `directory`, folders with a trailing slash. */
async function tree(directory: string): Promise<string[]> {
  // A recursive walk fails when a folder vanishes under it (the server prunes while we
  // look): walk again rather than report an empty tree. Only a missing root is empty.
  let entries: Dirent[] | undefined;
  for (let attempt = 0; entries === undefined; attempt++) {
    try {
      entries = await readdir(directory, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 50) throw error;
      if (!existsSync(directory)) return [];
    }
  }
  return entries
    .map((entry) => {
      const path = join(entry.parentPath, entry.name).slice(directory.length + 1);
      return entry.isDirectory() ? `${path}/` : path;
    })
    .sort();
}

async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 25));
  }
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

describe('partial writes in a running server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } });
  });
  afterAll(() => server?.stop());

  it('an upload in progress is neither listed nor served, and its name is reserved', async () => {
    const files = join(server.dataDir, 'files');
    const upload = openRequest(server.url, 'PUT', '/v1/files/uploads/big.bin', { 'content-length': 200_000 });
    upload.request.write(Buffer.alloc(100_000, 1));
    const part = await eventually(async () => (await tree(files)).find((path) => PARTIAL.test(path)), 'the partial file on disk');
    expect(part).toMatch(/^uploads\/big\.bin\.part\.[0-9a-f]{12}$/);
    expect((await readJson(await fetch(`${server.url}/v1/files`))).files).toEqual([]);
    for (const method of ['GET', 'DELETE', 'PUT'] as const) {
      const response = await rawRequest(server.url, method, `/v1/files/${part}`, method === 'PUT' ? { body: 'x' } : {});
      expect(response.status, method).toBe(400);
      expect(response.json.detail, method).toMatch(/reserved for uploads in progress/);
    }
    const form = new FormData();
    form.append('model', 'scripted');
    form.append('file_path', part);
    const transcription = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(transcription.status).toBe(400);
    expect((await readJson(transcription)).error.param).toBe('file_path');

    upload.request.end(Buffer.alloc(100_000, 2));
    const done = await readResponse(await upload.response);
    expect(done.status).toBe(201);
    expect(done.json).toEqual({ path: 'uploads/big.bin', size: 200_000 });
    expect(await tree(files)).toEqual(['uploads/', 'uploads/big.bin']);
  });

  it('an aborted upload leaves neither its partial file nor the folders it created', async () => {
    const files = join(server.dataDir, 'files');
    await fetch(`${server.url}/v1/files/kept/a.txt`, { method: 'PUT', body: 'kept' });
    const upload = openRequest(server.url, 'PUT', '/v1/files/kept/deep/er/b.bin', { 'content-length': 100_000 });
    upload.response.catch(() => undefined);
    upload.request.write(Buffer.alloc(50_000));
    await eventually(async () => (await tree(files)).some((path) => PARTIAL.test(path)), 'the partial file on disk');
    upload.request.destroy();
    await eventually(async () => !(await tree(files)).some((path) => path.startsWith('kept/deep')), 'the aborted upload to be cleaned');
    expect(await tree(files)).toEqual(expect.arrayContaining(['kept/', 'kept/a.txt']));
    expect((await tree(files)).filter((path) => path.startsWith('kept'))).toEqual(['kept/', 'kept/a.txt']);
  });
});

describe('abandoned partial writes are swept while the server runs', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } }, { stalePartialSeconds: 1 });
  });
  afterAll(() => server?.stop());

  it('a part left untouched is removed with the folder it leaves empty; a live upload is not', async () => {
    const files = join(server.dataDir, 'files');
    await mkdir(join(files, 'crashed'), { recursive: true });
    await writeFile(join(files, 'crashed/a.wav.part.aaaaaaaaaaaa'), 'left by a crash');
    // A live upload, slower than the sweep's age limit in total but written to all along.
    const upload = openRequest(server.url, 'PUT', '/v1/files/live/b.bin', { 'content-length': 16 * 1024 * 15 });
    for (let index = 0; index < 15; index++) {
      upload.request.write(Buffer.alloc(16 * 1024, index));
      await sleep(200);
    }
    upload.request.end();
    const response = await readResponse(await upload.response);
    expect(response.status, response.text).toBe(201);
    await eventually(async () => !(await tree(files)).some((path) => path.startsWith('crashed')), 'the abandoned part to be swept');
    expect(await tree(files)).toEqual(['live/', 'live/b.bin']);
  });
});

describe('a body that stops arriving (TALKIES_BODY_IDLE_TIMEOUT)', () => {
  let server: TestServer;
  let tone: Buffer;
  beforeAll(async () => {
    server = await startTestServer({ scripted: { repo: 'fixtures/a', ...SCRIPTED } }, { bodyIdleTimeoutSeconds: 1 });
    const { readFile } = await import('node:fs/promises');
    tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 1));
  });
  afterAll(() => server?.stop());

  it('a PUT trickling one byte at a time is cut with 408, and leaves nothing behind', async () => {
    const files = join(server.dataDir, 'files');
    const started = Date.now();
    const upload = openRequest(server.url, 'PUT', '/v1/files/slow/loris.bin', { 'content-length': 1000 });
    upload.request.on('error', () => undefined);
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < 1000 && !upload.request.destroyed) upload.request.write(Buffer.from([sent++ & 0xff]));
    }, 200);
    try {
      const response = await readResponse(await upload.response);
      expect(response.status).toBe(408);
      expect(response.headers.connection).toBe('close');
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.json.error.code).toBe('request_timeout');
      expect(response.json.detail).toMatch(/stalled.*TALKIES_BODY_IDLE_TIMEOUT/);
    } finally {
      clearInterval(trickle);
    }
    // Bytes kept coming every 200 ms, so this is not a plain idle timeout: within two windows.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(sent).toBeGreaterThan(3);
    await eventually(async () => !(await tree(files)).some((path) => path.startsWith('slow')), 'the stalled upload to be cleaned');
  });

  it('a body that stops altogether is cut too, for multipart and JSON bodies alike', async () => {
    for (const [path, type] of [
      ['/v1/audio/transcriptions', 'multipart/form-data; boundary=xyz'],
      ['/v1/audio/speech', 'application/json'],
    ] as const) {
      const request = openRequest(server.url, 'POST', path, { 'content-length': 5000, 'content-type': type });
      request.request.on('error', () => undefined);
      request.request.write(type.startsWith('multipart') ? '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nscripted\r\n' : '{"model":');
      const response = await readResponse(await request.response);
      expect(response.status, path).toBe(408);
      request.request.destroy();
    }
  });

  it('a long upload that keeps moving is not cut', async () => {
    const chunk = Buffer.alloc(16 * 1024, 7);
    const chunks = 20;
    const upload = openRequest(server.url, 'PUT', '/v1/files/steady.bin', { 'content-length': chunk.length * chunks });
    for (let index = 0; index < chunks; index++) {
      upload.request.write(chunk);
      await sleep(150); // 3 s in all: three windows of the 1 s timeout
    }
    upload.request.end();
    const response = await readResponse(await upload.response);
    expect(response.status, response.text).toBe(201);
    expect(response.json).toEqual({ path: 'steady.bin', size: chunk.length * chunks });
  });

  it('a slow transcription after a complete body is not cut (the timeout covers the body only)', async () => {
    const form = new FormData();
    form.append('model', 'scripted');
    form.append('file', new Blob([tone]), 'tone.wav');
    const { scriptedControl } = await import('@talkies-fixtures/engine-scripted');
    let open!: () => void;
    scriptedControl.gates.set('scripted', new Promise<void>((resolveGate) => (open = resolveGate)));
    const answer = fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    await sleep(2500);
    open();
    scriptedControl.gates.delete('scripted');
    const response = await answer;
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ text: 'the quick.' });
  });
});

describe('kill -9 during an upload, then a restart', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.length = 0;
  });

  async function serve(dataDir: string, modelsFile: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
    const child = spawn(process.execPath, [cli, 'serve'], {
      cwd: repositoryRoot,
      env: { ...process.env, TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: dataDir, TALKIES_PORT: '0', TALKIES_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
    const url = await eventually(() => {
      if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${output}`);
      return /"url":"(http:[^"]+)"/.exec(output)?.[1];
    }, 'the server to listen', 20_000);
    return { child, url, output: () => output };
  }

  it('the partial file is removed at boot, empty folders are pruned, complete files stay', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'talkies-crash-'));
    const modelsFile = join(dataDir, 'models.json');
    await writeFile(modelsFile, JSON.stringify({ models: { scripted: { repo: 'fixtures/a', ...SCRIPTED } } }));
    const files = join(dataDir, 'files');
    try {
      const first = await serve(dataDir, modelsFile);
      expect((await fetch(`${first.url}/v1/files/keep/a.txt`, { method: 'PUT', body: 'complete' })).status).toBe(201);
      // An empty folder from some earlier life of the data directory.
      await mkdir(join(files, 'empty/nested'), { recursive: true });

      // A raw socket, so nothing on our side finishes or aborts the upload politely.
      const { port } = new URL(first.url);
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`PUT /v1/files/uploads/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(3 * 1024 * 1024, 9));
      const part = await eventually(async () => {
        const found = (await tree(files)).find((path) => PARTIAL.test(path));
        return found && (await stat(join(files, found))).size >= 3 * 1024 * 1024 ? found : undefined;
      }, '3 MiB of the partial file on disk');
      expect((await readJson(await fetch(`${first.url}/v1/files`))).files.map((file: { path: string }) => file.path)).toEqual(['keep/a.txt']);

      const killed = new Promise((resolveExit) => first.child.once('exit', (_code, signal) => resolveExit(signal)));
      first.child.kill('SIGKILL');
      expect(await killed).toBe('SIGKILL');
      socket.destroy();
      // The crash left it there: nothing got to clean up.
      expect((await stat(join(files, part))).size).toBeGreaterThanOrEqual(3 * 1024 * 1024);
      // As if the restart came a while later (a part counts as abandoned after 10 minutes untouched)…
      const longAgo = new Date(Date.now() - 11 * 60 * 1000);
      await utimes(join(files, part), longAgo, longAgo);
      // …while another replica on the same volume is writing this one right now: it stays.
      await mkdir(join(files, 'other'), { recursive: true });
      const live = 'other/upload.bin.part.0123456789ab';
      await writeFile(join(files, live), 'in progress elsewhere');

      const second = await serve(dataDir, modelsFile);
      expect(await tree(files)).toEqual(['keep/', 'keep/a.txt', 'other/', live]);
      const listed = await readJson(await fetch(`${second.url}/v1/files`));
      expect(listed.files.map((file: { path: string }) => file.path)).toEqual(['keep/a.txt']);
      expect((await fetch(`${second.url}/v1/files/${part}`)).status).toBe(400);
      expect(await (await fetch(`${second.url}/v1/files/keep/a.txt`)).text()).toBe('complete');
      expect(second.output()).toMatch(/removed partial writes left by an earlier crash/);
      expect(second.output()).toContain(part);
      second.child.kill('SIGTERM');
      await new Promise((resolveExit) => second.child.once('exit', resolveExit));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
