/**
 * Signals stop the server the way the README says (issue 8, item 5). The README's start
 * command, `pnpm start`, runs in a process group of its own here, as in a terminal; the
 * tests send real signals to the pnpm process or to the whole group while a staged upload
 * and a streamed espeak-ng speech request are in flight. Both must finish, new
 * connections must be refused, everything must exit with status 0, and no process of
 * the server (node, the process launcher, espeak-ng) may be left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ESPEAK } from './test-server.js';
import { openRequest, readResponse } from './raw-http.js';

const repositoryRoot = resolve(__dirname, '../../..');

/** pnpm as this test run found it: the script that launched us, else the one on PATH. */
function pnpmCommand(): [string, string[]] {
  const script = process.env.npm_execpath;
  if (script && /pnpm/.test(script)) return /\.(c?js|mjs)$/.test(script) ? [process.execPath, [script]] : [script, []];
  return ['pnpm', []];
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  command: string;
}

/** Every process on this machine, from /proc. */
function processes(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has exited; it only waits for its parent to collect the status.
      if (fields[0] === 'Z') continue;
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]), command });
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

function descendants(root: number): ProcessInfo[] {
  const all = processes();
  const result: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const info of all) {
      if (info.ppid === parent) {
        result.push(info);
        queue.push(info.pid);
      }
    }
  }
  return result;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventually<T>(check: () => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

/** Sixty short sentences: espeak-ng runs once per sentence, so the request needs the launcher until its end. */
const TEXT = Array.from({ length: 60 }, (_, index) => `This is sentence number ${index + 1} of the shutdown test.`).join(' ');

async function scenario(signal: 'SIGTERM' | 'SIGINT', target: 'process' | 'group'): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'talkies-signals-'));
  const modelsFile = join(dataDir, 'models.json');
  await writeFile(modelsFile, JSON.stringify({ models: { espeak: ESPEAK } }));
  const [command, prefix] = pnpmCommand();
  try {
    // detached: a process group of its own, like a shell job in a terminal.
    const pnpm = spawn(command, [...prefix, 'start'], {
      cwd: repositoryRoot,
      detached: true,
      env: {
        ...process.env,
        TALKIES_MODELS_FILE: modelsFile,
        TALKIES_DATA_DIR: dataDir,
        TALKIES_PORT: '0',
        TALKIES_LOG_LEVEL: 'info',
        TALKIES_SHUTDOWN_TIMEOUT: '60',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(pnpm);
    let output = '';
    pnpm.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
    pnpm.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
      pnpm.once('exit', (code, exitSignal) => resolveExit({ code, signal: exitSignal })),
    );
    const url = await eventually(() => {
      if (pnpm.exitCode !== null) throw new Error(`pnpm start exited early (${pnpm.exitCode}): ${output}`);
      return /"url":"(http:[^"]+)"/.exec(output)?.[1];
    }, 'the server to listen');
    const { port } = new URL(url);

    // The process tree: pnpm → node (exec'd by the start script) → the launcher, in its own group.
    const tree = descendants(pnpm.pid!);
    const server = tree.find((info) => /cli\.js serve/.test(info.command));
    expect(server, JSON.stringify(tree)).toBeDefined();
    expect(server!.ppid, 'node is pnpm\'s own child: the start script execs it').toBe(pnpm.pid);
    expect(server!.pgid).toBe(pnpm.pid);

    // In flight 1: a staged upload, half sent.
    const upload = openRequest(url, 'PUT', '/v1/files/during-shutdown.bin', { 'content-length': 200_000 });
    upload.request.write(Buffer.alloc(100_000, 3));

    // In flight 2: streamed speech, read up to its first bytes and then held (the client stops reading).
    const speech = await new Promise<IncomingMessage>((resolveResponse, reject) => {
      const outgoing = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/audio/speech', headers: { 'content-type': 'application/json' } });
      outgoing.once('response', resolveResponse);
      outgoing.once('error', reject);
      outgoing.end(JSON.stringify({ model: 'espeak', input: TEXT, response_format: 'pcm', stream_format: 'audio' }));
    });
    expect(speech.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    let received = 0;
    const first = await new Promise<Buffer>((resolveChunk) => speech.once('data', resolveChunk));
    speech.pause();
    chunks.push(first);
    received += first.length;
    const launcher = await eventually(
      () => descendants(server!.pid).find((info) => /process-launcher-child/.test(info.command)),
      'the process launcher',
    );
    expect(launcher.pgid, 'the launcher has a process group of its own').not.toBe(pnpm.pid);

    if (target === 'group') process.kill(-pnpm.pid!, signal);
    else process.kill(pnpm.pid!, signal);
    await eventually(() => /shutting down/.test(output), 'the server to start draining');
    const receivedAtSignal = received;

    // New connections are refused while the two requests finish.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    upload.request.end(Buffer.alloc(100_000, 4));
    const uploaded = await readResponse(await upload.response);
    expect(uploaded.status).toBe(201);
    expect(uploaded.json).toEqual({ path: 'during-shutdown.bin', size: 200_000 });

    const complete = new Promise<void>((resolveEnd, reject) => {
      speech.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
      });
      speech.once('end', () => (speech.complete ? resolveEnd() : reject(new Error('speech answer cut short'))));
      speech.once('error', reject);
      speech.once('close', () => {
        if (!speech.complete) reject(new Error('speech answer cut short: the connection closed'));
      });
    });
    speech.resume();
    await complete;
    // 60 sentences of 16-bit audio: far more than was sent before the signal.
    expect(received).toBeGreaterThan(receivedAtSignal);
    expect(received % 2).toBe(0);
    expect(received / 2 / 22_050).toBeGreaterThan(60);

    const exit = await exited;
    expect(exit, output.slice(-2000)).toEqual({ code: 0, signal: null });
    const lines = output.split('\n');
    const draining = lines.findIndex((line) => /shutting down/.test(line));
    const speechDone = lines.findIndex((line) => /"path":"\/v1\/audio\/speech","status":200/.test(line));
    expect(speechDone, 'the speech request ended after the signal').toBeGreaterThan(draining);
    expect(output).toMatch(/talkies stopped/);
    expect(output).not.toMatch(/"level":50/);
    // Nothing is left: not the server, not the launcher, not an espeak-ng.
    await eventually(() => !alive(server!.pid) && !alive(launcher.pid), 'the server and its launcher to be gone', 10_000);
    const leftover = () => processes().filter((info) => info.pgid === pnpm.pid || info.pgid === launcher.pgid);
    await eventually(() => leftover().length === 0, `no process left: ${JSON.stringify(leftover())}`, 10_000);
    expect((await readFile(join(dataDir, 'files', 'during-shutdown.bin'))).length).toBe(200_000);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe('stopping `pnpm start` with signals', () => {
  it.concurrent('SIGTERM to the pnpm process: in-flight requests finish, new ones are refused, exit 0, nothing orphaned', async () => {
    await scenario('SIGTERM', 'process');
  }, 120_000);

  it.concurrent('SIGINT to the whole process group (Ctrl-C in a terminal): the same, espeak-ng included', async () => {
    await scenario('SIGINT', 'group');
  }, 120_000);
});
