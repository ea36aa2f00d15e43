import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { SCRIPTED, gate, makeTone, startTestServer, type TestServer, readJson } from './test-server.js';

let tone: Uint8Array;
let server: TestServer | undefined;

beforeAll(async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const directory = await mkdtemp(join(tmpdir(), 'talkies-tone-'));
  tone = await readFile(await makeTone(join(directory, 'tone.wav'), 2));
});

afterEach(async () => {
  for (const { open } of openGates) open();
  openGates.length = 0;
  scriptedControl.gates.clear();
  await server?.stop();
  server = undefined;
});

const openGates: { open(): void }[] = [];
function hold(model: string): () => void {
  const held = gate();
  openGates.push(held);
  scriptedControl.gates.set(model, held.promise);
  return () => {
    scriptedControl.gates.delete(model);
    held.open();
  };
}

function transcribe(model: string): Promise<Response> {
  const form = new FormData();
  form.append('model', model);
  form.append('file', new Blob([tone]), 'tone.wav');
  return fetch(`${server!.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

async function ps(): Promise<{ id: string; idle_seconds: number | null; active_requests: number; max_concurrency: number; repo: string }[]> {
  return ((await readJson(await fetch(`${server!.url}/api/ps`))) as { models: never[] }).models;
}

function eventsFor(model: string) {
  return scriptedControl.events.filter((event) => event.model === model).map((event) => event.event);
}

/** Poll until `check` passes (the server works asynchronously to the test). */
async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  // A deadline, not a count of tries: on a busy machine ffmpeg's decode alone can take seconds.
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

const two = (prefix: string, extra: Record<string, unknown> = {}) => ({
  [`${prefix}-a`]: { repo: 'fixtures/a', ...SCRIPTED, ...extra },
  [`${prefix}-b`]: { repo: 'fixtures/b', ...SCRIPTED, ...extra },
});

describe('GET /v1/models, /healthz, /api/ps', () => {
  it('lists models with modality and loaded ones with idle_seconds and active_requests', async () => {
    server = await startTestServer(two('list'));
    const models = await readJson(await fetch(`${server.url}/v1/models`));
    expect(models.object).toBe('list');
    expect(models.data.map((model: { id: string; modality: string }) => [model.id, model.modality])).toEqual([
      ['list-a', 'asr'],
      ['list-b', 'asr'],
    ]);
    expect(await readJson(await fetch(`${server.url}/healthz`))).toEqual({ ok: true, device: 'cpu', models: ['list-a', 'list-b'] });
    expect(await ps()).toEqual([]);
    expect((await transcribe('list-a')).status).toBe(200);
    server.advance(1500);
    expect(await ps()).toEqual([
      { id: 'list-a', repo: 'fixtures/a', loaded: true, idle_seconds: 1.5, active_requests: 0, max_concurrency: 1 },
    ]);
  });
});

describe('eviction pool through HTTP', () => {
  it('keeps one model resident by default: loading b evicts a', async () => {
    server = await startTestServer(two('evict'));
    expect((await transcribe('evict-a')).status).toBe(200);
    expect((await transcribe('evict-b')).status).toBe(200);
    expect((await ps()).map((model) => model.id)).toEqual(['evict-b']);
    expect(eventsFor('evict-a')).toEqual(['load', 'transcribe-start', 'transcribe-end', 'dispose']);
  });

  it('TALKIES_MAX_LOADED_MODELS=2 keeps both and evicts the least recently used for a third', async () => {
    server = await startTestServer(
      { ...two('lru'), 'lru-c': { repo: 'fixtures/c', ...SCRIPTED } },
      { maxLoadedModels: 2 },
    );
    await transcribe('lru-a');
    server.advance(10);
    await transcribe('lru-b');
    server.advance(10);
    await transcribe('lru-a');
    server.advance(10);
    expect((await ps()).map((model) => model.id).sort()).toEqual(['lru-a', 'lru-b']);
    await transcribe('lru-c');
    expect((await ps()).map((model) => model.id).sort()).toEqual(['lru-a', 'lru-c']);
    expect(eventsFor('lru-b').at(-1)).toBe('dispose');
  });

  it('never unloads a model that is serving: b waits for a to finish', async () => {
    server = await startTestServer(two('busy'));
    const release = hold('busy-a');
    const first = transcribe('busy-a');
    await eventually(() => eventsFor('busy-a').includes('transcribe-start'), 'a to start');
    const second = transcribe('busy-b');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(eventsFor('busy-a')).not.toContain('dispose');
    expect(eventsFor('busy-b')).toEqual([]);
    expect(await ps()).toMatchObject([{ id: 'busy-a', active_requests: 1 }]);
    release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(eventsFor('busy-a')).toEqual(['load', 'transcribe-start', 'transcribe-end', 'dispose']);
    const order = scriptedControl.events
      .filter((event) => event.model.startsWith('busy-'))
      .map((event) => `${event.model}:${event.event}`);
    expect(order.indexOf('busy-a:dispose')).toBeLessThan(order.indexOf('busy-b:load'));
  });

  it('queues requests past max_concurrency instead of failing them', async () => {
    server = await startTestServer(two('queue'));
    const release = hold('queue-a');
    const requests = [transcribe('queue-a'), transcribe('queue-a'), transcribe('queue-a')];
    await eventually(() => eventsFor('queue-a').includes('transcribe-start'), 'first to start');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(eventsFor('queue-a').filter((event) => event === 'transcribe-start')).toHaveLength(1);
    expect(await ps()).toMatchObject([{ id: 'queue-a', active_requests: 1, max_concurrency: 1 }]);
    release();
    const responses = await Promise.all(requests);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    // Serialised: each request ended before the next began.
    expect(eventsFor('queue-a').filter((event) => event.startsWith('transcribe'))).toEqual([
      'transcribe-start', 'transcribe-end', 'transcribe-start', 'transcribe-end', 'transcribe-start', 'transcribe-end',
    ]);
  });

  it('runs requests side by side up to max_concurrency', async () => {
    server = await startTestServer(two('wide', { max_concurrency: 2 }));
    const release = hold('wide-a');
    const requests = [transcribe('wide-a'), transcribe('wide-a'), transcribe('wide-a')];
    await eventually(
      () => eventsFor('wide-a').filter((event) => event === 'transcribe-start').length === 2,
      'two to start',
    );
    expect(await ps()).toMatchObject([{ id: 'wide-a', active_requests: 2, max_concurrency: 2 }]);
    release();
    expect((await Promise.all(requests)).map((response) => response.status)).toEqual([200, 200, 200]);
  });

  it('DELETE /api/ps/{id} while busy waits for the request, then unloads', async () => {
    server = await startTestServer(two('delete'));
    const release = hold('delete-a');
    const request = transcribe('delete-a');
    await eventually(() => eventsFor('delete-a').includes('transcribe-start'), 'a to start');
    let deleted = false;
    const deletion = fetch(`${server.url}/api/ps/delete-a`, { method: 'DELETE' }).then((response) => {
      deleted = true;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(deleted).toBe(false);
    expect(eventsFor('delete-a')).not.toContain('dispose');
    release();
    expect((await request).status).toBe(200);
    const response = await deletion;
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ unloaded: 'delete-a' });
    expect(await ps()).toEqual([]);
  });

  it('DELETE resolves ids with "/" given raw or %2F-encoded, and decodes them once', async () => {
    server = await startTestServer({ 'org/model': { repo: 'fixtures/x', ...SCRIPTED } });
    for (const path of ['org/model', 'org%2Fmodel', 'org%2fmodel']) {
      expect((await transcribe('org/model')).status).toBe(200);
      const response = await fetch(`${server.url}/api/ps/${path}`, { method: 'DELETE' });
      expect(response.status, path).toBe(200);
      expect(await readJson(response)).toEqual({ unloaded: 'org/model' });
    }
    const notLoaded = await fetch(`${server.url}/api/ps/org%2Fmodel`, { method: 'DELETE' });
    expect(notLoaded.status).toBe(404);
    expect((await readJson(notLoaded)).error.code).toBe('model_not_loaded');
    // Decoded once: %252F is the literal text %2F, which no slug contains.
    const doubled = await fetch(`${server.url}/api/ps/org%252Fmodel`, { method: 'DELETE' });
    expect(doubled.status).toBe(404);
    expect((await readJson(doubled)).detail).toBe("unknown model 'org%2Fmodel'; configured: org/model");
    const unknown = await fetch(`${server.url}/api/ps/nope`, { method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect((await readJson(unknown)).detail).toBe("unknown model 'nope'; configured: org/model");
  });

  it('POST /unload unloads everything and reports what it unloaded', async () => {
    server = await startTestServer(two('all'), { maxLoadedModels: 2 });
    await transcribe('all-a');
    await transcribe('all-b');
    const response = await fetch(`${server.url}/unload`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(((await readJson(response)).unloaded as string[]).sort()).toEqual(['all-a', 'all-b']);
    expect(await ps()).toEqual([]);
    expect(await readJson(await fetch(`${server.url}/unload`, { method: 'POST' }))).toEqual({ unloaded: [] });
  });
});

describe('idle sweeper with an injected clock', () => {
  it('unloads a model idle for TALKIES_MODEL_TTL and keeps a busy or fresh one', async () => {
    server = await startTestServer(two('sweep'), { modelTtlSeconds: 60, maxLoadedModels: 2 });
    await transcribe('sweep-a');
    server.advance(30_000);
    const release = hold('sweep-b');
    const busy = transcribe('sweep-b');
    await eventually(() => eventsFor('sweep-b').includes('transcribe-start'), 'b to start');
    expect(await server.sweeper.tick()).toEqual([]);
    server.advance(30_000);
    expect(await server.sweeper.tick()).toEqual(['sweep-a']);
    server.advance(120_000);
    expect(await server.sweeper.tick()).toEqual([]);
    release();
    await busy;
    server.advance(59_000);
    expect(await server.sweeper.tick()).toEqual([]);
    server.advance(1_000);
    expect(await server.sweeper.tick()).toEqual(['sweep-b']);
    expect(await ps()).toEqual([]);
  });

  it('TTL 0 disables sweeping', async () => {
    server = await startTestServer(two('nosweep'), { modelTtlSeconds: 0 });
    await transcribe('nosweep-a');
    server.advance(10 ** 9);
    expect(await server.sweeper.tick()).toEqual([]);
    expect(await ps()).toHaveLength(1);
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, then disposes the models', async () => {
    server = await startTestServer(two('shutdown'));
    const release = hold('shutdown-a');
    const request = transcribe('shutdown-a');
    await eventually(() => eventsFor('shutdown-a').includes('transcribe-start'), 'a to start');
    const closing = server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(eventsFor('shutdown-a')).not.toContain('dispose');
    release();
    expect((await request).status).toBe(200);
    await closing;
    expect(eventsFor('shutdown-a').at(-1)).toBe('dispose');
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
