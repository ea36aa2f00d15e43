/**
 * Boot: environment → registry → engines → catalog and pool → HTTP. Every boot-time
 * problem (bad models.json, unknown executor, missing ffmpeg) stops the process with a
 * message that says what to fix.
 */
import 'reflect-metadata';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { DependencyContainer } from 'tsyringe';
import pino, { type Logger } from 'pino';
import { loadModels, type IdleSweeper } from '@talkies/core';
import { checkFfmpeg, startProcessLauncher } from '@talkies/audio';
import { engineBaseDirectories, loadConfig, type ServerConfig } from './config.js';
import { createApp } from './app.js';
import { composeServer } from './composition-root.js';
import { ModelCatalog } from './model-catalog.js';
import { FileStore } from './file-store.js';
import { RealtimeTranscriptionServer } from './realtime-transcription.js';
import { SpeechService } from './speech-service.js';
import { ChunkerToken, SweeperToken } from './tokens.js';
import { WyomingServer, type WyomingAddress } from './wyoming-server.js';

export interface StartOptions {
  /** Defaults to `loadConfig(process.env)`; tests pass overrides. */
  config?: Partial<ServerConfig>;
  environment?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Monotonic clock in ms, for the pool and sweeper. */
  now?: () => number;
  /** Directories whose package.json dependencies are scanned for engines. */
  pluginBaseDirectories?: string[];
}

export interface RunningServer {
  url: string;
  port: number;
  config: ServerConfig;
  container: DependencyContainer;
  catalog: ModelCatalog;
  sweeper: IdleSweeper;
  logger: Logger;
  /** The Wyoming server's address, when `TALKIES_WYOMING_PORT` turned it on. */
  wyoming?: WyomingAddress;
  /** Stop accepting, let in-flight requests finish, dispose the models. */
  close(): Promise<void>;
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const config: ServerConfig = { ...loadConfig(options.environment ?? process.env), ...options.config };
  const logger = options.logger ?? pino({
      level: config.logLevel,
      base: { service: 'talkies' },
      // Bearer tokens never reach the log, whatever logs a request's headers.
      redact: ['req.headers.authorization', '*.headers.authorization', 'headers.authorization'],
    });
  const now = options.now ?? (() => performance.now());
  await checkFfmpeg();
  // Fork the launcher for ffmpeg/espeak-ng now, while this process is small (see @talkies/audio).
  startProcessLauncher();

  const { registry, engines } = await loadModels({
    modelsFile: config.modelsFile,
    enabled: config.enabledModels,
    preload: config.preload,
    baseDirectories: options.pluginBaseDirectories ?? engineBaseDirectories(config),
  });

  const container = composeServer({ config, logger, registry, engines, now });
  const catalog = container.resolve(ModelCatalog);
  const sweeper = container.resolve(SweeperToken);
  const chunker = container.resolve(ChunkerToken);

  for (const slug of registry.preload) {
    try {
      await catalog.pool.preload(slug);
    } catch (error) {
      logger.error({ model: slug, err: error }, 'preload failed; the model will load on first use');
    }
  }

  // Wyoming (Home Assistant) listens first: a taken port stops the boot before HTTP is up.
  const wyomingServer = container.resolve(WyomingServer);
  let wyoming: WyomingAddress | undefined;
  if (config.wyomingPort !== undefined) {
    try {
      wyoming = await wyomingServer.listen(config.wyomingPort);
    } catch (error) {
      await catalog.close();
      await chunker.dispose();
      container.resolve(SpeechService).close();
      throw error;
    }
  }

  const app = await createApp(container);
  const handle = app.callback();
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  const server: Server = createServer((request, response) => {
    // While shutting down, in-flight requests get their answer and then the connection closes.
    if (draining) response.setHeader('Connection', 'close');
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
    void handle(request, response);
  });
  // WebSocket upgrades: /v1/realtime (transcription sessions).
  const realtime = container.resolve(RealtimeTranscriptionServer);
  realtime.attach(server);
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await wyomingServer.close();
    throw error;
  });
  sweeper.start();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  logger.info({ url, models: registry.slugs }, 'talkies is listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      sweeper.stop();
      draining = true;
      realtime.close();
      for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutSeconds * 1000);
      deadline.unref();
      await Promise.all([stopped, wyomingServer.close()]);
      clearTimeout(deadline);
      await catalog.close();
      await chunker.dispose();
      container.resolve(SpeechService).close();
      container.resolve(FileStore).stopSweeping();
      logger.info('talkies stopped');
    })());

  return { url, port, config, container, catalog, sweeper, logger, ...(wyoming ? { wyoming } : {}), close };
}
