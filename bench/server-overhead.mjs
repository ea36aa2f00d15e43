#!/usr/bin/env node
/**
 * How much does the HTTP server add on top of the engine?
 *
 * Compares one sentence of speech (model `espeak`, response_format `wav`) two ways:
 *
 *   direct  the espeak engine's backend, created and loaded in this process, then
 *           synthesize() + @talkies/audio's encodeAudio(…, 'wav');
 *   http    POST /v1/audio/speech to a real talkies server started in this process
 *           (startServer, loopback, an ephemeral port), reading the whole response.
 *
 * Both sides do the same synthesis and the same WAV encoding, with the same number of
 * syntheses running at once, so the difference is what the server adds: HTTP parsing,
 * JSON validation, the voice check, the eviction pool and the response write. Direct and
 * HTTP run interleaved in rounds, alternating which goes first, so background noise on
 * the machine lands on both.
 *
 * Where the HTTP clients run (`--client`):
 *   process  (default) a separate load-generator process, as wrk or autocannon would be:
 *            a real client does not share the server's event loop, heap and garbage
 *            collector.
 *   inline   in this process, next to the server: the client's own work (the request,
 *            reading the body, its garbage) is then charged to the server too.
 *
 * The clients use node:http with keep-alive connections and count the body's bytes without
 * keeping them (`--http-client node`, the default), the nearest Node has to wrk's cost per
 * request; `--http-client fetch` uses fetch (undici) and reads each body into an
 * ArrayBuffer, which costs the load generator about twice the CPU. On a 2-core machine
 * that CPU is taken from the server and espeak-ng, so it shows in the HTTP column.
 *
 * Usage, from the repository root after `pnpm exec tsc -b`:
 *
 *   node bench/server-overhead.mjs [--requests 200] [--concurrency 16] [--rounds 10]
 *                                  [--warmup 32] [--client process|inline]
 *                                  [--only direct|http] [--http-client node|fetch]
 *
 * `--only` runs one side alone (no ratio), for profiling it: `node --cpu-prof bench/server-overhead.mjs --only http`.
 * Per side it prints the main thread's busy time, this process's CPU time and its GC
 * (main-thread pauses, major collections) per request.
 *
 * `pnpm bench:server-overhead` builds first and runs the defaults. Exits 1 if any request
 * failed. The target is a median ratio (HTTP / direct) of at most 1.10; missing it is
 * reported, not treated as a failure, because it depends on the machine.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { quantile } from './lib/stats.mjs';
import { importBuilt, root } from './lib/built.mjs';

const TARGET_RATIO = 1.1;
const TEXT = 'The quick brown fox jumps over the lazy dog while the server keeps count.';
const CLIENT_ENVIRONMENT_FLAG = 'TALKIES_BENCH_CLIENT';

/**
 * Run `count` calls of `operation` from `concurrency` clients. Resolves to the latency
 * of each successful call (ms); failures are pushed onto `errors`.
 */
