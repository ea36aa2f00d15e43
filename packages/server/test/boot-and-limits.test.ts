import { request } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startServer } from '../src/index.js';
import { SCRIPTED, startTestServer, type TestServer, readJson } from './test-server.js';

async function bootWith(models: unknown, environment: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const directory = await mkdtemp(join(tmpdir(), 'talkies-boot-'));
  const modelsFile = join(directory, 'models.json');
  await writeFile(modelsFile, typeof models === 'string' ? models : JSON.stringify(models));
  try {
    const server = await startServer({
      environment: { TALKIES_MODELS_FILE: modelsFile, TALKIES_DATA_DIR: directory, TALKIES_PORT: '0', ...environment },
      logger: pino({ level: 'silent' }),
    });
    await server.close();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('boot refuses a bad configuration and says what to fix', () => {
  it('lists every models.json problem at once', async () => {
    // Schema errors, an engine's unknown field, an unknown executor and a slug defined
    // twice: all in the first report, not one per restart.
    const scripted = JSON.stringify(SCRIPTED).slice(1, -1);
    const error = (await bootWith(`{"models": {
      "a": {${scripted}},
      "b": {"repo": "x", ${scripted}, "max_concurrency": 0, "colour": "blue"},
      "c": {"repo": "x", "executor": "telepathy"},
      "a": {${scripted}}
    }}`)) as Error;
    expect(error.message).toMatch(/5 problems/);
    expect(error.message).toMatch(/models\.a: defined twice/);
    expect(error.message).toMatch(/models\.a\.repo/);
    expect(error.message).toMatch(/models\.b\.max_concurrency/);
    expect(error.message).toMatch(/models\.b\.colour: unknown field/);
    expect(error.message).toMatch(/no such executor "telepathy"/);
  });

  it('names an unknown executor and the available ones', async () => {
    const error = (await bootWith({ models: { a: { repo: 'x', executor: 'telepathy' } } })) as Error;
    expect(error.message).toMatch(/no such executor "telepathy" \(available: .*espeak/);
  });

  it('fails fast on an unknown TALKIES_ENABLED_MODELS slug, listing the catalog', async () => {
    const error = (await bootWith({ models: { a: { repo: 'x', ...SCRIPTED } } }, { TALKIES_ENABLED_MODELS: 'a, ghost' })) as Error;
    expect(error.message).toMatch(/unknown model 'ghost'.*catalog.*: a/);
  });

  it('reports invalid JSON and invalid environment values', async () => {
    expect(((await bootWith('{ not json')) as Error).message).toMatch(/not valid JSON/);
    expect(() => loadConfig({ TALKIES_MODEL_TTL: 'yesterday', TALKIES_PORT: 'eighty' })).toThrow(
      /TALKIES_PORT[\s\S]*TALKIES_MODEL_TTL/,
    );
    expect(loadConfig({ TALKIES_MODEL_TTL: '1h30m5s', TALKIES_SWEEPER_INTERVAL: '0' })).toMatchObject({
      modelTtlSeconds: 5405,
      sweeperIntervalSeconds: 0,
    });
  });

  it('checks TALKIES_INFERENCE_THREADS at boot (the engines read it)', () => {
    expect(() => loadConfig({ TALKIES_INFERENCE_THREADS: '4' })).not.toThrow();
    expect(() => loadConfig({ TALKIES_INFERENCE_THREADS: 'all' })).toThrow(/TALKIES_INFERENCE_THREADS='all' is not a whole number between 1 and 1024/);
  });

  it('reads the batching settings: window, size and the wait for returning clients', () => {
    expect(loadConfig({})).toMatchObject({ batchWindowMs: 5, batchMaxSize: 8, batchLingerMs: 2000 });
    expect(loadConfig({ TALKIES_BATCH_LINGER_MS: '0', TALKIES_BATCH_WINDOW_MS: '20' })).toMatchObject({ batchLingerMs: 0, batchWindowMs: 20 });
    expect(() => loadConfig({ TALKIES_BATCH_LINGER_MS: '-1' })).toThrow(/TALKIES_BATCH_LINGER_MS[\s\S]*between 0 and 60000/);
    expect(() => loadConfig({ TALKIES_BATCH_LINGER_MS: '61000' })).toThrow(/TALKIES_BATCH_LINGER_MS/);
  });

  it('TALKIES_ENABLED_MODELS filters and orders the catalog; TALKIES_PRELOAD loads at boot', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'talkies-boot-'));
    const modelsFile = join(directory, 'models.json');
    await writeFile(
      modelsFile,
      JSON.stringify({ models: { a: { repo: 'x', ...SCRIPTED }, b: { repo: 'y', ...SCRIPTED }, c: { repo: 'z', ...SCRIPTED } } }),
    );
    const server = await startServer({
      environment: {
        TALKIES_MODELS_FILE: modelsFile,
        TALKIES_DATA_DIR: directory,
        TALKIES_PORT: '0',
        TALKIES_ENABLED_MODELS: ' c , , a ',
        TALKIES_PRELOAD: 'a',
      },
      logger: pino({ level: 'silent' }),
    });
    try {
      expect((await readJson(await fetch(`${server.url}/healthz`))).models).toEqual(['c', 'a']);
      expect(await readJson(await fetch(`${server.url}/api/ps`))).toMatchObject({
        models: [{ id: 'a', idle_seconds: null, active_requests: 0 }],
      });
    } finally {
      await server.close();
    }
  });
});

describe('TALKIES_MAX_UPLOAD_BYTES', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ a: { repo: 'x', ...SCRIPTED } }, { maxUploadBytes: 64 * 1024 });
  });
  afterAll(() => server?.stop());

  /** Send a multipart upload of `size` bytes in chunks, without Content-Length when `chunked`. */
  function upload(size: number, chunked: boolean): Promise<{ status: number; body: string; sentBytes: number }> {
    const boundary = 'talkiesboundary';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\na\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const url = new URL(`${server.url}/v1/audio/transcriptions`);
    return new Promise((resolve, reject) => {
      let sentBytes = 0;
      const headers: Record<string, string | number> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
      if (!chunked) headers['content-length'] = head.length + size + tail.length;
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentBytes }));
      });
      req.on('error', reject);
      req.write(head);
      const chunk = Buffer.alloc(16 * 1024, 1);
      let remaining = size;
      const pump = () => {
        while (remaining > 0) {
          const piece = chunk.subarray(0, Math.min(chunk.length, remaining));
          remaining -= piece.length;
          sentBytes += piece.length;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end(tail);
      };
      req.on('response', () => {
        remaining = 0;
      });
      pump();
    });
  }

  it('refuses a declared Content-Length over the cap before reading the body', async () => {
    const result = await upload(50 * 1024 * 1024, false);
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).detail).toMatch(/upload too large.*TALKIES_MAX_UPLOAD_BYTES/);
    expect(result.sentBytes).toBeLessThan(10 * 1024 * 1024);
  });

  it('refuses a chunked upload as soon as it passes the cap', async () => {
    const result = await upload(50 * 1024 * 1024, true);
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.code).toBe('payload_too_large');
    expect(result.sentBytes).toBeLessThan(10 * 1024 * 1024);
  });
});
