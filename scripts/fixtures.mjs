#!/usr/bin/env node
// `pnpm fixtures --out DIR [--only slug,…]`: writes small generated models (random
// weights, real file layout, tensor names and configs) to DIR/models/<slug>/ and a
// DIR/models.json registering them, so that
//   TALKIES_DATA_DIR=DIR TALKIES_MODELS_FILE=DIR/models.json pnpm start
// serves them. Every engine package that exports `./testing` contributes its models:
// the module's `writeFixtures(outDir, options)` returns { slug: models.json entry }.
// The large benchmark models are written only when --only names them.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { discoverAllEngines, importFrom } from '@talkies/core';

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

// The same discovery as `talkies serve`: the engine packages among the app's dependencies.
const packages = new Set([...(await discoverAllEngines([root])).values()].map((engine) => engine.packageName));
const models = {};
for (const name of packages) {
  const module = await importFrom(`${name}/testing`, [root]);
  if (typeof module?.writeFixtures !== 'function') continue;
  const started = performance.now();
  const written = await module.writeFixtures(outDir, { only });
  for (const [slug, model] of Object.entries(written)) models[slug] = model;
  process.stderr.write(`${name}: ${Object.keys(written).join(', ') || 'nothing'} (${Math.round(performance.now() - started)} ms)\n`);
}
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'models.json'), JSON.stringify({ models }, null, 2) + '\n');
process.stderr.write(`wrote ${Object.keys(models).length} model(s) and ${join(outDir, 'models.json')}\n`);