async function batch(operation, count, concurrency, errors, label) {
  const latencies = [];
  let next = 0;
  const client = async () => {
    while (next < count) {
      next += 1;
      const started = performance.now();
      try {
        const bytes = await operation();
        if (!(bytes > 44)) throw new Error(`only ${bytes} bytes of WAV`);
        latencies.push(performance.now() - started);
      } catch (error) {
        errors.push(`${label}: ${error?.message ?? error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, client));
  return latencies;
}

/** One keep-alive connection per client, as a load generator keeps them. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * POST the speech request with node:http and read the whole body; resolves to its length
 * in bytes. The chunks are counted, not joined: a load generator does not keep the audio.
 */
function postSpeechNode(url, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      let length = 0;
      const errorChunks = [];
      response.on('data', (chunk) => {
        length += chunk.length;
        if (response.statusCode !== 200 && length < 4096) errorChunks.push(chunk);
      });
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}: ${Buffer.concat(errorChunks).toString('utf8').slice(0, 300)}`));
        else resolve(length);
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** The request with fetch (undici), reading the body into an ArrayBuffer. */
async function postSpeechFetch(url, body) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const bytes = await response.arrayBuffer();
  if (response.status !== 200) {
    throw new Error(`HTTP ${response.status}: ${Buffer.from(bytes).toString('utf8').slice(0, 300)}`);
  }
  return bytes.byteLength;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '32' },
      client: { type: 'string', default: 'process' },
      only: { type: 'string' },
      'http-client': { type: 'string', default: 'node' },
    },
  });
  const options = {
    requests: Number(values.requests),
    concurrency: Number(values.concurrency),
    rounds: Number(values.rounds),
    warmup: Number(values.warmup),
    client: values.client,
    only: values.only,
    httpModule: values['http-client'],
  };
  for (const name of ['requests', 'concurrency', 'rounds', 'warmup']) {
    const value = options[name];
    if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1)) {
      throw new Error(`--${name} must be a whole number${name === 'warmup' ? '' : ' above 0'}, got '${values[name]}'`);
    }
  }
  if (options.requests % options.rounds !== 0) {
    throw new Error(`--requests (${options.requests}) must be a multiple of --rounds (${options.rounds})`);
  }
  if (options.only !== undefined && options.only !== 'direct' && options.only !== 'http') {
    throw new Error(`--only must be 'direct' or 'http', got '${options.only}'`);
  }
  if (options.httpModule !== 'node' && options.httpModule !== 'fetch') {
    throw new Error(`--http-client must be 'node' or 'fetch', got '${options.httpModule}'`);
  }
  if (options.client !== 'process' && options.client !== 'inline') {
    throw new Error(`--client must be 'process' or 'inline', got '${options.client}'`);
  }
  return options;
}

/** The HTTP side: batches of requests, from a forked load generator or from this process. */
async function httpClient(mode, httpModule, url, body, clientCpu) {
  const post = httpModule === 'fetch' ? postSpeechFetch : postSpeechNode;
  if (mode === 'inline') {
    return {
      run: (count, concurrency, errors) => batch(() => post(url, body), count, concurrency, errors, 'http'),
      close: async () => {},
    };
  }
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, [CLIENT_ENVIRONMENT_FLAG]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  child.on('message', ({ id, latencies, errors, cpu }) => {
    const request = pending.get(id);
    pending.delete(id);
    request?.resolve({ latencies, errors, cpu });
  });
  child.on('exit', (code) => {
    for (const request of pending.values()) request.reject(new Error(`the load-generator process exited (${code})`));
    pending.clear();
  });
  return {
    async run(count, concurrency, errors) {
      const id = nextId++;
      const reply = await new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, url, body, count, concurrency, httpModule });
      });
      errors.push(...reply.errors);
      clientCpu.ms += reply.cpu;
      return reply.latencies;
    },
    close: async () => {
      child.disconnect();
    },
  };
}

const median = (values) => quantile(values, 0.5);

