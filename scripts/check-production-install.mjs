#!/usr/bin/env node
// Packs every published package of the workspace (`pnpm pack`), installs all the engine
// tarballs into an empty folder with production dependencies only (from the npm registry
// and the local store), and checks that:
//   - no test-only package arrives (onnx-proto, @talkies/testkit, vitest, the JS peers);
//   - every engine's main entry loads and is an engine of the contract this core speaks;
//   - an engine's ./testing export (the fixture writers) is not importable without its
//     dev dependencies, i.e. fixture code is not part of the main entry.
// Run by .ci/run after the tests; it needs the registry, so it is not a vitest test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const TEST_ONLY = ['onnx-proto', '@talkies/testkit', 'vitest', '@huggingface/transformers', 'kokoro-js', 'parakeet.js', 'openai'];
const work = mkdtempSync(join(tmpdir(), 'talkies-production-install-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const app = join(work, 'app');
mkdirSync(app);
const environment = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip' };
let failures = 0;
const fail = (message) => {
  failures += 1;
  process.stderr.write(`FAIL ${message}\n`);
};

try {
  const packages = readdirSync(join(root, 'packages'))
    .map((name) => ({ directory: join(root, 'packages', name), manifest: JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8')) }))
    .filter(({ manifest }) => !manifest.private);
  const files = {};
  for (const { directory, manifest } of packages) {
    const output = execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: directory, env: environment, encoding: 'utf8' });
    const tarball = output.trim().split('\n').at(-1);
    files[manifest.name] = `file:${tarball}`;
  }
  const engines = packages.filter(({ manifest }) => Array.isArray(manifest.talkies?.executors)).map(({ manifest }) => manifest.name);
  const workspace = Object.fromEntries(packages.filter(({ manifest }) => !engines.includes(manifest.name) && manifest.name !== '@talkies/testkit' && manifest.name !== '@talkies/server' && manifest.name !== '@talkies/mcp').map(({ manifest }) => [manifest.name, files[manifest.name]]));
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'production-install-check',
      private: true,
      type: 'module',
      dependencies: { ...workspace, ...Object.fromEntries(engines.map((name) => [name, files[name]])) },
      pnpm: { overrides: workspace },
    }, null, 2),
  );
  process.stderr.write(`installing ${engines.join(', ')} with production dependencies only\n`);
  execFileSync('pnpm', ['install', '--prod', '--prefer-offline', '--config.auto-install-peers=false', '--reporter=silent'], { cwd: app, env: environment, stdio: 'inherit' });

  // .pnpm holds one folder per package version: `zod@4.1.0`, `@scope+name@1.0.0_peer…`.
  const installed = new Set(
    readdirSync(join(app, 'node_modules', '.pnpm')).map((entry) =>
      (entry.startsWith('@') ? `@${entry.slice(1).split('@')[0]}` : entry.split('@')[0]).replace('+', '/'),
    ),
  );
  if (!installed.has('zod') || !installed.has('@talkies/core')) fail(`could not read the installed packages (${[...installed].slice(0, 5).join(', ')}, …)`);
  for (const name of TEST_ONLY) if (installed.has(name)) fail(`a production install brought the test-only package ${name}`);

  const check = `
    const engines = ${JSON.stringify(engines)};
    for (const name of engines) {
      const engine = (await import(name)).default;
      if (!engine || engine.specificationVersion !== 'v1' || typeof engine.createBackend !== 'function') throw new Error(name + ' did not load as a v1 engine');
      let testing = 'absent';
      try { await import(name + '/testing'); testing = 'loaded'; } catch (error) { if (error.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') testing = 'needs dev dependencies'; }
      if (testing === 'loaded') throw new Error(name + '/testing loaded without its dev dependencies: fixture code needs none of them?');
      console.log(name + ': loads (' + engine.executors.join(', ') + '); ./testing ' + testing);
    }`;
  try {
    process.stderr.write(execFileSync('node', ['--input-type=module', '-e', check], { cwd: app, encoding: 'utf8' }));
  } catch (error) {
    fail(`loading the installed engines: ${error.stderr || error.message}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failures > 0) process.exit(1);
process.stderr.write('production install check: ok\n');
