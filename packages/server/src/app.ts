/**
 * The Koa application: request logging, CORS, one error middleware, bearer auth, the
 * upload cap, body parsing and the routes. Built from a tsyringe container so tests can
 * run several servers side by side.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Logger } from 'pino';
import type { DependencyContainer } from 'tsyringe';
import { SpeechError } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { bearerAuth } from './auth-middleware.js';
import { bodyIdleTimeout } from './body-idle-timeout.js';
import { corsMiddleware } from './cors-middleware.js';
import { errorMiddleware } from './error-middleware.js';
import { FileStore } from './file-store.js';
import { FilesRoutes } from './files-routes.js';
import { readPlainJsonBody } from './json-body.js';
import { McpRoute } from './mcp-route.js';
import { buildOpenApiDocument } from './openapi.js';
import { playground } from './playground.js';
import { ModelRoutes } from './model-routes.js';
import { SpeechRoute } from './speech-route.js';
import { TranscriptionRoute } from './transcription-route.js';
import { ConfigToken, LoggerToken, MetricsToken } from './tokens.js';

/** This package's version, for the OpenAPI document. */
const SERVER_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Multipart framing and text fields on top of the file itself. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

/** An incoming `X-Request-Id` is kept when it looks like an id (a proxy's or a client's); otherwise one is made. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

function requestLogger(logger: Logger) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    ctx.state.requestId = SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    // On every answer, errors included: the SDKs show it in their errors, and the log has it.
    ctx.set('X-Request-Id', ctx.state.requestId as string);
    try {
      await next();
    } finally {
      const status = ctx.state.bodyTimedOut ? 408 : ctx.respond === false ? ctx.res.statusCode : ctx.status;
      logger.info(
        { requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, status, ms: Math.round(performance.now() - started) },
        'request',
      );
    }
  };
}

/** Refuse an upload by its Content-Length before reading a byte of it. */
function uploadCap(maxUploadBytes: number) {
  return async function capUpload(ctx: Context, next: Next): Promise<void> {
    const length = Number(ctx.get('content-length') || 0);
    if (ctx.is('multipart') && length > maxUploadBytes + MULTIPART_OVERHEAD_BYTES) {
      throw new SpeechError(
        'PAYLOAD_TOO_LARGE',
        `upload too large (${length} bytes > ${maxUploadBytes}); send a smaller file, stage it with PUT /v1/files, or raise TALKIES_MAX_UPLOAD_BYTES`,
      );
    }
    await next();
  };
}

