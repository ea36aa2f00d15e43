/**
 * GET /metrics: Prometheus text whose values move as requests are served, behind the
 * bearer token unless TALKIES_METRICS_PUBLIC=true, with labels that never carry what a
 * client made up (file names, unknown model names).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scriptedControl } from '@talkies-fixtures/engine-scripted';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESPEAK, SCRIPTED, gate, makeTone, startTestServer, type TestServer } from './test-server.js';

const TOKEN = 'metrics-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: TestServer;
let tone: Buffer;

beforeAll(async () => {
  server = await startTestServer(
    { 'scripted-m': { repo: 'fixtures/m', ...SCRIPTED }, espeak: ESPEAK },
    { authToken: TOKEN, maxLoadedModels: 1 },
  );
  tone = await readFile(await makeTone(join(server.dataDir, 'tone.wav'), 3, ['-ar', '16000']));
});
afterAll(async () => {
  scriptedControl.gates.delete('scripted-m');
  await server?.stop();
});

/** Every sample of the exposition as `name{labels}` → value. */
async function scrape(url = server.url, headers: Record<string, string> = auth): Promise<{ text: string; value(sample: string): number }> {
  const response = await fetch(`${url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return { text, value: (sample) => samples.get(sample) ?? 0 };
}

function transcribe(model: string): Promise<Response> {
  const form = new FormData();
  form.set('model', model);
  form.set('file', new Blob([new Uint8Array(tone)], { type: 'audio/wav' }), 'private-recording-name.wav');
  return fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', headers: auth, body: form });
}

describe('GET /metrics', () => {
  it('needs the bearer token like every route', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('counts requests per route, model and status, and times them', async () => {
    const transcriptions = 'talkies_http_requests_total{method="POST",route="/v1/audio/transcriptions",model="scripted-m",status="200"}';
    const before = await scrape();
    expect((await transcribe('scripted-m')).status).toBe(200);
    expect((await transcribe('scripted-m')).status).toBe(200);
    expect((await transcribe('no-such-model')).status).toBe(404);
    const after = await scrape();
    expect(after.value(transcriptions) - before.value(transcriptions)).toBe(2);
    const unknown = 'talkies_http_requests_total{method="POST",route="/v1/audio/transcriptions",model="other",status="404"}';
    expect(after.value(unknown) - before.value(unknown)).toBe(1);
    const latencyCount = 'talkies_http_request_duration_seconds_count{method="POST",route="/v1/audio/transcriptions",model="scripted-m",status="200"}';
    expect(after.value(latencyCount) - before.value(latencyCount)).toBe(2);
    expect(after.value('talkies_http_request_duration_seconds_sum{method="POST",route="/v1/audio/transcriptions",model="scripted-m",status="200"}')).toBeGreaterThan(0);
    // Three seconds of audio each time, and a real-time factor observed per engine call.
    const seconds = 'talkies_audio_seconds_total{model="scripted-m",task="transcribe"}';
    expect(after.value(seconds) - before.value(seconds)).toBeCloseTo(6, 1);
    expect(after.value('talkies_real_time_factor_count{model="scripted-m",task="transcribe"}')).toBeGreaterThanOrEqual(2);
  });

  it('counts loads, evictions and load time, and speech audio produced', async () => {
    const before = await scrape();
    expect((await transcribe('scripted-m')).status).toBe(200);
    const speech = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', input: 'Counting the seconds.', response_format: 'wav' }),
    });
    expect(speech.status).toBe(200);
    await speech.arrayBuffer();
    const after = await scrape();
    // One model at a time: espeak's load evicted the scripted model.
    expect(after.value('talkies_model_loads_total{model="espeak",outcome="success"}')).toBeGreaterThan(before.value('talkies_model_loads_total{model="espeak",outcome="success"}'));
    expect(after.value('talkies_model_unloads_total{model="scripted-m",reason="evicted"}')).toBeGreaterThan(before.value('talkies_model_unloads_total{model="scripted-m",reason="evicted"}'));
    expect(after.value('talkies_model_load_duration_seconds_count{model="espeak"}')).toBeGreaterThanOrEqual(1);
    expect(after.value('talkies_model_loaded{model="espeak"}')).toBe(1);
    expect(after.value('talkies_model_loaded{model="scripted-m"}')).toBe(0);
    const spoken = after.value('talkies_audio_seconds_total{model="espeak",task="speech"}') - before.value('talkies_audio_seconds_total{model="espeak",task="speech"}');
    expect(spoken).toBeGreaterThan(0.5);
    expect(spoken).toBeLessThan(10);
    expect(after.value('talkies_download_bytes_total{kind="url"}')).toBe(0);
    // Process metrics come along.
    expect(after.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after.text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('shows requests active on a model and requests queued behind it', async () => {
    const held = gate();
    scriptedControl.gates.set('scripted-m', held.promise);
    try {
      const first = transcribe('scripted-m');
      const second = transcribe('scripted-m');
      // max_concurrency 1: one holds the model, the other waits in line.
      await expect.poll(async () => (await scrape()).value('talkies_queue_depth{model="scripted-m"}'), { timeout: 10_000 }).toBe(1);
      expect((await scrape()).value('talkies_active_requests{model="scripted-m"}')).toBe(1);
      held.open();
      expect((await first).status).toBe(200);
      expect((await second).status).toBe(200);
    } finally {
      held.open();
      scriptedControl.gates.delete('scripted-m');
    }
    const after = await scrape();
    expect(after.value('talkies_queue_depth{model="scripted-m"}')).toBe(0);
    expect(after.value('talkies_active_requests{model="scripted-m"}')).toBe(0);
  });

  it('keeps file names, paths and unknown model names out of the labels', async () => {
    const put = await fetch(`${server.url}/v1/files/customer-acme/secret-file-name.wav`, { method: 'PUT', headers: auth, body: new Uint8Array(tone) });
    expect(put.status).toBe(201);
    expect((await fetch(`${server.url}/v1/files/customer-acme/secret-file-name.wav`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${server.url}/some/random/probe-path`, { headers: auth })).status).toBe(404);
    expect((await transcribe('made-up-model-name')).status).toBe(404);
    const { text, value } = await scrape();
    for (const secret of ['secret-file-name', 'customer-acme', 'probe-path', 'made-up-model-name', 'private-recording-name']) {
      expect(text).not.toContain(secret);
    }
    expect(value('talkies_http_requests_total{method="PUT",route="/v1/files/{*path}",model="",status="201"}')).toBe(1);
    expect(value('talkies_http_requests_total{method="GET",route="unmatched",model="",status="404"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('TALKIES_METRICS_PUBLIC=true', () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ espeak: ESPEAK }, { authToken: TOKEN, metricsPublic: true });
  });
  afterAll(async () => {
    await open?.stop();
  });

  it('serves /metrics without the token, and nothing else', async () => {
    const { text } = await scrape(open.url, {});
    expect(text).toContain('talkies_http_requests_total');
    expect((await fetch(`${open.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${open.url}/metrics/`)).status).toBe(401);
  });
});
