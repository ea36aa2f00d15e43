/**
 * Server configuration from the environment, validated once at boot. Every invalid
 * variable is reported together.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatIssues, parseDuration, parseInferenceThreads, parseList, parseLongAudioEnvironment, SpeechError, type LongAudioOptions } from '@talkies/core';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const durationSeconds = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      try {
        return parseDuration(value, name);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      const number = Number(value);
      if (!Number.isInteger(number) || number < 1 || number > max) {
        context.addIssue({ code: 'custom', message: `'${value}' is not a whole number between 1 and ${max}` });
        return z.NEVER;
      }
      return number;
    });

/** Milliseconds, a number from 0 to `max` (fractions allowed). */
const milliseconds = (fallback: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      const number = Number(value);
      if (!Number.isFinite(number) || number < 0 || number > max) {
        context.addIssue({ code: 'custom', message: `'${value}' is not a number of milliseconds between 0 and ${max}` });
        return z.NEVER;
      }
      return number;
    });

const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const text = (value ?? '').trim().toLowerCase();
      if (text === '') return fallback;
      if (['true', '1', 'yes'].includes(text)) return true;
      if (['false', '0', 'no'].includes(text)) return false;
      context.addIssue({ code: 'custom', message: `'${value}' is not a flag; use true/false, 1/0 or yes/no` });
      return z.NEVER;
    });

/** `*` (any origin) or a comma list of origins such as `https://app.example`; empty turns CORS off. */
const corsOrigins = z
  .string()
  .optional()
  .transform((value, context): '*' | string[] => {
    const items = parseList(value);
    if (items.includes('*')) {
      if (items.length > 1) context.addIssue({ code: 'custom', message: `'*' allows every origin and cannot be mixed with others` });
      return '*';
    }
    const origins: string[] = [];
    for (const item of items) {
      const url = URL.canParse(item) ? new URL(item) : undefined;
      if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || !/^[a-z]+:\/\/[^/?#]+\/?$/i.test(item)) {
        context.addIssue({ code: 'custom', message: `'${item}' is not an origin; write scheme://host[:port] like https://app.example` });
        continue;
      }
      origins.push(url.origin);
    }
    return origins;
  });

