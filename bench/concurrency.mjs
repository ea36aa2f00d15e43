#!/usr/bin/env node
/**
 * How does a Whisper model serve several clients at once, with and without batching
 * across requests?
 *
 * The model is `whisper-test-base` from the fixture generator (whisper-base's dimensions,
 * random weights, every window stops after 102 text tokens: the compute of dense speech),
 * generated into $TMPDIR/talkies-bench-whisper like bench/whisper.mjs does (and shared
 * with it). The input is 30 s of speech (jfk.wav from ../shared/audio, looped), one piece
 * for the server (30 s is at the chunking threshold), sent as a WAV upload.
 *
 * Two real talkies servers run in this process (startServer, loopback), both with the
 * model preloaded and `max_concurrency` 1 (the engine's default):
 *
 *   unbatched  TALKIES_BATCH_MAX_SIZE=1: requests wait in the pool's line, one at a time;
 *   batched    TALKIES_BATCH_MAX_SIZE=8 and TALKIES_BATCH_WINDOW_MS (default 5): requests
 *              that arrive together are decoded as one batch (when the engine declares
 *              `transcribeBatch`; without it both servers behave alike).
 *
 * The clients run in a separate load-generator process (node:http, keep-alive). For each
 * number of clients (1, 4, 8) and each server, in alternating order, every client sends
 * `--requests` requests one after the other (`POST /v1/audio/transcriptions`, language en,
 * response_format json). Reported per case: throughput in audio seconds per wall second
 * (all the audio sent, over the time from the first request to the last answer), p50 and
 * p99 latency, and whether every answer had the same text as the unbatched server's.
 * Before that, each server takes one request from each of the most clients (warm-up).
 * Like `talkies serve`, the benchmark executes itself again at start with glibc's
 * allocator variables (`TALKIES_MALLOC_TUNING=off`: glibc's defaults).
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/concurrency.mjs [--clients 1,4,8] [--requests 4] [--window-ms 5] [--linger-ms 2000] [--batch 8]
 *                              [--rounds 1] [--model-dir DIR] [--regenerate]
 *
 * --rounds N repeats every client count on both servers N times (the order alternating
 * from round to round) and reports the ratios as medians of the per-round ratios: on a
 * machine whose speed drifts from minute to minute, a ratio of two cases measured minutes
 * apart carries that drift.
 *
 * Target: at 8 clients, batched throughput ≥ 2 × the throughput at 1 client, on 2 cores,
 * with p99 bounded. Missing it is reported, not treated as a failure; a failed request exits 1.
 */
import { execFile, fork } from 'node:child_process';
import { mallocSettings } from './lib/malloc.mjs';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { quantile } from './lib/stats.mjs';
import { importBuilt, root } from './lib/built.mjs';

const SLUG = 'whisper-test-base';
const SECONDS = 30;
const CLIENT_ENVIRONMENT_FLAG = 'TALKIES_BENCH_CONCURRENCY_CLIENT';
const TARGET_SPEEDUP = 2;


/** A multipart body for the transcription request, built once and sent many times. */
function multipart(wav) {
  const boundary = `talkies-bench-${Math.random().toString(16).slice(2)}`;
  const field = (name, value) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = field('model', SLUG) + field('language', 'en') + field('response_format', 'json') +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="speech.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), wav, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Load-generator side: `clients` clients, each sending `requests` requests in turn. */
async function runClients({ url, bodyFile, contentType, clients, requests }) {
  const body = await readFile(bodyFile);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const post = () =>
    new Promise((resolve, reject) => {
      const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.length } }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text).text);
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(body);
    });
  const latencies = [];
  const texts = [];
  const errors = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let index = 0; index < requests; index++) {
        const sent = performance.now();
        try {
          texts.push(await post());
          latencies.push(performance.now() - sent);
        } catch (error) {
          errors.push(String(error?.message ?? error));
        }
      }
    }),
  );
  const wall = performance.now() - started;
  agent.destroy();
  return { latencies, texts, errors, wall };
}

