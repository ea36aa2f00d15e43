/**
 * CORS, off unless `TALKIES_CORS_ORIGINS` names origins (or `*`). An allowed origin is
 * echoed back (never `*`), with `Vary: Origin`, so caches keep answers per origin;
 * preflight is answered here, before auth, since browsers send it without credentials.
 * A disallowed origin gets no CORS headers at all, and the browser blocks the answer.
 */
import type { Context, Next } from 'koa';

const ALLOW_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID';
const EXPOSE_HEADERS = 'X-Sample-Rate, X-Talkies-Warning, Content-Disposition, Content-Length, WWW-Authenticate, Mcp-Session-Id';
const MAX_AGE_SECONDS = '600';

/** Koa middleware for `origins` (`'*'` for any); install it outside auth and the error middleware. */
export function corsMiddleware(origins: '*' | string[]) {
  const allowed = origins === '*' ? undefined : new Set(origins);
  return async function handleCors(ctx: Context, next: Next): Promise<void> {
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (!origin || (allowed && !allowed.has(origin))) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', ALLOW_METHODS);
      // Echo what the browser asks for (the openai SDK sends many X-Stainless-* headers).
      ctx.set('Access-Control-Allow-Headers', ctx.get('access-control-request-headers') || ALLOW_HEADERS);
      ctx.vary('Access-Control-Request-Headers');
      ctx.set('Access-Control-Max-Age', MAX_AGE_SECONDS);
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    return next();
  };
}