const environmentSchema = z.object({
  TALKIES_HOST: z.string().default('127.0.0.1'),
  TALKIES_PORT: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return 8000;
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        context.addIssue({ code: 'custom', message: `'${value}' is not a port (0-65535; 0 picks a free one)` });
        return z.NEVER;
      }
      return port;
    }),
  TALKIES_DATA_DIR: z.string().default('./data'),
  TALKIES_MODELS_FILE: z.string().default('./models.json'),
  TALKIES_LOG_LEVEL: z
    .string()
    .optional()
    .transform((value, context) => {
      const level = (value ?? '').trim().toLowerCase() || 'info';
      const normalised = level === 'warning' ? 'warn' : level === 'critical' ? 'fatal' : level;
      if (!(LOG_LEVELS as readonly string[]).includes(normalised)) {
        context.addIssue({ code: 'custom', message: `'${value}' is not a log level; use one of ${LOG_LEVELS.join(', ')}` });
        return z.NEVER;
      }
      return normalised as (typeof LOG_LEVELS)[number];
    }),
  TALKIES_MAX_UPLOAD_BYTES: positiveInt(104_857_600),
  TALKIES_MAX_JSON_BYTES: positiveInt(2_097_152),
  TALKIES_BODY_IDLE_TIMEOUT: durationSeconds('TALKIES_BODY_IDLE_TIMEOUT', 30),
  TALKIES_MAX_LOADED_MODELS: positiveInt(1, 1024),
  TALKIES_BATCH_WINDOW_MS: milliseconds(5, 1000),
  TALKIES_BATCH_LINGER_MS: milliseconds(2000, 60_000),
  TALKIES_BATCH_MAX_SIZE: positiveInt(8, 256),
  // Read by the engines (core's defaultInferenceThreads, in the models' worker threads too); checked here at boot.
  TALKIES_INFERENCE_THREADS: z
    .string()
    .optional()
    .transform((value, context) => {
      try {
        return parseInferenceThreads(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  TALKIES_MODEL_TTL: durationSeconds('TALKIES_MODEL_TTL', 600),
  TALKIES_SWEEPER_INTERVAL: durationSeconds('TALKIES_SWEEPER_INTERVAL', 60),
  TALKIES_ENABLED_MODELS: z.string().optional().transform(parseList),
  TALKIES_PRELOAD: z.string().optional().transform(parseList),
  TALKIES_SHUTDOWN_TIMEOUT: durationSeconds('TALKIES_SHUTDOWN_TIMEOUT', 30),
  TALKIES_MAX_DOWNLOAD_BYTES: positiveInt(1_073_741_824),
  TALKIES_MAX_AUDIO_SECONDS: durationSeconds('TALKIES_MAX_AUDIO_SECONDS', 4 * 3600).refine((seconds) => seconds > 0, {
    message: 'TALKIES_MAX_AUDIO_SECONDS must be more than 0 (seconds, or Go-style like 4h)',
  }),
  TALKIES_BLOCK_PRIVATE_DOWNLOADS: flag(false),
  TALKIES_AUTH_TOKEN: z
    .string()
    .optional()
    .transform((value) => (value ?? '').trim()),
  TALKIES_CORS_ORIGINS: corsOrigins,
  TALKIES_METRICS_PUBLIC: flag(false),
  TALKIES_WYOMING_PORT: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return undefined;
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        context.addIssue({ code: 'custom', message: `TALKIES_WYOMING_PORT '${value}' is not a port (0-65535, usually 10300; empty turns Wyoming off)` });
        return z.NEVER;
      }
      return port;
    }),
  TALKIES_WYOMING_ZEROCONF: flag(true),
});

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  modelsFile: string;
  logLevel: (typeof LOG_LEVELS)[number];
  maxUploadBytes: number;
  /** Largest JSON body of `POST /v1/audio/speech` (`TALKIES_MAX_JSON_BYTES`). */
  maxJsonBytes: number;
  /**
   * A request body that stalls (less than 1 KiB arriving in this many seconds) is cut with
   * 408 (`TALKIES_BODY_IDLE_TIMEOUT`); 0 turns the check off.
   */
  bodyIdleTimeoutSeconds: number;
  /**
   * Age at which a partial write (`.part.<hex>`) left in the staging folder counts as a
   * crash's leftover and is removed. Not an environment variable: derived from
   * TALKIES_BODY_IDLE_TIMEOUT (see file-store.ts); tests set it.
   */
  stalePartialSeconds?: number;
  maxLoadedModels: number;
  /**
   * Batching across requests, for ASR engines that transcribe batches: how long the first
   * piece waits for others (`TALKIES_BATCH_WINDOW_MS`) and the most pieces decoded together
   * (`TALKIES_BATCH_MAX_SIZE`; 1 turns batching across requests off).
   */
  batchWindowMs: number;
  batchMaxSize: number;
  /**
   * After a batch that served several requests, how long at most the next batch waits for
   * their clients to come back (`TALKIES_BATCH_LINGER_MS`; also at most a quarter of that
   * batch's running time; 0 turns it off).
   */
  batchLingerMs: number;
  modelTtlSeconds: number;
  sweeperIntervalSeconds: number;
  enabledModels: string[];
  preload: string[];
  shutdownTimeoutSeconds: number;
  /** Cap on one URL `file_path` download. */
  maxDownloadBytes: number;
  /** Longest audio a transcription decodes, seconds (header checked first, then the samples as they stream). */
  maxAudioSeconds: number;
  /** Refuse URL downloads from loopback, private, link-local, multicast and reserved addresses. */
  blockPrivateDownloads: boolean;
  /** Bearer token every route but /healthz and preflight needs; '' leaves the server open. Never log it. */
  authToken: string;
  /** Origins allowed by CORS: '*' for any, [] for CORS off. */
  corsOrigins: '*' | string[];
  /** `GET /metrics` without the bearer token (for a scraper inside the cluster). */
  metricsPublic: boolean;
  /** TALKIES_VAD_*: when and how long audio is cut at speech pauses. */
  longAudio: LongAudioOptions;
  /** TCP port of the Wyoming server (Home Assistant), on `host`; undefined: no Wyoming server. */
  wyomingPort?: number;
  /** Announce the Wyoming server over zeroconf (`_wyoming._tcp`) when it is on and not on loopback. */
  wyomingZeroconf: boolean;
}

