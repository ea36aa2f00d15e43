#!/usr/bin/env node
// Runs a built talkies image and checks it, for docker/test/run.sh:
// - it becomes healthy through the image's own HEALTHCHECK command;
// - GET /healthz answers; speech through espeak-ng is a real WAV;
// - a transcription runs on a generated Whisper model mounted into /data, with the catalog
//   chosen by variable (TALKIES_MODELS_FILE=/data/models.json);
// - a catalog mounted over /app/models.json replaces the built-in one;
// - neither tini nor the server runs as root;
// - the server set glibc's allocator from its start (executed again in place, under tini);
// - `docker stop` ends it cleanly: exit code 0, "talkies stopped" in the log, well before
//   Docker would have killed it.
//
//   node docker/test/check-image.mjs IMAGE   (TALKIES_DOCKER_CLI, TALKIES_DOCKER_WORK from run.sh)
import { execFile } from 'node:child_process';
import { chown, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const image = process.argv[2] ?? 'talkies:test';
const [dockerBinary, ...dockerArguments] = (process.env.TALKIES_DOCKER_CLI ?? 'docker').split(' ');
const work = process.env.TALKIES_DOCKER_WORK ?? '/tmp';
const root = resolve(import.meta.dirname, '../..');
const STOP_TIMEOUT_SECONDS = 20;

const docker = async (...args) => (await run(dockerBinary, [...dockerArguments, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
const say = (text) => process.stderr.write(`[test:docker] ${text}\n`);
let failures = 0;
function check(condition, what, detail = '') {
  if (condition) say(`ok   ${what}`);
  else {
    failures += 1;
    say(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

async function waitFor(what, probe, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

// A data folder with a generated Whisper model (random weights, the real file layout) and
// a catalog that adds espeak, owned by the image's user.
const data = join(work, 'data');
await run(process.execPath, [join(root, 'scripts/fixtures.mjs'), '--out', data, '--only', 'whisper-test-tiny-v3'], { cwd: root });
const catalog = JSON.parse(await readFile(join(data, 'models.json'), 'utf8'));
catalog.models.espeak = { repo: 'espeak-ng', executor: 'espeak', modality: 'tts', default_voice: 'en-us' };
await writeFile(join(data, 'models.json'), JSON.stringify(catalog, null, 2));
for (const entry of [{ parentPath: work, name: 'data' }, ...(await readdir(data, { withFileTypes: true, recursive: true }))]) {
  await chown(join(entry.parentPath, entry.name), 1000, 1000);
}
const tone = join(work, 'tone.wav');
await run('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ar', '16000', tone]);

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const container = await docker(
  'run', '-d', '--network', 'host',
  // The image's HEALTHCHECK command, checked every second instead of every 30.
  '--health-interval', '1s', '--health-start-period', '60s',
  '-e', `TALKIES_PORT=${port}`, '-e', 'TALKIES_HOST=127.0.0.1',
  '-e', 'TALKIES_MODELS_FILE=/data/models.json',
  '-v', `${data}:/data`,
  image,
);
try {
  await waitFor('GET /healthz', async () => (await fetch(`${url}/healthz`)).ok, 90);
  const health = await (await fetch(`${url}/healthz`)).json();
  check(health.ok === true && health.models.includes('whisper-test-tiny-v3') && health.models.includes('espeak'), 'GET /healthz lists the catalog chosen by TALKIES_MODELS_FILE', JSON.stringify(health));
  const status = await waitFor('the HEALTHCHECK', async () => {
    const value = await docker('inspect', '-f', '{{.State.Health.Status}}', container);
    return value === 'healthy' ? value : undefined;
  }, 60).catch((error) => error.message);
  check(status === 'healthy', "the image's HEALTHCHECK reports healthy", status);

  const speech = await fetch(`${url}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'espeak', input: 'Hello from the container.', response_format: 'wav' }),
  });
  const audio = Buffer.from(await speech.arrayBuffer());
  check(speech.status === 200 && audio.subarray(0, 4).toString() === 'RIFF' && audio.length > 16_000, 'speech through espeak-ng is a WAV', `${speech.status}, ${audio.length} bytes`);

  const form = new FormData();
  form.set('model', 'whisper-test-tiny-v3');
  form.set('response_format', 'verbose_json');
  form.set('file', new Blob([await readFile(tone)], { type: 'audio/wav' }), 'tone.wav');
  const transcription = await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  const result = await transcription.json();
  check(
    transcription.status === 200 && typeof result.text === 'string' && Math.abs(result.duration - 3) < 0.1,
    'a transcription on the generated Whisper model in /data',
    JSON.stringify(result).slice(0, 300),
  );
  const staged = await fetch(`${url}/v1/files/check/tone.wav`, { method: 'PUT', body: await readFile(tone) });
  check(staged.status === 201, 'a file staged into /data as the unprivileged user', String(staged.status));

  const user = await docker('exec', container, 'id', '-u');
  check(user === '1000', 'docker exec runs as uid 1000', user);
  const pid = await docker('inspect', '-f', '{{.State.Pid}}', container);
  const uids = [];
  for (const process of [pid, ...(await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean)]) {
    const status = await readFile(`/proc/${process}/status`, 'utf8');
    uids.push(Number(/^Uid:\s+(\d+)/m.exec(status)[1]));
  }
  check(uids.length >= 2 && uids.every((uid) => uid === 1000), 'tini and the server run as uid 1000, not root', uids.join(', '));

  const stopStarted = Date.now();
  await docker('stop', '-t', String(STOP_TIMEOUT_SECONDS), container);
  const stopSeconds = (Date.now() - stopStarted) / 1000;
  const exitCode = await docker('inspect', '-f', '{{.State.ExitCode}}', container);
  const logs = (await run(dockerBinary, [...dockerArguments, 'logs', container])).stdout;
  check(exitCode === '0' && stopSeconds < STOP_TIMEOUT_SECONDS - 5 && /talkies stopped/.test(logs), 'docker stop ends it cleanly (SIGTERM through tini)', `exit ${exitCode} after ${stopSeconds.toFixed(1)}s`);
  // The server executed itself again under tini with glibc's allocator variables (malloc-tuning.ts).
  const allocator = logs.split('\n').find((line) => line.includes('"msg":"memory allocator"'));
  check(allocator !== undefined && JSON.parse(allocator).malloc?.via === 'environment', "glibc's allocator set from the server's start", allocator ?? 'no "memory allocator" line in the log');
} finally {
  await docker('rm', '-f', container).catch(() => undefined);
}

// A catalog mounted over /app/models.json replaces the built-in one.
const mounted = join(work, 'mounted-models.json');
await writeFile(mounted, JSON.stringify({ models: { 'mounted-espeak': { repo: 'espeak-ng', executor: 'espeak', modality: 'tts', default_voice: 'en-us' } } }));
const mountPort = await freePort();
const second = await docker('run', '-d', '--network', 'host', '-e', `TALKIES_PORT=${mountPort}`, '-e', 'TALKIES_HOST=127.0.0.1', '-v', `${mounted}:/app/models.json:ro`, image);
try {
  const health = await waitFor('GET /healthz', async () => (await fetch(`http://127.0.0.1:${mountPort}/healthz`)).json(), 90);
  check(JSON.stringify(health.models) === '["mounted-espeak"]', 'a models.json mounted over /app/models.json replaces the built-in one', JSON.stringify(health.models));
} finally {
  await docker('rm', '-f', second).catch(() => undefined);
}

if (failures > 0) {
  say(`${failures} check(s) failed`);
  process.exit(1);
}
