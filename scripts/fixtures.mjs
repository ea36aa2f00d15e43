#!/usr/bin/env node
// `pnpm fixtures --out DIR [--only slug,…]`: writes small generated models (random
// weights, real file layout, tensor names and configs) to DIR/models/<slug>/ and a
// DIR/models.json registering them, so that
//   TALKIES_DATA_DIR=DIR TALKIES_MODELS_FILE=DIR/models.json pnpm start
// serves them. Every engine package that exports `./testing` contributes its models:
// the module's `writeFixtures(outDir, options)` returns { slug: models.json entry }.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || !values.out) {
  process.stderr.write('usage: pnpm fixtures --out DIR [--only slug,slug]\n');
  process.exit(values.help ? 0 : 1);
}
const outDir = resolve(process.cwd(), values.out);
const only = values.only ? new Set(values.only.split(',').map((slug) => slug.trim()).filter(Boolean)) : undefined;
const root = resolve(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));
const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));

const models = {};
for (const name of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })) {
  let engineManifest;
  try {
    engineManifest = JSON.parse(await readFile(require.resolve(`${name}/package.json`), 'utf8'));
  } catch {
    continue;
  }
  if (!engineManifest.talkies?.executors || !engineManifest.exports?.['./testing']) continue;
  const entry = engineManifest.exports['./testing'];
  const file = typeof entry === 'string' ? entry : entry.default ?? entry.import;
  const module = await import(pathToFileURL(join(require.resolve(`${name}/package.json`), '..', file)).href);
  const started = performance.now();
  const written = await module.writeFixtures(outDir, { only });
  for (const [slug, model] of Object.entries(written)) models[slug] = model;
  process.stderr.write(`${name}: ${Object.keys(written).join(', ') || 'nothing'} (${Math.round(performance.now() - started)} ms)\n`);
}
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'models.json'), JSON.stringify({ models }, null, 2) + '\n');
process.stderr.write(`wrote ${Object.keys(models).length} model(s) and ${join(outDir, 'models.json')}\n`);
