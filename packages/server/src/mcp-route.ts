/**
 * /v1/mcp: the @talkies/mcp tools over this server's model catalog, transcription
 * pipeline and file store. MCP calls go through the same eviction pool as HTTP, so a
 * model loaded by an MCP client shows in /api/ps and counts against the loaded-model cap.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, Middleware } from 'koa';
import { koaBody } from 'koa-body';
import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { SpeechError } from '@talkies/core';
import { createMcpHandler, type McpRequestHandler, type TalkiesMcpServices } from '@talkies/mcp';
import type { ServerConfig } from './config.js';
import { FileStore } from './file-store.js';
import { ModelCatalog } from './model-catalog.js';
import { ConfigToken, LoggerToken } from './tokens.js';
import { TranscriptionService } from './transcription-service.js';

/** JSON-RPC framing and the other arguments around one base64 file. */
const JSON_OVERHEAD_BYTES = 1024 * 1024;

@injectable()
export class McpRoute {
  /** Parses the JSON-RPC body, capped at a base64 upload of the largest allowed file. */
  readonly parseBody: Middleware;
  readonly #handler: McpRequestHandler;
  readonly #uploadDirectory = join(tmpdir(), 'talkies-uploads');

  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(TranscriptionService) private readonly transcription: TranscriptionService,
    @inject(FileStore) private readonly files: FileStore,
    @inject(ConfigToken) private readonly config: ServerConfig,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {
    const jsonLimit = Math.ceil(config.maxUploadBytes / 3) * 4 + JSON_OVERHEAD_BYTES;
    const parseJson = koaBody({
      json: true,
      jsonStrict: true,
      jsonLimit,
      multipart: false,
      urlencoded: false,
      text: false,
    });
    this.parseBody = async (ctx, next) => {
      try {
        await parseJson(ctx, async () => undefined);
      } catch (error) {
        // co-body marks a syntax error only with status 400; say what this endpoint expects.
        const status = (error as { status?: number }).status;
        if (status === 413) {
          throw new SpeechError(
            'PAYLOAD_TOO_LARGE',
            `MCP request too large (more than ${jsonLimit} bytes: a base64 file of TALKIES_MAX_UPLOAD_BYTES=${config.maxUploadBytes} plus framing); stage big files with PUT /v1/files or raise TALKIES_MAX_UPLOAD_BYTES`,
          );
        }
        if (status !== 400) throw error;
        throw new SpeechError(
          'INVALID_REQUEST',
          `request body is not valid JSON (${(error as Error).message}); send a JSON-RPC 2.0 message as application/json`,
        );
      }
      await next();
    };
    this.#handler = createMcpHandler(this.services(), {
      maxUploadBytes: config.maxUploadBytes,
      onError: (error) => logger.error({ err: error }, 'MCP request failed'),
    });
  }

  /**
   * Hand the request to the MCP transport. Everything before this point (auth, body
   * parsing) throws into the error middleware as usual; from here on the SDK writes the
   * response itself, so Koa must not.
   */
  async handle(ctx: Context): Promise<void> {
    const body = ctx.method === 'POST' && ctx.is('json') ? (ctx.request.body as unknown) : undefined;
    ctx.respond = false;
    await this.#handler(ctx.req, ctx.res, body);
  }

  private services(): TalkiesMcpServices {
    return {
      listAsrModels: () =>
        this.exposed(async () => {
          const loaded = new Set(this.catalog.pool.status().map((status) => status.id));
          return this.catalog
            .list()
            .filter((model) => model.backend.modality === 'asr')
            .map(({ slug, entry }) => ({
              slug,
              executor: entry.executor,
              default_source_lang: entry.default_source_lang ?? null,
              default_target_lang: entry.default_target_lang ?? null,
              default_task: entry.default_task ?? 'asr',
              loaded: loaded.has(slug),
              aliases: [...(entry.aliases ?? [])],
            }));
        }),
      transcribe: (request) =>
        this.exposed(async () => {
          const model = this.catalog.get(request.model);
          if (model.backend.modality !== 'asr') {
            throw new SpeechError(
              'UNSUPPORTED_CAPABILITY',
              `model '${request.model}' is not an ASR model — use /v1/audio/speech for text-to-speech; list_models shows the models transcribe takes`,
              { model: request.model, param: 'model' },
            );
          }
          const job = {
            model: request.model,
            task: 'transcribe' as const,
            responseFormat: request.responseFormat,
            language: request.language,
            diarization: request.diarization,
            signal: request.signal,
          };
          if (request.source.kind === 'file_path') {
            return this.transcription.run({ ...job, source: { kind: 'file_path', value: request.source.value } });
          }
          // The pipeline decodes from disk with ffmpeg, so inline audio becomes an upload file.
          await mkdir(this.#uploadDirectory, { recursive: true });
          const path = join(this.#uploadDirectory, `mcp-${randomUUID()}`);
          try {
            await writeFile(path, request.source.bytes);
            return await this.transcription.run({ ...job, source: { kind: 'upload', path } });
          } finally {
            await rm(path, { force: true });
          }
        }),
      listFiles: () => this.exposed(() => this.files.list()),
      putFile: (path, bytes) => this.exposed(() => this.files.put(path, bytes, this.config.maxUploadBytes)),
      openFile: (path) =>
        this.exposed(async () => {
          const file = await this.files.stat(path);
          return {
            path: file.path,
            size: file.size,
            read: () =>
              this.exposed(async () => {
                // O_NOFOLLOW: the file was checked to be a regular file; refuse it if a symlink replaced it since.
                const handle = await open(file.absolute, constants.O_RDONLY | constants.O_NOFOLLOW);
                try {
                  return await handle.readFile();
                } finally {
                  await handle.close();
                }
              }),
          };
        }),
      deleteFile: (path) => this.exposed(() => this.files.delete(path)),
    };
  }

  /**
   * Tool errors are shown to the MCP client: client mistakes keep their message, and
   * anything else is logged in full and reported without internals, as HTTP 5xx are.
   */
  private async exposed<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (SpeechError.is(error) && (error.status < 500 || error.status === 503)) throw new Error(error.message);
      const id = randomUUID();
      this.logger.error({ err: error, errorId: id }, 'MCP tool failed');
      throw new Error(`internal server error (${id}); the server log has the details`);
    }
  }
}
