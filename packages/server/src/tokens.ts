/**
 * Injection tokens. Every dependency is injected by an explicit token: esbuild (and so
 * vitest) emits no decorator metadata, so implicit class-type injection would pass tsc
 * and fail at run time.
 */
import type { InjectionToken } from 'tsyringe';
import type { IdleSweeper, ModelRegistry, ResolvedEngines, VadChunker } from '@talkies/core';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { ServerMetrics } from './metrics.js';

export const ConfigToken: InjectionToken<ServerConfig> = Symbol('ServerConfig');
export const LoggerToken: InjectionToken<Logger> = Symbol('Logger');
export const RegistryToken: InjectionToken<ModelRegistry> = Symbol('ModelRegistry');
export const EnginesToken: InjectionToken<ResolvedEngines> = Symbol('ResolvedEngines');
export const SweeperToken: InjectionToken<IdleSweeper> = Symbol('IdleSweeper');
/** Monotonic milliseconds (performance.now in production, a fake in tests). */
export const ClockToken: InjectionToken<() => number> = Symbol('Clock');
/** Prometheus metrics of this server. */
export const MetricsToken: InjectionToken<ServerMetrics> = Symbol('ServerMetrics');
/** Cuts long audio at speech pauses for backends that need it (Silero VAD). */
export const ChunkerToken: InjectionToken<VadChunker> = Symbol('VadChunker');
