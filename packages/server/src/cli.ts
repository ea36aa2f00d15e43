#!/usr/bin/env node
/**
 * `talkies serve` starts the server; `talkies models` lists the catalog.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelRegistry, resolveEngines, SpeechError } from '@talkies/core';
import { loadConfig } from './config.js';
import { startServer } from './server.js';

const USAGE = `usage: talkies <command>

commands:
  serve     start the HTTP server (TALKIES_HOST, TALKIES_PORT, … see the README)
  models    list the configured models: slug, engine, modality, on disk, license
`;

function fail(error: unknown): never {
  const message = SpeechError.is(error) || error instanceof Error ? error.message : String(error);
  process.stderr.write(`talkies: ${message}\n`);
  process.exit(1);
}

async function serve(): Promise<void> {
  const running = await startServer();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.logger.info({ signal }, 'shutting down: finishing in-flight requests');
    running.close().then(
      () => process.exit(0),
      (error) => {
        running.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function models(): Promise<void> {
  const config = loadConfig();
  const registry = await ModelRegistry.fromFile(config.modelsFile, { enabled: config.enabledModels });
  const engines = await resolveEngines(registry, [process.cwd()]);
  const rows = [['SLUG', 'ENGINE', 'MODALITY', 'ON DISK', 'LICENSE']];
  for (const [slug, entry] of registry.entries()) {
    const engine = engines.bySlug.get(slug)!;
    const paths = { dataDir: config.dataDir, modelDir: join(config.dataDir, 'models', slug) };
    let onDisk: boolean;
    if (engine.isDownloaded) onDisk = await engine.isDownloaded({ modelId: slug, entry, paths });
    else onDisk = await access(paths.modelDir).then(() => true, () => false);
    const modality = entry.modality ?? '?';
    rows.push([slug, `${entry.executor} (${engine.name})`, modality, onDisk ? 'yes' : 'no', entry.license ?? '-']);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd() + '\n');
}

const command = process.argv[2];
if (command === 'serve') serve().catch(fail);
else if (command === 'models') models().catch(fail);
else {
  process.stderr.write(USAGE);
  process.exit(command ? 1 : 0);
}
