/**
 * The web playground at `/`: three static files shipped in the package's `playground/`
 * folder, read once and served from memory. Only these names are served, so no request
 * path ever reaches the file system. The page itself is public; it asks for the bearer
 * token and sends it with every API call.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Context, Next } from 'koa';

const FOLDER = fileURLToPath(new URL('../playground/', import.meta.url));

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground/playground.js': { file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  '/playground/playground.css': { file: 'playground.css', type: 'text/css; charset=utf-8' },
};

/** Scripts and styles from this server only; audio from blob: URLs the page makes. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export function playground() {
  const cache = new Map<string, Promise<Buffer>>();
  return async function servePlayground(ctx: Context, next: Next): Promise<void> {
    const entry = FILES[ctx.path];
    if (!entry || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    let body = cache.get(entry.file);
    if (!body) {
      body = readFile(FOLDER + entry.file);
      cache.set(entry.file, body);
      body.catch(() => cache.delete(entry.file));
    }
    // For the request metrics: a fixed route label, like the router's.
    (ctx as Context & { _matchedRoute?: string })._matchedRoute = ctx.path === '/' ? '/' : '/playground/{file}';
    ctx.type = entry.type;
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = await body;
  };
}
