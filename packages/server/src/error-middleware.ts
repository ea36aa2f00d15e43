/**
 * The one place errors become HTTP answers. The body speaks to both client families:
 * OpenAI SDKs read `error.message`; clients of the Python talkies read `detail`.
 * 5xx answers hide internals (logged in full instead).
 */
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { SpeechError } from '@talkies/core';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
  detail: string;
}

/** The error body every refusal carries, readable by both client families. */
export function errorBody(status: number, message: string, code: string, param: string | null = null): ErrorBody {
  return { error: { message, type: errorType(status), param, code }, detail: message };
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Koa / koa-body / formidable errors carry `status` or `httpCode`; give them our codes and useful messages. */
function fromForeignError(error: unknown, maxUploadBytes: number): SpeechError | undefined {
  const candidate = error as { status?: number; statusCode?: number; httpCode?: number; message?: string; expose?: boolean; type?: string };
  const status = candidate?.httpCode ?? candidate?.status ?? candidate?.statusCode;
  if (typeof status !== 'number' || status >= 500) return undefined;
  if (status === 413) {
    return new SpeechError(
      'PAYLOAD_TOO_LARGE',
      `upload too large (more than ${maxUploadBytes} bytes); send a smaller file, stage it with PUT /v1/files, or raise TALKIES_MAX_UPLOAD_BYTES`,
    );
  }
  // co-body marks JSON syntax errors only with status 400 (and sometimes type entity.parse.failed).
  if (candidate.type === 'entity.parse.failed' || error instanceof SyntaxError || /JSON/.test(candidate.message ?? '')) {
    return new SpeechError('INVALID_REQUEST', `request body is not valid JSON (${candidate.message}); send a JSON object`);
  }
  if (status === 415) {
    return new SpeechError('INVALID_REQUEST', `${candidate.message}; check the Content-Type header`, { status: 415 });
  }
  const message = candidate.message ?? 'bad request';
  if (/multipart|boundary|formidable|form/i.test(message) || status === 400) {
    return new SpeechError('INVALID_REQUEST', `${message}; send multipart/form-data with a \`file\` part`, { status });
  }
  return new SpeechError('INVALID_REQUEST', message, { status });
}

export function errorMiddleware(logger: Logger, maxUploadBytes: number) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const speechError = SpeechError.is(error) ? error : fromForeignError(error, maxUploadBytes);
      let status: number;
      let message: string;
      let code: string;
      let param: string | null = null;
      if (speechError && speechError.status < 500) {
        status = speechError.status;
        message = speechError.message;
        code = speechError.code.toLowerCase();
        param = speechError.param ?? null;
        // A cause (ffmpeg's own words, for one) is for the operator, never the client.
        const cause = speechError.cause instanceof Error ? speechError.cause.message : undefined;
        logger.info(
          { status, code, message, method: ctx.method, path: ctx.path, requestId: ctx.state.requestId, ...(cause ? { cause } : {}) },
          'request refused',
        );
      } else {
        status = speechError?.status ?? 500;
        code = speechError?.code.toLowerCase() ?? 'internal';
        const id = ctx.state.requestId as string | undefined;
        logger.error({ err: error, status, path: ctx.path, requestId: id }, 'request failed');
        message =
          speechError && status === 503
            ? speechError.message
            : `internal server error${id ? ` (request ${id})` : ''}; the server log has the details`;
      }
      if (ctx.headerSent || !ctx.writable) {
        // Headers are gone (a stream broke mid-way): all we can do is end the connection.
        ctx.req.socket.destroy();
        return;
      }
      ctx.status = status;
      ctx.type = 'application/json';
      if (status === 413) ctx.set('Connection', 'close');
      if (status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = errorBody(status, message, code, param);
    }
  };
}
