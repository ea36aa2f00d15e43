import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { launchProcess, type LaunchedProcess } from './process-launcher.js';

function collect(process: LaunchedProcess): Promise<{ stdout: string; stderr: string; code: number | null; signal: string | null }> {
  let stdout = '';
  let stderr = '';
  process.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  process.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    process.once('error', reject);
    process.once('close', (code: number | null, signal: string | null) => resolve({ stdout, stderr, code, signal }));
  });
}

describe('launchProcess', () => {
  it('runs a program with stdin, stdout and stderr connected, and reports its exit code', async () => {
    const child = launchProcess('sh', ['-c', 'cat; echo oops >&2; exit 3'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.end('hello through a socket\n');
    const result = await collect(child);
    expect(result).toEqual({ stdout: 'hello through a socket\n', stderr: 'oops\n', code: 3, signal: null });
  });

  it('moves large outputs without loss', async () => {
    const child = launchProcess('head', ['-c', String(20 * 1024 * 1024), '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout!.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await new Promise((resolve) => child.once('close', resolve));
    expect(bytes).toBe(20 * 1024 * 1024);
  });

  it('starts programs from the launcher, not by forking this process', async () => {
    const child = launchProcess('sh', ['-c', 'echo $PPID'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const { stdout } = await collect(child);
    const parent = Number(stdout.trim());
    expect(parent).not.toBe(process.pid);
    const grandparent = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(parent)], { encoding: 'utf8' }).trim() || 0);
    expect([process.pid, 0]).toContain(grandparent);
  });

  it('keeps its programs out of the caller\'s process group, so a terminal\'s Ctrl-C does not reach them', async () => {
    const child = launchProcess('sh', ['-c', 'ps -o pgid= -p $$'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const { stdout } = await collect(child);
    const ownGroup = Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(process.pid)], { encoding: 'utf8' }).trim());
    expect(Number(stdout.trim())).toBeGreaterThan(0);
    expect(Number(stdout.trim())).not.toBe(ownGroup);
  });

  it('fails the programs of a launcher that died instead of hanging, and starts a fresh one for the next', async () => {
    const running = launchProcess('sh', ['-c', 'echo $PPID $$; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [launcherPid, sleepPid] = await new Promise<number[]>((resolve) =>
      running.stdout!.once('data', (chunk: Buffer) => resolve(String(chunk).trim().split(' ').map(Number))),
    );
    const failure = new Promise<Error>((resolve) => running.once('error', resolve));
    process.kill(launcherPid, 'SIGKILL');
    // Launched while the launcher is dying: it either fails at once or runs on a fresh launcher, never hangs.
    const during = collect(launchProcess('echo', ['during'], { stdio: ['ignore', 'pipe', 'ignore'] })).then(
      (result) => result.stdout,
      (error: Error) => error.message,
    );
    expect((await failure).message).toBe('the process launcher exited');
    expect(await during).toMatch(/^(during\n|the process launcher exited)$/);
    const after = await collect(launchProcess('sh', ['-c', 'echo $PPID'], { stdio: ['ignore', 'pipe', 'ignore'] }));
    expect(Number(after.stdout.trim())).not.toBe(launcherPid);
    // A launcher killed with SIGKILL cannot take its programs along: end the orphaned sleep.
    process.kill(sleepPid!, 'SIGKILL');
  });

  it('settles every launch sent while its launcher dies (a write into the dead channel fails them, nothing is thrown)', async () => {
    // Launches race the launcher's death: one written after the child died but before Node
    // noticed the disconnect fails with EPIPE. Vitest reports an uncaught one as an error.
    for (let round = 0; round < 4; round++) {
      const running = launchProcess('sh', ['-c', 'echo $PPID; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
      running.on('error', () => {});
      const launcherPid = await new Promise<number>((resolve) => running.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));
      process.kill(launcherPid, 'SIGKILL');
      const outcomes: Array<Promise<string>> = [];
      const started = Date.now();
      while (Date.now() - started < 30) {
        const launched = launchProcess('true', [], { stdio: ['ignore', 'ignore', 'ignore'] });
        outcomes.push(new Promise((resolve) => {
          launched.once('error', (error: Error) => resolve(error.message));
          launched.once('exit', () => resolve('ran'));
        }));
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (const outcome of await Promise.all(outcomes)) expect(outcome).toMatch(/^(ran|the process launcher exited)$/);
    }
  });

  it('kills a program, even one killed before it started', async () => {
    const early = launchProcess('sleep', ['30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    early.kill('SIGKILL');
    expect((await collect(early)).signal).toBe('SIGKILL');
    const late = launchProcess('sleep', ['30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise((resolve) => late.once('spawn', resolve));
    expect(late.pid).toBeGreaterThan(0);
    late.kill('SIGTERM');
    expect((await collect(late)).signal).toBe('SIGTERM');
  });

  it('reports a missing program as an error with code ENOENT', async () => {
    const child = launchProcess('/no/such/program', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
    expect(error.code).toBe('ENOENT');
  });

  it('runs many programs at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => collect(launchProcess('echo', [String(index)], { stdio: ['ignore', 'pipe', 'pipe'] }))),
    );
    expect(results.map((result) => result.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, index) => String(index)));
  });
});
