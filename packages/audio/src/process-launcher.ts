/**
 * Starting a program with child_process.spawn() forks the calling process, and on Linux
 * the fork blocks the event loop for time that grows with the process's memory: about
 * 4 ms at 50 MB, 15 ms at 400 MB and 55 ms at 1.1 GB of RSS (measured on the CI machine
 * kind). With a speech model resident that would stall every request on every ffmpeg or
 * espeak-ng start. So programs are started by a small launcher process instead, forked
 * once while this process is still small; their stdio are sockets of this process, so the
 * data flows directly between the program and us.
 *
 * {@link launchProcess} returns a ChildProcess-like object with the same events and
 * streams, so callers read and write it as they would a spawned child. Set
 * TALKIES_DIRECT_SPAWN=1 to spawn directly instead.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface LaunchOptions {
  /** For each of stdin, stdout and stderr: a pipe, or ignored. */
  stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe' | 'ignore'];
}

/** The parts of ChildProcess that talkies uses. */
export interface LaunchedProcess extends EventEmitter {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
}

const TOKEN_BYTES = 16;

class RemoteProcess extends EventEmitter implements LaunchedProcess {
  stdin: PassThrough | null;
  stdout: PassThrough | null;
  stderr: PassThrough | null;
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly #launcher: Launcher;
  readonly id: number;
  readonly token: string;
  #connected = 0;
  readonly #expected: number;
  #exited = false;
  #closedStreams = 0;
  #openStreams: number;

  constructor(launcher: Launcher, id: number, options: LaunchOptions) {
    super();
    this.#launcher = launcher;
    this.id = id;
    this.token = randomBytes(TOKEN_BYTES).toString('hex');
    const [stdin, stdout, stderr] = options.stdio;
    this.stdin = stdin === 'pipe' ? new PassThrough() : null;
    this.stdout = stdout === 'pipe' ? new PassThrough() : null;
    this.stderr = stderr === 'pipe' ? new PassThrough() : null;
    this.#openStreams = (this.stdout ? 1 : 0) + (this.stderr ? 1 : 0);
    this.#expected = this.#openStreams + (this.stdin ? 1 : 0);
    for (const stream of [this.stdout, this.stderr]) stream?.once('close', () => this.#streamClosed());
  }

  /** A socket of ours arrived for stream `index` (0 stdin, 1 stdout, 2 stderr). */
  attach(index: number, socket: Socket): void {
    this.#connected += 1;
    this.#releaseWhenDone();
    if (index === 0 && this.stdin) {
      socket.on('error', (error) => this.stdin?.emit('error', error));
      this.stdin.pipe(socket);
      this.stdin.once('close', () => socket.end());
    } else {
      const target = index === 1 ? this.stdout! : this.stderr!;
      socket.on('error', () => socket.destroy());
      socket.pipe(target);
    }
  }

  spawned(pid: number): void {
    this.pid = pid;
    this.emit('spawn');
  }

  /** The launcher forgets us once the program exited and every socket found its stream. */
  #releaseWhenDone(): void {
    if (this.#exited && this.#connected >= this.#expected) this.#launcher.release(this.id);
  }

  failed(error: Error): void {
    this.#exited = true;
    this.#launcher.release(this.id);
    this.stdin?.destroy();
    this.stdout?.destroy();
    this.stderr?.destroy();
    this.emit('error', error);
    this.emit('close', null, null);
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.#exited = true;
    this.#releaseWhenDone();
    this.emit('exit', code, signal);
    this.#maybeClose();
  }

  #streamClosed(): void {
    this.#closedStreams += 1;
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#exited && this.#closedStreams >= this.#openStreams) this.emit('close', this.exitCode, this.signalCode);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#exited) return false;
    this.#launcher.send({ type: 'kill', id: this.id, signal });
    return true;
  }
}

class Launcher {
  readonly #child: ChildProcess;
  readonly #server: Server;
  readonly #directory: string;
  readonly #processes = new Map<number, RemoteProcess>();
  readonly #byToken = new Map<string, RemoteProcess>();
  #nextId = 1;
  #dead = false;

