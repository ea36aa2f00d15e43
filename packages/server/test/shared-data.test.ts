/**
 * Two server processes on one data folder, as replicas on a shared Kubernetes volume
 * are: what one stages the other serves, concurrent writes to one path never show half
 * a file or a mix of two, a replica deleting the last file of a folder does not break
 * the other's upload into it, and URL downloads of one file by both end in one complete
 * cache entry. No temporary `.part` file is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTED, makeTone, readJson } from './test-server.js';

const repositoryRoot = resolve(__dirname, '../../..');
const cli = join(repositoryRoot, 'packages/server/dist/cli.js');

interface Replica {
  url: string;
  child: ChildProcess;
  output(): string;
}

async function startReplica(dataDir: string, modelsFile: string): Promise<Replica> {
  const child = spawn(process.execPath, [cli, 'serve'], {
    cwd: repositoryRoot,
    env: { ...process.env, TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: dataDir, TALKIES_PORT: '0', TALKIES_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onExit = (code: number | null) => reject(new Error(`replica exited early (${code}): ${output}`));
    child.once('exit', onExit);
    const poll = setInterval(() => {
      const match = /"url":"(http:[^"]+)"/.exec(output);
      if (match) {
        clearInterval(poll);
        child.off('exit', onExit);
        resolveUrl(match[1]!);
      }
    }, 20);
  });
  return { url, child, output: () => output };
}

async function stopReplica(replica: Replica | undefined): Promise<void> {
  if (!replica || replica.child.exitCode !== null) return;
  const exited = new Promise((resolveExit) => replica.child.once('exit', resolveExit));
  replica.child.kill('SIGTERM');
  await exited;
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every file under `directory`, relative, recursively. */
async function allFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1));
}