/** Parse the environment (LOG_LEVEL is accepted when TALKIES_LOG_LEVEL is unset). */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ServerConfig {
  const input = { ...environment };
  if (!input.TALKIES_LOG_LEVEL && input.LOG_LEVEL) input.TALKIES_LOG_LEVEL = input.LOG_LEVEL;
  const parsed = environmentSchema.safeParse(input);
  const lines = parsed.success ? [] : formatIssues(parsed.error.issues);
  let longAudio: LongAudioOptions | undefined;
  try {
    longAudio = parseLongAudioEnvironment(input);
  } catch (error) {
    lines.push((error as Error).message);
  }
  if (!parsed.success || !longAudio) {
    throw new SpeechError('CONFIG_INVALID', `invalid environment; fix these and restart:\n  - ${lines.join('\n  - ')}`);
  }
  const env = parsed.data;
  return {
    host: env.TALKIES_HOST,
    port: env.TALKIES_PORT,
    dataDir: resolve(cwd, env.TALKIES_DATA_DIR),
    modelsFile: resolve(cwd, env.TALKIES_MODELS_FILE),
    logLevel: env.TALKIES_LOG_LEVEL,
    maxUploadBytes: env.TALKIES_MAX_UPLOAD_BYTES,
    maxJsonBytes: env.TALKIES_MAX_JSON_BYTES,
    bodyIdleTimeoutSeconds: env.TALKIES_BODY_IDLE_TIMEOUT,
    maxLoadedModels: env.TALKIES_MAX_LOADED_MODELS,
    batchWindowMs: env.TALKIES_BATCH_WINDOW_MS,
    batchMaxSize: env.TALKIES_BATCH_MAX_SIZE,
    batchLingerMs: env.TALKIES_BATCH_LINGER_MS,
    modelTtlSeconds: env.TALKIES_MODEL_TTL,
    sweeperIntervalSeconds: env.TALKIES_SWEEPER_INTERVAL,
    enabledModels: env.TALKIES_ENABLED_MODELS,
    preload: env.TALKIES_PRELOAD,
    shutdownTimeoutSeconds: env.TALKIES_SHUTDOWN_TIMEOUT,
    maxDownloadBytes: env.TALKIES_MAX_DOWNLOAD_BYTES,
    maxAudioSeconds: env.TALKIES_MAX_AUDIO_SECONDS,
    blockPrivateDownloads: env.TALKIES_BLOCK_PRIVATE_DOWNLOADS,
    authToken: env.TALKIES_AUTH_TOKEN,
    corsOrigins: env.TALKIES_CORS_ORIGINS,
    metricsPublic: env.TALKIES_METRICS_PUBLIC,
    longAudio,
    wyomingPort: env.TALKIES_WYOMING_PORT,
    wyomingZeroconf: env.TALKIES_WYOMING_ZEROCONF,
  };
}

const serverPackageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Where engine packages are looked up, first one winning: the application beside
 * models.json, the working directory's, then the server package's own dependencies.
 * `serve`, `talkies models` and `talkies pull` all use this list.
 */
export function engineBaseDirectories(config: Pick<ServerConfig, 'modelsFile'>, cwd = process.cwd()): string[] {
  return [...new Set([dirname(config.modelsFile), cwd, serverPackageDirectory])];
}