async function main() {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1,4,8' },
      requests: { type: 'string', default: '4' },
      'window-ms': { type: 'string', default: '5' },
      'linger-ms': { type: 'string', default: '2000' },
      batch: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '1' },
      'model-dir': { type: 'string' },
      regenerate: { type: 'boolean', default: false },
    },
  });
  const clientCounts = values.clients.split(',').map(Number);
  const requests = Number(values.requests);
  const windowMs = Number(values['window-ms']);
  const lingerMs = Number(values['linger-ms']);
  if (!(lingerMs >= 0)) throw new Error('--linger-ms ≥ 0');
  const batch = Number(values.batch);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a whole number above 0');
  if (clientCounts.some((count) => !Number.isInteger(count) || count < 1)) throw new Error('--clients lists whole numbers above 0');
  if (!Number.isInteger(requests) || requests < 1) throw new Error('--requests must be a whole number above 0');
  if (!(windowMs >= 0) || !Number.isInteger(batch) || batch < 2) throw new Error('--window-ms ≥ 0 and --batch ≥ 2');

  const jfk = join(root, '..', 'shared', 'audio', 'jfk.wav');
  if (!existsSync(jfk)) throw new Error(`${jfk} is missing: the benchmark needs ../shared/audio/jfk.wav`);
  const modelsRoot = values['model-dir'] ?? join(os.tmpdir(), 'talkies-bench-whisper');
  const modelDir = join(modelsRoot, 'models', SLUG);
  if (values.regenerate || !existsSync(join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
    const { writeFixtures } = await importBuilt('packages/engine-whisper/dist/testing/index.js');
    const started = performance.now();
    await writeFixtures(modelsRoot, { only: new Set([SLUG]) });
    process.stderr.write(`generated ${SLUG} in ${Math.round(performance.now() - started)} ms into ${modelDir}\n`);
  }
  const [{ startServer, tuneMallocAtStart }] = await Promise.all([importBuilt('packages/server/dist/index.js')]);
  // What the process started with (the call at the top of the script executed it again with glibc's variables).
  const malloc = tuneMallocAtStart();

  const work = await mkdtemp(join(os.tmpdir(), 'talkies-bench-concurrency-'));
  const servers = {};
  let client;
  try {
    // 30 s of speech: jfk.wav looped, 16 kHz mono 16-bit WAV.
    const wavPath = join(work, 'speech.wav');
    await promisify(execFile)('ffmpeg', ['-loglevel', 'error', '-y', '-stream_loop', '3', '-i', jfk, '-t', String(SECONDS), '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', wavPath]);
    const { body, contentType } = multipart(await readFile(wavPath));
    const bodyFile = join(work, 'body.bin');
    await writeFile(bodyFile, body);

    const entry = { repo: `talkies-fixtures/${SLUG}`, executor: 'whisper', modality: 'asr', engineOptions: { temperatureFallback: false } };
    for (const [mode, batchMaxSize] of [['unbatched', 1], ['batched', batch]]) {
      const dataDir = join(work, mode);
      await mkdir(join(dataDir, 'models'), { recursive: true });
      await symlink(modelDir, join(dataDir, 'models', SLUG));
      const modelsFile = join(dataDir, 'models.json');
      await writeFile(modelsFile, JSON.stringify({ models: { [SLUG]: entry } }));
      servers[mode] = await startServer({
        environment: {},
        config: { host: '127.0.0.1', port: 0, modelsFile, dataDir, logLevel: 'warn', enabledModels: [], preload: [SLUG], sweeperIntervalSeconds: 0, batchMaxSize, batchWindowMs: windowMs, batchLingerMs: lingerMs },
        pluginBaseDirectories: [root],
      });
    }
    const batching = typeof servers.batched.catalog.get(SLUG).backend.transcribeBatch === 'function';

    client = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [CLIENT_ENVIRONMENT_FLAG]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const pending = [];
    client.on('message', (reply) => pending.shift()?.resolve(reply));
    client.on('exit', (code) => {
      for (const request of pending.splice(0)) request.reject(new Error(`the load generator exited (${code})`));
    });
    const load = (mode, clients, perClient) =>
      new Promise((resolve, reject) => {
        pending.push({ resolve, reject });
        client.send({ url: `${servers[mode].url}/v1/audio/transcriptions`, bodyFile, contentType, clients, requests: perClient });
      });

    // Warm-up: one request from each of the most clients on each server (first-call costs,
    // page cache, and the buffers of the largest batch, which a busy server has made long since).
    const most = Math.max(...clientCounts);
    for (const mode of ['unbatched', 'batched']) {
      const warm = await load(mode, most, 1);
      if (warm.errors.length > 0) throw new Error(`warm-up on ${mode} failed: ${warm.errors[0]}`);
    }

    // Batches started and pieces in them, from the batched server's talkies_batch_pieces histogram.
    const batchTotals = async () => {
      const text = await (await fetch(`${servers.batched.url}/metrics`)).text();
      const read = (name) => Number(new RegExp(`^${name}\\{model="${SLUG}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      return { count: read('talkies_batch_pieces_count'), sum: read('talkies_batch_pieces_sum') };
    };
    const results = [];
    let reference;
    let sameText = true;
    let errors = 0;
    for (let round = 0; round < rounds; round++) for (const [index, clients] of clientCounts.entries()) {
      const order = (index + round) % 2 === 0 ? ['unbatched', 'batched'] : ['batched', 'unbatched'];
      for (const mode of order) {
        const batchesBefore = mode === 'batched' ? await batchTotals() : undefined;
        const outcome = await load(mode, clients, requests);
        const batchesAfter = mode === 'batched' ? await batchTotals() : undefined;
        const batchCount = batchesAfter && batchesBefore ? batchesAfter.count - batchesBefore.count : undefined;
        const batchPieces = batchesAfter && batchesBefore ? batchesAfter.sum - batchesBefore.sum : undefined;
        errors += outcome.errors.length;
        for (const error of outcome.errors.slice(0, 3)) console.error(`${mode}, ${clients} clients: ${error}`);
        for (const text of outcome.texts) {
          reference ??= text;
          if (text !== reference) sameText = false;
        }
        const audioSeconds = outcome.texts.length * SECONDS;
        results.push({
          round,
          mode,
          clients,
          requests: outcome.latencies.length,
          throughput: audioSeconds / (outcome.wall / 1000),
          p50: quantile(outcome.latencies, 0.5),
          p99: quantile(outcome.latencies, 0.99),
          wall: outcome.wall,
          batches: batchCount,
          meanBatch: batchCount ? batchPieces / batchCount : undefined,
        });
        process.stderr.write(`  ${rounds > 1 ? `round ${round + 1}/${rounds} ` : ''}${mode.padEnd(9)} ${String(clients).padStart(2)} clients: ${(audioSeconds / (outcome.wall / 1000)).toFixed(1)} audio s/s\n`);
      }
    }

    const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
    const lines = [];
    lines.push(`talkies concurrency benchmark: ${SLUG} (whisper-base dimensions), ${SECONDS} s of speech per request`);
    lines.push(`date      ${new Date().toISOString()}`);
    lines.push(`machine   ${os.availableParallelism()} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`);
    lines.push(`node      ${process.version}`);
    lines.push(`malloc    ${mallocSettings(process.env, malloc)}`);
    lines.push(`servers   max_concurrency 1; unbatched: TALKIES_BATCH_MAX_SIZE=1; batched: TALKIES_BATCH_MAX_SIZE=${batch}, TALKIES_BATCH_WINDOW_MS=${windowMs}, TALKIES_BATCH_LINGER_MS=${lingerMs}`);
    lines.push(`          engine declares transcribeBatch: ${batching ? 'yes' : 'NO (both servers decode one request at a time)'}`);
    const { defaultInferenceThreads } = await importBuilt('packages/core/dist/index.js');
    lines.push(`          onnxruntime threads per model: ${defaultInferenceThreads()} (the engine's default)`);
    lines.push(`clients   ${requests} requests each, one after the other; separate load-generator process`);
    if (rounds > 1) lines.push(`rounds    ${rounds}: every client count and server once per round (the order alternates); ratios are medians of the per-round ratios`);
    lines.push('');
    lines.push(`${rounds > 1 ? 'round ' : ''}mode       clients  requests  throughput (audio s/s)      p50        p99   batches (mean size)`);
    for (const row of results) {
      lines.push(
        `${rounds > 1 ? String(row.round + 1).padEnd(6) : ''}${row.mode.padEnd(10)} ${String(row.clients).padStart(7)} ${String(row.requests).padStart(9)} ${row.throughput.toFixed(2).padStart(23)} ${`${(row.p50 / 1000).toFixed(2)} s`.padStart(9)} ${`${(row.p99 / 1000).toFixed(2)} s`.padStart(10)}${row.batches === undefined ? '' : `   ${row.batches} (${(row.meanBatch ?? 0).toFixed(1)})`}`,
      );
    }
    lines.push('');
    const find = (round, mode, clients) => results.find((row) => row.round === round && row.mode === mode && row.clients === clients);
    const least = Math.min(...clientCounts);
    // A ratio of two cases, taken within each round; the median over the rounds, and each round's.
    const ratio = (numerator, denominator) => {
      const values = [];
      for (let round = 0; round < rounds; round++) {
        const top = numerator(round);
        const bottom = denominator(round);
        if (top !== undefined && bottom !== undefined) values.push(top / bottom);
      }
      return { median: quantile(values, 0.5), text: `${quantile(values, 0.5).toFixed(2)}${values.length > 1 ? ` (rounds: ${values.map((value) => value.toFixed(2)).join(', ')})` : ''}` };
    };
    const throughputOf = (mode, clients) => (round) => find(round, mode, clients)?.throughput;
    for (const mode of ['unbatched', 'batched']) {
      if (find(0, mode, most) && find(0, mode, least)) lines.push(`${mode.padEnd(10)} throughput at ${most} clients / at ${least}: ${ratio(throughputOf(mode, most), throughputOf(mode, least)).text}`);
    }
    if (find(0, 'batched', most) && find(0, 'unbatched', most)) {
      const p99Of = (mode) => (round) => find(round, mode, most)?.p99;
      lines.push(`batched / unbatched at ${most} clients: throughput ${ratio(throughputOf('batched', most), throughputOf('unbatched', most)).text}, p99 ${ratio(p99Of('batched'), p99Of('unbatched')).text}`);
    }
    lines.push(`same text in every answer: ${sameText ? 'yes' : 'NO'}`);
    lines.push(`errors: ${errors}`);
    if (find(0, 'batched', most) && find(0, 'batched', least)) {
      const speedup = ratio(throughputOf('batched', most), throughputOf('batched', least));
      lines.push(`target batched throughput at ${most} clients >= ${TARGET_SPEEDUP} x at ${least}: ${speedup.median >= TARGET_SPEEDUP ? 'met' : 'NOT met'} (${speedup.text})`);
      if (find(0, 'unbatched', least)) {
        // At one client both servers do the same work; a slow round of one of them alone moves the ratio.
        const fasterSingle = (round) => Math.max(find(round, 'batched', least)?.throughput ?? 0, find(round, 'unbatched', least)?.throughput ?? 0) || undefined;
        lines.push(`  the same against the faster of the two servers at ${least} client${least === 1 ? '' : 's'} in each round: ${ratio(throughputOf('batched', most), fasterSingle).text}`);
      }
    }
    console.log(lines.join('\n'));
    return errors > 0 || !sameText ? 1 : 0;
  } finally {
    client?.disconnect();
    for (const server of Object.values(servers)) await server.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.env[CLIENT_ENVIRONMENT_FLAG] === '1') {
  process.on('message', async (job) => process.send(await runClients(job)));
  process.on('disconnect', () => process.exit(0));
} else {
  // As `talkies serve` does before anything else (TALKIES_MALLOC_TUNING=off: glibc's defaults).
  (await importBuilt('packages/server/dist/malloc-tuning.js')).tuneMallocAtStart();
  try {
    process.exitCode = await main();
  } catch (error) {
    console.error(`concurrency: ${error?.stack ?? error}`);
    process.exitCode = 1;
  }
  process.exit();
}
