#!/usr/bin/env node
/**
 * `talkies serve` starts the server; `talkies models` lists the catalog; `talkies pull`
 * downloads models ahead of time.
 */
// First: V8 settings must be in place before anything else runs.
import './v8-workarounds.js';
import './malloc-at-start.js';
import { access } from 'node:fs/promises';
import { engineContext, loadModels, SpeechError, type DownloadProgress } from '@talkies/core';
import { engineBaseDirectories, loadConfig } from './config.js';
import { tuneMallocAtStart } from './malloc-tuning.js';
import { startServer } from './server.js';

const USAGE = `usage: talkies <command>

commands:
  serve     start the HTTP server (TALKIES_HOST, TALKIES_PORT, … see the README)
  models    list the configured models: slug, engine, modality, on disk, license
  pull      download models into TALKIES_DATA_DIR ahead of time: talkies pull <slug…>
`;

function fail(error: unknown): never {
  const message = SpeechError.is(error) || error instanceof Error ? error.message : String(error);
  process.stderr.write(`talkies: ${message}\n`);
  process.exit(1);
}

async function serve(): Promise<void> {
  // Set when the process started (malloc-at-start.ts): what was done.
  const malloc = tuneMallocAtStart();
  const running = await startServer();
  running.logger.info(malloc.applied ? { malloc: { ...malloc.settings, via: malloc.via } } : { malloc: `left as it is: ${malloc.reason}` }, 'memory allocator');
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
  const { registry, engines } = await loadModels({
    modelsFile: config.modelsFile,
    enabled: config.enabledModels,
    baseDirectories: engineBaseDirectories(config),
  });
  const rows = [['SLUG', 'ENGINE', 'MODALITY', 'ON DISK', 'LICENSE']];
  for (const [slug, entry] of registry.entries()) {
    const engine = engines.bySlug.get(slug)!;
    const context = engineContext(registry, engines, slug, { dataDir: config.dataDir, logger: silentLogger, signal: new AbortController().signal, now: () => performance.now() });
    let onDisk: boolean;
    if (engine.isDownloaded) onDisk = await engine.isDownloaded(context);
    else onDisk = await access(context.paths.modelDir).then(() => true, () => false);
    const modality = entry.modality ?? '?';
    rows.push([slug, `${entry.executor} (${engine.name})`, modality, onDisk ? 'yes' : 'no', entry.license ?? '-']);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd() + '\n');
}

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** One line per file: redrawn in place on a terminal, printed once when done otherwise. */
function progressPrinter(slug: string): (progress: DownloadProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastDraw = 0;
  return ({ file, received, total, done }) => {
    const fraction = total > 0 ? received / total : 1;
    const width = 24;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    const line = `${slug}  ${file}  [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${megabytes(received)}/${megabytes(total)} MB`;
    if (tty) {
      const now = Date.now();
      if (!done && now - lastDraw < 100) return;
      lastDraw = now;
      process.stderr.write(`\r\x1b[2K${line}${done ? '\n' : ''}`);
    } else if (done) {
      process.stderr.write(`${line}\n`);
    }
  };
}

async function pull(names: string[]): Promise<void> {
  if (names.length === 0) throw new SpeechError('INVALID_REQUEST', 'usage: talkies pull <slug…> (see `talkies models` for the slugs)');
  const config = loadConfig();
  const { registry, engines } = await loadModels({ modelsFile: config.modelsFile, baseDirectories: engineBaseDirectories(config) });
  // An alias pulls its model, into the model's own folder.
  const slugs = [...new Set(names.map((name) => (registry.require(name), registry.resolve(name)!)))];
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const logger = {
    debug() {},
    info() {},
    warn: (object: object | string, message?: string) => process.stderr.write(`warning: ${message ?? (typeof object === 'string' ? object : '')}\n`),
    error: (object: object | string, message?: string) => process.stderr.write(`error: ${message ?? (typeof object === 'string' ? object : '')}\n`),
  };
  for (const slug of slugs) {
    const engine = engines.bySlug.get(slug)!;
    const context = engineContext(registry, engines, slug, { dataDir: config.dataDir, logger, signal: controller.signal, now: () => performance.now() });
    if (engine.download) {
      await engine.download(context, { onProgress: progressPrinter(slug), signal: controller.signal });
    } else {
      // No download hook: loading the model once fetches whatever it needs.
      const backend = engine.createBackend(context);
      await backend.load();
      await backend.dispose();
    }
    process.stderr.write(`${slug}: ready in ${context.paths.modelDir}\n`);
  }
}

const command = process.argv[2];
if (command === 'serve') serve().catch(fail);
else if (command === 'models') models().catch(fail);
else if (command === 'pull') pull(process.argv.slice(3)).catch(fail);
else {
  process.stderr.write(USAGE);
  process.exit(command ? 1 : 0);
}