async function main() {
  let options;
  try {
    options = parseOptions();
  } catch (error) {
    console.error(`server-overhead: ${error.message}`);
    return 2;
  }
  let modules;
  try {
    modules = await Promise.all([
      importBuilt('packages/server/dist/index.js'),
      importBuilt('packages/audio/dist/index.js'),
      importBuilt('packages/core/dist/index.js'),
      importBuilt('packages/engine-espeak/dist/index.js'),
    ]);
  } catch (error) {
    console.error(`server-overhead: ${error.message}`);
    return 2;
  }
  const [{ startServer }, { encodeAudio }, { modelEntrySchema }, { default: engine }] = modules;

  // One models.json entry, used by both sides.
  const entryJson = { repo: 'espeak-ng', executor: 'espeak', modality: 'tts' };
  const dataDir = await mkdtemp(join(os.tmpdir(), 'talkies-bench-'));
  const modelsFile = join(dataDir, 'models.json');
  await writeFile(modelsFile, JSON.stringify({ models: { espeak: entryJson } }, null, 2));

  const shutdown = new AbortController();
  const quiet = () => {};
  const backend = engine.createBackend({
    modelId: 'espeak',
    entry: modelEntrySchema.parse(entryJson),
    options: engine.optionsSchema ? engine.optionsSchema.parse({}) : {},
    paths: { dataDir, modelDir: join(dataDir, 'models', 'espeak') },
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    signal: shutdown.signal,
    now: () => performance.now(),
  });
  let server;
  let client;
  try {
    await backend.load();
    const voice = backend.defaultVoice;
    server = await startServer({
      environment: {},
      config: {
        host: '127.0.0.1',
        port: 0,
        modelsFile,
        dataDir,
        logLevel: 'warn',
        enabledModels: [],
        preload: ['espeak'],
        sweeperIntervalSeconds: 0,
      },
      pluginBaseDirectories: [root],
    });
    // The server runs at most this many espeak requests at once and queues the rest; the
    // direct side gets the same limit so both run the same number of syntheses in parallel.
    const serverConcurrency = server.catalog.get('espeak').maxConcurrency;
    const directSlot = limiter(serverConcurrency);
    const direct = () =>
      directSlot(async () => {
        const signal = new AbortController().signal;
        const result = await backend.synthesize({ text: TEXT, voice, speed: 1, signal });
        return (await encodeAudio(result, 'wav', { signal })).byteLength;
      });
    const body = JSON.stringify({ model: 'espeak', input: TEXT, voice, response_format: 'wav' });
    // CPU time (user + system, ms) the load-generator process spent, when it is one.
    const clientCpu = { ms: 0 };
    client = await httpClient(options.client, options.httpModule, `${server.url}/v1/audio/speech`, body, clientCpu);
    const runSide = (side, count, errors) =>
      side === 'direct'
        ? batch(direct, count, options.concurrency, errors, 'direct')
        : client.run(count, options.concurrency, errors);

    // Warm-up: JIT, espeak-ng's data files in the page cache, keep-alive sockets.
    if (options.warmup > 0) {
      const warmupErrors = [];
      if (options.only !== 'http') await runSide('direct', options.warmup, warmupErrors);
      if (options.only !== 'direct') await runSide('http', options.warmup, warmupErrors);
      if (warmupErrors.length > 0) throw new Error(`warm-up failed: ${warmupErrors[0]}`);
    }

    const errors = [];
    const all = { direct: [], http: [] };
    // Time this process's event loop was busy, per side: the server's work happens here.
    const busy = { direct: 0, http: 0 };
    // CPU time of this process (all its threads), per side: unlike loop busy, it does not
    // count time the thread was ready but the machine's cores were taken by others.
    const cpu = { direct: 0, http: 0 };
    const clientCpuBefore = clientCpu.ms;
    // Garbage collection in this process, per side: pauses of the main thread and how many were major.
    const gc = { direct: { pauses: 0, ms: 0, major: 0 }, http: { pauses: 0, ms: 0, major: 0 } };
    let gcSide;
    const gcObserver = new PerformanceObserver((list) => {
      if (!gcSide) return;
      for (const entry of list.getEntries()) {
        gc[gcSide].pauses += 1;
        gc[gcSide].ms += entry.duration;
        // detail.kind: 1 is a scavenge (young generation); the others are major collections.
        if (entry.detail?.kind !== 1) gc[gcSide].major += 1;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const roundRatios = [];
    const perRound = options.requests / options.rounds;
    for (let round = 0; round < options.rounds; round++) {
      const order = options.only ? [options.only] : round % 2 === 0 ? ['direct', 'http'] : ['http', 'direct'];
      const latencies = {};
      for (const side of order) {
        const before = performance.eventLoopUtilization();
        const cpuBefore = process.cpuUsage();
        gcSide = side;
        latencies[side] = await runSide(side, perRound, errors);
        gcSide = undefined;
        busy[side] += performance.eventLoopUtilization(before).active;
        const used = process.cpuUsage(cpuBefore);
        cpu[side] += (used.user + used.system) / 1000;
        all[side].push(...latencies[side]);
      }
      if (!options.only) roundRatios.push(median(latencies.http) / median(latencies.direct));
    }

    const medianDirect = median(all.direct);
    const medianHttp = median(all.http);
    const ratio = medianHttp / medianDirect;
    const ms = (value) => `${value.toFixed(1)} ms`.padStart(10);
    const count = (value) => String(value).padStart(10);
    const cpuModel = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
    console.log('talkies server overhead: POST /v1/audio/speech against the espeak backend called in-process');
    console.log(`date      ${new Date().toISOString()}`);
    console.log(`machine   ${os.availableParallelism()} cores (${cpuModel}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}`);
    console.log(`node      ${process.version}, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB at the end`);
    console.log(
      `workload  ${options.requests} requests per side in ${options.rounds} interleaved rounds of ${perRound}, ` +
        `${options.concurrency} concurrent clients, ${options.warmup} warm-up requests per side`,
    );
    console.log(
      `          model espeak, voice ${voice}, wav, ${TEXT.length} characters; ` +
        `espeak max_concurrency ${serverConcurrency}; HTTP clients: ${options.client === 'process' ? 'separate process' : 'in this process'}, ${options.httpModule === 'fetch' ? 'fetch (undici)' : 'node:http, keep-alive'}`,
    );
    console.log('');
    console.log('                direct      http');
    console.log(`median      ${ms(medianDirect)}${ms(medianHttp)}`);
    console.log(`p99         ${ms(quantile(all.direct, 0.99))}${ms(quantile(all.http, 0.99))}`);
    console.log(`completed   ${count(all.direct.length)}${count(all.http.length)}`);
    console.log(`loop busy   ${ms(busy.direct / options.requests)}${ms(busy.http / options.requests)}  (main-thread time per request)`);
    console.log(`cpu         ${ms(cpu.direct / options.requests)}${ms(cpu.http / options.requests)}  (this process's CPU time per request)`);
    const gcLine = (side) => `${(gc[side].ms / options.requests).toFixed(2)} ms, ${((1000 * gc[side].major) / options.requests).toFixed(0)} major`;
    console.log(`gc          ${gcLine('direct').padStart(10)}  ${gcLine('http')}  (main-thread GC pauses and major GCs per 1000 requests)`);
    gcObserver.disconnect();
    if (options.client === 'process') {
      console.log(`client cpu  ${' '.repeat(10)}${ms((clientCpu.ms - clientCpuBefore) / options.requests)}  (the load generator's CPU time per request)`);
    }
    console.log('');
    if (!options.only) {
      console.log(`median ratio (http / direct): ${ratio.toFixed(3)}`);
      console.log(`per-round ratios:             ${roundRatios.map((value) => value.toFixed(2)).join(' ')}`);
    }
    console.log(`errors: ${errors.length}`);
    for (const error of errors.slice(0, 10)) console.log(`  ${error}`);
    if (!options.only) console.log(`target median ratio <= ${TARGET_RATIO.toFixed(2)}: ${ratio <= TARGET_RATIO ? 'met' : 'NOT met'}`);
    return errors.length > 0 ? 1 : 0;
  } catch (error) {
    console.error(`server-overhead: ${error?.stack ?? error}`);
    return 1;
  } finally {
    await client?.close();
    await server?.close();
    await backend.dispose();
    shutdown.abort();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** At most `limit` tasks at once; the rest wait in line. */
function limiter(limit) {
  let active = 0;
  const waiting = [];
  return async (task) => {
    while (active >= limit) await new Promise((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

if (process.env[CLIENT_ENVIRONMENT_FLAG] === '1') {
  // Load-generator mode: the benchmark forked this file; run batches on request.
  process.on('message', async ({ id, url, body, count, concurrency, httpModule }) => {
    const post = httpModule === 'fetch' ? postSpeechFetch : postSpeechNode;
    const errors = [];
    const before = process.cpuUsage();
    const latencies = await batch(() => post(url, body), count, concurrency, errors, 'http');
    const used = process.cpuUsage(before);
    process.send({ id, latencies, errors, cpu: (used.user + used.system) / 1000 });
  });
  process.on('disconnect', () => process.exit(0));
} else {
  process.exitCode = await main();
  // Open handles (keep-alive sockets, the forked client) must not keep us waiting.
  process.exit();
}