  constructor() {
    this.#directory = mkdtempSync(join(tmpdir(), 'talkies-launcher-'));
    const socketPath = join(this.#directory, 'stdio.sock');
    this.#server = createServer((socket) => this.#onConnection(socket));
    this.#server.listen(socketPath);
    this.#server.unref();
    // Beside this file once built; from the sources (under vitest) the built copy is used.
    const script = [new URL('./process-launcher-child.js', import.meta.url), new URL('../dist/process-launcher-child.js', import.meta.url)]
      .map((url) => fileURLToPath(url))
      .find((path) => existsSync(path));
    if (!script) throw new Error('process-launcher-child.js is missing; build @talkies/audio (pnpm build)');
    // Its own process group (detached): Ctrl-C in a terminal signals the whole foreground
    // group, and the programs of requests still in flight must outlive that signal while
    // the server drains. The launcher and its programs end when this process goes away (the
    // IPC channel closes; see process-launcher-child.ts).
    this.#child = fork(script, [socketPath], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
      detached: true,
    });
    this.#child.on('message', (message: { type: string; id: number; pid?: number; code?: number | string | null; signal?: NodeJS.Signals | null; message?: string }) => {
      const process = this.#processes.get(message.id);
      if (!process) return;
      if (message.type === 'spawned') process.spawned(message.pid!);
      else if (message.type === 'exit') process.exited(message.code as number | null, message.signal ?? null);
      else if (message.type === 'error') {
        const error = Object.assign(new Error(message.message), { code: message.code }) as NodeJS.ErrnoException;
        process.failed(error);
      }
    });
    // Whichever comes first: once the channel is gone, no launch can reach the launcher.
    this.#child.once('disconnect', () => this.#gone());
    this.#child.once('exit', () => this.#gone());
    this.#child.on('error', () => this.#gone());
    this.#idle();
  }

  /** The launcher died: fail what it was running, and let the next launch start a fresh one. */
  #gone(): void {
    if (this.#dead) return;
    this.#dead = true;
    if (launcher === this) launcher = undefined;
    for (const process of this.#processes.values()) process.failed(new Error('the process launcher exited'));
    this.#server.close();
    rmSync(this.#directory, { recursive: true, force: true });
  }

  #idle(): void {
    // An idle launcher must not keep the process alive.
    this.#child.unref();
    (this.#child.channel as { unref?: () => void } | undefined)?.unref?.();
  }

  #busy(): void {
    this.#child.ref();
    (this.#child.channel as { ref?: () => void } | undefined)?.ref?.();
  }

  #onConnection(socket: Socket): void {
    let header = '';
    const onData = (chunk: Buffer) => {
      header += chunk.toString('latin1');
      const end = header.indexOf('\n');
      if (end === -1) {
        if (header.length > 64) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const line = header.slice(0, end);
      const rest = Buffer.from(header.slice(end + 1), 'latin1');
      const process = this.#byToken.get(line.slice(0, TOKEN_BYTES * 2));
      const index = Number(line.slice(TOKEN_BYTES * 2));
      if (!process || !(index >= 0 && index <= 2)) return void socket.destroy();
      if (rest.length > 0) socket.unshift(rest);
      process.attach(index, socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  /** Whether launches can still reach the launcher process. */
  get usable(): boolean {
    return !this.#dead && this.#child.connected;
  }

  send(message: object): void {
    if (!this.#child.connected) return;
    // The launcher can die between the `connected` check and the write (EPIPE): without a
    // callback Node reports that as an 'error' event nobody listens to, an uncaught
    // exception. A failed write means the channel is gone: fail what it was running.
    this.#child.send(message, (error) => {
      if (error) this.#gone();
    });
  }

  launch(command: string, args: readonly string[], options: LaunchOptions): RemoteProcess {
    const id = this.#nextId++;
    const process = new RemoteProcess(this, id, options);
    if (this.#dead || !this.#child.connected) {
      // A launch message would be dropped and the caller would wait forever: fail it (after
      // the caller attached its listeners), as a spawn of a missing program fails.
      setImmediate(() => process.failed(new Error('the process launcher exited')));
      return process;
    }
    this.#processes.set(id, process);
    this.#byToken.set(process.token, process);
    this.#busy();
    this.send({
      type: 'launch',
      id,
      token: process.token,
      command,
      args: [...args],
      streams: options.stdio.map((mode) => mode === 'pipe'),
    });
    return process;
  }

  release(id: number): void {
    const process = this.#processes.get(id);
    if (!process) return;
    this.#processes.delete(id);
    this.#byToken.delete(process.token);
    if (this.#processes.size === 0) this.#idle();
  }
}

let launcher: Launcher | undefined;

/** Start the launcher now, while this process is small (optional; it starts on first use). */
export function startProcessLauncher(): void {
  if (process.env.TALKIES_DIRECT_SPAWN === '1') return;
  // One that died (killed from outside) is replaced rather than handed launches it cannot receive.
  if (launcher && !launcher.usable) launcher = undefined;
  launcher ??= new Launcher();
}

/** Start a program, as child_process.spawn would, without forking this process. */
export function launchProcess(command: string, args: readonly string[], options: LaunchOptions): LaunchedProcess {
  // detached, for the same reason as the launcher: a terminal's Ctrl-C must not kill it mid-request.
  if (process.env.TALKIES_DIRECT_SPAWN === '1') return spawn(command, args, { stdio: options.stdio, detached: true });
  startProcessLauncher();
  return launcher!.launch(command, args, options);
}
