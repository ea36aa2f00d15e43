/**
 * The launcher process (see process-launcher.ts). It stays small, so fork() is cheap here,
 * and it starts each program with stdio connected straight to sockets of the main process:
 * the data never passes through this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

interface LaunchMessage {
  type: 'launch';
  id: number;
  token: string;
  command: string;
  args: string[];
  /** Which of stdin, stdout, stderr are wanted (false: ignored). */
  streams: [boolean, boolean, boolean];
}
interface KillMessage {
  type: 'kill';
  id: number;
  signal: NodeJS.Signals;
}

const socketPath = process.argv[2]!;
const children = new Map<number, ChildProcess>();
/** Kills that arrived before their program was started. */
const pendingKills = new Map<number, NodeJS.Signals>();

function send(message: object): void {
  if (process.connected) process.send!(message);
}

function open(token: string, index: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // The main process matches this connection to its request by token and stream index.
      socket.write(`${token}${index}\n`, () => resolve(socket));
    });
  });
}

async function launch(message: LaunchMessage): Promise<void> {
  let sockets: (Socket | undefined)[] = [];
  try {
    sockets = await Promise.all(message.streams.map((wanted, index) => (wanted ? open(message.token, index) : undefined)));
    const child = spawn(message.command, message.args, {
      stdio: sockets.map((socket) => socket ?? 'ignore') as ('ignore' | Socket)[],
    });
    children.set(message.id, child);
    const early = pendingKills.get(message.id);
    if (early) {
      pendingKills.delete(message.id);
      child.kill(early);
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      children.delete(message.id);
      send({ type: 'error', id: message.id, message: error.message, code: error.code });
    });
    child.once('spawn', () => send({ type: 'spawned', id: message.id, pid: child.pid }));
    child.once('exit', (code, signal) => {
      children.delete(message.id);
      send({ type: 'exit', id: message.id, code, signal });
    });
  } catch (error) {
    send({ type: 'error', id: message.id, message: (error as Error).message, code: (error as NodeJS.ErrnoException).code });
  } finally {
    // The child holds its own copies of the descriptors; ours would only delay EOF.
    for (const socket of sockets) socket?.destroy();
  }
}

process.on('message', (message: LaunchMessage | KillMessage) => {
  if (message.type === 'launch') void launch(message);
  else if (message.type === 'kill') {
    const child = children.get(message.id);
    if (child) child.kill(message.signal);
    else pendingKills.set(message.id, message.signal);
  }
});
// Signals meant for the server (a terminal's Ctrl-C, a supervisor's SIGTERM) are its to
// handle: it finishes the requests in flight, then exits, and the channel closing below
// ends the launcher. Ignored here in case the launcher shares the server's process group.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// When the main process goes away, take every program it started with us.
process.on('disconnect', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
});
