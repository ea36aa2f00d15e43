/**
 * The JSON body of an ordinary request, read without koa-body's general machinery: a
 * POST with `Content-Type: application/json` (optionally `; charset=utf-8`), no
 * Content-Encoding, and a Content-Length within the limit, which is what the OpenAI SDKs
 * and every other client send. koa-body handles that case through co-body, raw-body and
 * an iconv-lite decoder, four `ctx.is()` checks and @hapi/bourne, which together were the
 * largest part of the speech route's own work per request (see docs/benchmarks.md,
 * "Server overhead").
 *
 * The answer is the one koa-body gives, errors included: UTF-8 with a leading BOM
 * dropped, an empty body is `{}`, only an object or an array at the top (strict), a key
 * `__proto__` anywhere refused, and a parse failure is a `SyntaxError` with status 400
 * and the parser's message. Every other request (chunked, compressed, another JSON
 * type, another charset, a body over the limit) returns `undefined` here and goes to
 * koa-body as before.
 */
import type { Context } from 'koa';

const PLAIN_JSON = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;
/** co-body's strict check: the first non-blank character opens an object or an array. */
const OBJECT_OR_ARRAY = /^[\x20\x09\x0a\x0d]*[[{]/;
const BYTE_ORDER_MARK = '\uFEFF';

/** A 400 error like co-body's and raw-body's, which the error middleware turns into our answer. */
function badRequest<E extends Error>(error: E): E & { status: number; expose: boolean } {
  return Object.assign(error, { status: 400, expose: true });
}

/** @hapi/bourne's rule: no object anywhere in the value has its own `__proto__` key. */
function refusePrototypeKeys(value: unknown): void {
  let next: object[] = [value as object];
  while (next.length > 0) {
    const nodes = next;
    next = [];
    for (const node of nodes) {
      if (Object.prototype.hasOwnProperty.call(node, '__proto__')) {
        throw badRequest(new SyntaxError('Object contains forbidden prototype property'));
      }
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (child && typeof child === 'object') next.push(child);
      }
    }
  }
}

/** Parse like co-body in strict mode with @hapi/bourne's prototype check. */
export function parseJsonBody(text: string): unknown {
  if (text.startsWith(BYTE_ORDER_MARK)) text = text.slice(1);
  if (text === '') return {};
  if (!OBJECT_OR_ARRAY.test(text)) throw badRequest(new SyntaxError('invalid JSON, only supports object and array'));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest(error as Error);
  }
  // A `__proto__` key can only come from text that spells it, plainly or with \u escapes.
  if (text.includes('__proto__') || text.includes('\\u')) refusePrototypeKeys(value);
  return value;
}

/**
 * The parsed body, or `undefined` when this request is not the plain case and koa-body
 * must read it.
 */
export function readPlainJsonBody(ctx: Context, limit: number): Promise<unknown> | undefined {
  const request = ctx.req;
  if (request.method !== 'POST' || request.readableEnded || request.destroyed) return undefined;
  const headers = request.headers;
  const type = headers['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return undefined;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
  const declared = headers['content-length'];
  if (declared === undefined || headers['transfer-encoding'] !== undefined || !/^\d{1,15}$/.test(declared)) return undefined;
  const length = Number(declared);
  if (length > limit) return undefined;
  return new Promise<unknown>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      if (received !== length) {
        reject(badRequest(Object.assign(new Error('request size did not match content length'), { type: 'request.size.invalid' })));
        return;
      }
      try {
        resolve(parseJsonBody((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(badRequest(Object.assign(new Error('request aborted', { cause: error }), { type: 'request.aborted' })));
    };
    const onClose = () => {
      if (request.complete) return;
      onError(new Error('the connection closed before the body ended'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}