export async function createApp(container: DependencyContainer): Promise<Koa> {
  const config = container.resolve<ServerConfig>(ConfigToken);
  const logger = container.resolve<Logger>(LoggerToken);
  const metrics = container.resolve(MetricsToken);
  const uploadDirectory = join(tmpdir(), 'talkies-uploads');
  await mkdir(uploadDirectory, { recursive: true });

  const fileStore = container.resolve(FileStore);
  const leftovers = await fileStore.recover({ pruneFolders: true });
  if (leftovers.length > 0) logger.warn({ files: leftovers }, 'removed partial writes left by an earlier crash');
  // Younger leftovers (a crash moments ago, or another replica's upload in progress on a
  // shared volume) are looked at again every minute.
  fileStore.startSweeping((files) => logger.warn({ files }, 'removed partial writes left by an earlier crash'));
  const models = container.resolve(ModelRoutes);
  const transcription = container.resolve(TranscriptionRoute);
  const speech = container.resolve(SpeechRoute);
  const files = container.resolve(FilesRoutes);
  const mcp = container.resolve(McpRoute);

  const multipart = koaBody({
    multipart: true,
    urlencoded: true,
    json: false,
    text: false,
    formidable: {
      uploadDir: uploadDirectory,
      maxFileSize: config.maxUploadBytes,
      maxTotalFileSize: config.maxUploadBytes,
      maxFiles: 4,
      // A file part needs a filename, not a Content-Type: Python requests sends none.
      onPart: (part, handlePart) => {
        if (!part.mimetype && typeof part.originalFilename === 'string' && part.originalFilename !== '') {
          part.mimetype = 'application/octet-stream';
        }
        handlePart(part);
      },
      keepExtensions: true,
      allowEmptyFiles: true,
      minFileSize: 0,
    },
  });
  const parseJson = koaBody({ json: true, jsonLimit: config.maxJsonBytes, multipart: false, urlencoded: false, text: false });
  const json = async (ctx: Context, next: Next): Promise<void> => {
    // The plain case (what the SDKs send) is read here; koa-body reads everything else.
    const plain = readPlainJsonBody(ctx, config.maxJsonBytes);
    if (plain) {
      ctx.request.body = (await plain) as typeof ctx.request.body;
      return next();
    }
    try {
      await parseJson(ctx, async () => undefined);
    } catch (error) {
      if ((error as { status?: number }).status !== 413) throw error;
      throw new SpeechError(
        'PAYLOAD_TOO_LARGE',
        `JSON body too large (more than ${config.maxJsonBytes} bytes, the JSON body limit); send less text per request or raise TALKIES_MAX_JSON_BYTES`,
      );
    }
    await next();
  };

  const router = new Router();
  router.get('/healthz', (ctx) => models.healthz(ctx));
  router.get('/v1/models', (ctx) => models.models(ctx));
  router.get('/v1/models/{*id}', (ctx) => models.model(ctx, rawTail(ctx, '/v1/models/')));
  router.get('/v1/audio/voices', (ctx) => models.voices(ctx));
  router.get('/api/ps', (ctx) => models.ps(ctx));
  router.delete('/api/ps/{*id}', (ctx) => models.unloadOne(ctx, rawTail(ctx, '/api/ps/')));
  router.post('/unload', (ctx) => models.unloadAll(ctx));
  router.post('/v1/audio/transcriptions', uploadCap(config.maxUploadBytes), multipart, (ctx) =>
    transcription.handle(ctx, 'transcribe'),
  );
  router.post('/v1/audio/translations', uploadCap(config.maxUploadBytes), multipart, (ctx) =>
    transcription.handle(ctx, 'translate'),
  );
  router.post('/v1/audio/speech', json, (ctx) => speech.handle(ctx));
  // Raw bodies, streamed to disk by the handler: no body parser here.
  router.get('/v1/files', (ctx) => files.list(ctx));
  router.get('/v1/files/{*path}', (ctx) => files.download(ctx));
  router.put(['/v1/files', '/v1/files/{*path}'], (ctx) => files.upload(ctx));
  router.delete(['/v1/files', '/v1/files/{*path}'], (ctx) => files.remove(ctx));
  // MCP parses its own JSON-RPC body; the router is not strict, so /v1/mcp/ matches too (no redirect).
  router.all('/v1/mcp', mcp.parseBody, (ctx) => mcp.handle(ctx));
  // Built from the router's own routes on first use, so it lists exactly what is served.
  let openapi: object | undefined;
  router.get('/openapi.json', (ctx) => {
    openapi ??= buildOpenApiDocument(router.stack, {
      version: SERVER_VERSION,
      extraRoutes: [
        { path: '/metrics', methods: ['GET'] },
        { path: '/', methods: ['GET'] },
        { path: '/playground/{file}', methods: ['GET'] },
      ],
    });
    ctx.body = openapi;
  });

  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(metrics.middleware());
  app.use(requestLogger(logger));
  app.use(bodyIdleTimeout(config.bodyIdleTimeoutSeconds));
  if (config.corsOrigins.length > 0) app.use(corsMiddleware(config.corsOrigins));
  app.use(errorMiddleware(logger, config.maxUploadBytes));
  // Everything below, mounted sub-apps included, needs the bearer token when one is set.
  // The playground's static files are public; the page asks for the token.
  app.use(playground());
  // TALKIES_METRICS_PUBLIC=true lets a scraper in without the token; only /metrics.
  if (config.metricsPublic) app.use(metrics.route());
  if (config.authToken) app.use(bearerAuth(config.authToken));
  if (!config.metricsPublic) app.use(metrics.route());
  app.use(removeUploadsAfterResponse);
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  app.use((ctx) => {
    throw new SpeechError('NOT_FOUND', `no route ${ctx.method} ${ctx.path}; see the README for the API`);
  });
  return app;
}

/**
 * The rest of the raw request path after `prefix`, percent-decoded exactly once: model ids
 * with `/` arrive as `%2F` (LiteLLM, the OpenAI SDKs), and `%252F` stays `%2F`.
 */
function rawTail(ctx: Context, prefix: string): string {
  const raw = ctx.path.startsWith(prefix) ? ctx.path.slice(prefix.length) : '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new SpeechError('INVALID_REQUEST', `'${raw}' is not valid percent-encoding; encode '%' as %25`, { param: 'model' });
  }
}

/** Multipart uploads land in temporary files; remove them whatever the outcome. */
async function removeUploadsAfterResponse(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } finally {
    const files = ctx.request.files;
    if (files) {
      for (const value of Object.values(files)) {
        for (const file of Array.isArray(value) ? value : [value]) {
          await rm(file.filepath, { force: true }).catch(() => undefined);
        }
      }
    }
  }
}
