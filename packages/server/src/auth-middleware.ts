/**
 * Bearer auth. With `TALKIES_AUTH_TOKEN` set, every request needs
 * `Authorization: Bearer <token>`, except `/healthz` and CORS preflight (OPTIONS), which
 * browsers send without credentials. Installed before the router and every mounted
 * sub-app, so MCP is covered too.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { SpeechError } from '@talkies/core';

/** The auth scheme is case-insensitive in HTTP (RFC 9110 §11.1): `bearer` and `BEARER` count too. */
const BEARER = /^bearer +(.*)$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** True when `candidate` is `token`; digests of fixed length keep both out of the timing. */
export function checkBearerToken(candidate: string, token: string): boolean {
  return timingSafeEqual(digest(candidate), digest(token));
}

/** Koa middleware that checks the bearer token; an empty token lets everything through. */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return async function checkBearer(ctx: Context, next: Next): Promise<void> {
    if (!token || ctx.method === 'OPTIONS' || ctx.path === '/healthz') return next();
    // Node keeps the first of repeated Authorization headers.
    const header = ctx.get('authorization');
    const match = BEARER.exec(header);
    if (!match) {
      throw new SpeechError(
        'UNAUTHORIZED',
        'missing Authorization: Bearer header; send Authorization: Bearer <TALKIES_AUTH_TOKEN>',
      );
    }
    // Comparing fixed-length digests keeps both the token and its length out of the timing.
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) {
      throw new SpeechError('UNAUTHORIZED', 'invalid bearer token');
    }
    return next();
  };
}