describe('two server processes sharing one data folder', () => {
  let dataDir: string;
  let a: Replica;
  let b: Replica;
  let tone: Buffer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'talkies-shared-'));
    const modelsFile = join(dataDir, 'models.json');
    await writeFile(modelsFile, JSON.stringify({ models: { scripted: { repo: 'fixtures/shared', ...SCRIPTED } } }));
    tone = await readFile(await makeTone(join(tmpdir(), `talkies-shared-tone-${process.pid}.wav`), 4, ['-ar', '16000']));
    [a, b] = await Promise.all([startReplica(dataDir, modelsFile), startReplica(dataDir, modelsFile)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([stopReplica(a), stopReplica(b)]);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves on one replica what the other staged, and forgets it when the other deletes it', async () => {
    expect((await fetch(`${a.url}/v1/files/calls/meeting.wav`, { method: 'PUT', body: new Uint8Array(tone) })).status).toBe(201);
    const listed = await readJson(await fetch(`${b.url}/v1/files`));
    expect(listed.files).toEqual([expect.objectContaining({ path: 'calls/meeting.wav', size: tone.length })]);
    const form = new FormData();
    form.set('model', 'scripted');
    form.set('file_path', 'calls/meeting.wav');
    const transcription = await fetch(`${b.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(transcription.status).toBe(200);
    expect(await readJson(transcription)).toEqual({ text: 'the quick. quick brown.' });
    expect((await fetch(`${b.url}/v1/files/calls/meeting.wav`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${a.url}/v1/files/calls/meeting.wav`)).status).toBe(404);
  });

  it('never shows half a file or a mix of two while both replicas rewrite one path', async () => {
    const versions = Array.from({ length: 6 }, () => randomBytes(512 * 1024));
    const hashes = new Set(versions.map(sha));
    const path = 'shared/hot.bin';
    let writing = true;
    const seen = new Set<string>();
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        for (const replica of [a, b]) {
          const response = await fetch(`${replica.url}/v1/files/${path}`);
          if (response.status === 404) {
            await response.arrayBuffer();
            continue;
          }
          expect(response.status).toBe(200);
          const digest = sha(new Uint8Array(await response.arrayBuffer()));
          expect(hashes.has(digest)).toBe(true);
          seen.add(digest);
          reads += 1;
        }
      }
    })();
    const writes = [];
    for (let round = 0; round < 4; round++) {
      for (const [index, version] of versions.entries()) {
        const replica = index % 2 === 0 ? a : b;
        writes.push(
          fetch(`${replica.url}/v1/files/${path}`, { method: 'PUT', body: new Uint8Array(version) }).then(async (response) =>
            response.status === 201 ? '201' : `${response.status} ${await response.text()}`,
          ),
        );
      }
    }
    const written = await Promise.all(writes).finally(() => (writing = false));
    await reader;
    expect(new Set(written)).toEqual(new Set(['201']));
    expect(reads).toBeGreaterThan(0);
    expect(seen.size).toBeGreaterThan(0);
    // Both replicas agree on the final content.
    const [fromA, fromB] = await Promise.all([a, b].map(async (replica) => sha(new Uint8Array(await (await fetch(`${replica.url}/v1/files/${path}`)).arrayBuffer()))));
    expect(fromA).toBe(fromB);
    expect(hashes.has(fromA!)).toBe(true);
  });

  it("does not break one replica's upload when the other empties and removes the folder", async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 15; round++) {
      // b deletes the folder's only file (and with it the folder) while a writes a sibling.
      await fetch(`${b.url}/v1/files/race/${round}/old.wav`, { method: 'PUT', body: new Uint8Array(tone.subarray(0, 4096)) });
      const [removed, stored] = await Promise.all([
        fetch(`${b.url}/v1/files/race/${round}/old.wav`, { method: 'DELETE' }),
        fetch(`${a.url}/v1/files/race/${round}/new.wav`, { method: 'PUT', body: new Uint8Array(tone) }),
      ]);
      statuses.push(removed.status, stored.status);
      expect((await fetch(`${b.url}/v1/files/race/${round}/new.wav`)).status).toBe(200);
    }
    expect(new Set(statuses)).toEqual(new Set([200, 201]));
  });

  describe('the URL download cache', () => {
    let origin: Server;
    let originUrl: string;
    let hits = 0;

    beforeAll(async () => {
      // Sends the file slowly, so both replicas download it at the same time.
      origin = createServer((request, response) => {
        hits += 1;
        response.writeHead(200, { 'content-type': 'audio/wav', 'content-length': tone.length });
        let offset = 0;
        const timer = setInterval(() => {
          const next = tone.subarray(offset, offset + 16 * 1024);
          offset += next.length;
          if (next.length > 0) response.write(next);
          if (offset >= tone.length) {
            clearInterval(timer);
            response.end();
          }
        }, 10);
        response.once('close', () => clearInterval(timer));
      });
      await new Promise<void>((resolveListen) => origin.listen(0, '127.0.0.1', resolveListen));
      const address = origin.address() as { port: number };
      originUrl = `http://127.0.0.1:${address.port}/recordings/shared%20call.wav`;
    });
    afterAll(async () => {
      await new Promise((resolveClose) => origin?.close(resolveClose));
    });

    const transcribeUrl = (replica: Replica) => {
      const form = new FormData();
      form.set('model', 'scripted');
      form.set('file_path', originUrl);
      return fetch(`${replica.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    };

    it('ends with one complete cache entry when both replicas download the same URL at once', async () => {
      const responses = await Promise.all([transcribeUrl(a), transcribeUrl(b), transcribeUrl(a), transcribeUrl(b)]);
      for (const response of responses) {
        expect(response.status).toBe(200);
        expect(await readJson(response)).toEqual({ text: 'the quick. quick brown.' });
      }
      // One download per replica at most (each shares its own between its requests).
      expect(hits).toBeGreaterThanOrEqual(1);
      expect(hits).toBeLessThanOrEqual(2);
      const cached = await allFiles(join(dataDir, 'files', 'downloads'));
      expect(cached).toEqual([expect.stringMatching(/^[0-9a-f]{16}-shared_call\.wav$/)]);
      expect(sha(await readFile(join(dataDir, 'files', 'downloads', cached[0]!)))).toBe(sha(tone));
      // From now on both answer from the shared cache.
      const before = hits;
      expect((await transcribeUrl(b)).status).toBe(200);
      expect((await transcribeUrl(a)).status).toBe(200);
      expect(hits).toBe(before);
    });
  });

  it('leaves no temporary file behind', async () => {
    const leftovers = (await allFiles(join(dataDir, 'files'))).filter((file) => file.includes('.part'));
    expect(leftovers).toEqual([]);
    for (const replica of [a, b]) expect(replica.output()).not.toMatch(/"level":(50|60)/);
  });
});
