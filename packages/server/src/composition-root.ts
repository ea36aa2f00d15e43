/**
 * The composition root: the one place that registers what the server is made of. Routes
 * and services receive their dependencies through their constructors (each parameter
 * names its token: esbuild emits no decorator metadata). The container stays inside
 * this package: engines and core get plain objects.
 */
import { join } from 'node:path';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import type { Logger } from 'pino';
import { createSileroDetector, IdleSweeper, VadChunker, type ModelRegistry, type ResolvedEngines } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { FileStore } from './file-store.js';
import { FilesRoutes } from './files-routes.js';
import { LiveTranscriptionService } from './live-transcription-service.js';
import { McpRoute } from './mcp-route.js';
import { RealtimeTranscriptionServer } from './realtime-transcription.js';
import { ServerMetrics } from './metrics.js';
import { ModelCatalog } from './model-catalog.js';
import { ModelRoutes } from './model-routes.js';
import { SpeechRoute } from './speech-route.js';
import { SpeechService } from './speech-service.js';
import { ChunkerToken, ClockToken, ConfigToken, EnginesToken, LoggerToken, MetricsToken, RegistryToken, SweeperToken } from './tokens.js';
import { TranscriptionRoute } from './transcription-route.js';
import { TranscriptionService } from './transcription-service.js';
import { WyomingServer } from './wyoming-server.js';

export interface ServerParts {
  config: ServerConfig;
  logger: Logger;
  registry: ModelRegistry;
  engines: ResolvedEngines;
  /** Monotonic milliseconds. */
  now: () => number;
}

/** A container holding one server's parts; several can live side by side (tests). */
export function composeServer(parts: ServerParts): DependencyContainer {
  const container = rootContainer.createChildContainer();
  const { config, logger, registry } = parts;
  container.register(ConfigToken, { useValue: config });
  container.register(LoggerToken, { useValue: logger });
  container.register(RegistryToken, { useValue: registry });
  container.register(EnginesToken, { useValue: parts.engines });
  container.register(ClockToken, { useValue: parts.now });
  container.register(MetricsToken, { useValue: new ServerMetrics(registry.slugs, (slug) => join(config.dataDir, 'models', slug), (name) => registry.resolve(name)) });
  // Silero (onnxruntime-node) loads on the first audio longer than the chunking threshold.
  container.register(ChunkerToken, { useValue: new VadChunker(() => createSileroDetector(), config.longAudio) });
  container.register(SweeperToken, {
    useFactory: instanceCachingFactory(
      (resolver) =>
        new IdleSweeper(resolver.resolve(ModelCatalog).pool, {
          ttlSeconds: config.modelTtlSeconds,
          intervalSeconds: config.sweeperIntervalSeconds,
          logger,
        }),
    ),
  });
  // One of each per server: the catalog owns the pool, the speech service keeps spare
  // encoders warm, the file store shares in-flight URL downloads between HTTP and MCP.
  for (const singleton of [ModelCatalog, SpeechService, TranscriptionService, LiveTranscriptionService, RealtimeTranscriptionServer, FileStore, ModelRoutes, TranscriptionRoute, SpeechRoute, FilesRoutes, McpRoute, WyomingServer]) {
    container.registerSingleton(singleton as never);
  }
  return container;
}
