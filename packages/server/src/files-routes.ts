/** The staging API: GET /v1/files, and PUT, GET, DELETE /v1/files/{path}. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Context } from 'koa';
import { inject, injectable } from 'tsyringe';
import { SpeechError } from '@talkies/core';
import type { ServerConfig } from './config.js';
import { FileStore } from './file-store.js';
import { requestSignal } from './request-helpers.js';
import { sanitizeStagedPath } from './staged-path.js';
import { ConfigToken } from './tokens.js';

const PREFIX = '/v1/files/';

/**
 * The staged path as the client wrote it, URL-decoded once. Taken from the raw request
 * path rather than router params so nothing (trailing or doubled slashes, encoded dots)
 * is normalised away before the path rules see it.
 */
function stagedPathOf(ctx: Context): string {
  const raw = ctx.path.startsWith(PREFIX) ? ctx.path.slice(PREFIX.length) : '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new SpeechError('INVALID_REQUEST', `path is not valid percent-encoding: '${raw}'; encode '%' as %25`, { param: 'path' });
  }
}

@injectable()
export class FilesRoutes {
  constructor(
    @inject(FileStore) private readonly files: FileStore,
    @inject(ConfigToken) private readonly config: ServerConfig,
  ) {}

  /** `GET /v1/files`; `GET /v1/files/` names an empty path and gets its 400. */
  async list(ctx: Context): Promise<void> {
    if (ctx.path !== '/v1/files') return this.download(ctx);
    ctx.body = { files: await this.files.list() };
  }

  /** Raw body, streamed to disk: never parsed, never held in memory. */
  async upload(ctx: Context): Promise<void> {
    const path = sanitizeStagedPath(stagedPathOf(ctx), 'path');
    const maxBytes = this.config.maxUploadBytes;
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > maxBytes) {
      throw new SpeechError(
        'PAYLOAD_TOO_LARGE',
        `upload too large (${declared} bytes > ${maxBytes}); send a smaller file or raise TALKIES_MAX_UPLOAD_BYTES`,
        { param: 'path' },
      );
    }
    ctx.body = await this.files.put(path, ctx.req, maxBytes, requestSignal(ctx));
    ctx.status = 201;
  }

  async download(ctx: Context): Promise<void> {
    const file = await this.files.stat(stagedPathOf(ctx));
    // O_NOFOLLOW: a symlink swapped in after the check is refused rather than followed.
    const handle = await open(file.absolute, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => {
      throw new SpeechError('NOT_FOUND', `file not found: ${file.path}; GET /v1/files lists what is staged`, { param: 'path' });
    });
    const { size } = await handle.stat();
    ctx.attachment(basename(file.path));
    ctx.set('Content-Type', file.contentType);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.length = size;
    ctx.body = handle.createReadStream();
  }

  async remove(ctx: Context): Promise<void> {
    ctx.body = await this.files.delete(stagedPathOf(ctx));
  }
}
