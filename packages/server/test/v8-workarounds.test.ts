/**
 * The CLI turns V8's Maglev compiler off before anything runs (see v8-workarounds.ts):
 * a hot function in a process that loaded the module is never compiled with Maglev, and
 * TALKIES_V8_MAGLEV=on keeps it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/v8-workarounds.js', import.meta.url));
const HOT = `
await import(${JSON.stringify(built)});
function piece(index) { return { start: index * 0.25, end: index * 0.25 + 0.125 }; }
let total = 0;
for (let index = 0; index < 3e6; index++) total += piece(index).end;
console.log(total > 0);
`;

async function maglevCompiles(environment: Record<string, string>): Promise<number> {
  if (!existsSync(built)) throw new Error(`${built} is missing: build first with \`pnpm exec tsc -b\``);
  const { stdout } = await promisify(execFile)(process.execPath, ['--maglev', '--trace-opt', '--input-type=module', '-e', HOT], {
    env: { ...process.env, ...environment },
    maxBuffer: 1 << 24,
  });
  expect(stdout).toContain('true');
  return stdout.split('\n').filter((line) => /maglev/i.test(line)).length;
}

describe('V8 settings of the server process', () => {
  it('turns Maglev off, unless TALKIES_V8_MAGLEV=on', async () => {
    expect(await maglevCompiles({ TALKIES_V8_MAGLEV: '' })).toBe(0);
    expect(await maglevCompiles({ TALKIES_V8_MAGLEV: 'on' })).toBeGreaterThan(0);
  });
});
