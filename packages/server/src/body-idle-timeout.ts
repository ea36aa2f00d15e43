/**
 * Cuts a request whose body stops arriving. Node's own `requestTimeout` limits the whole
 * request, which would also cut a long upload that keeps moving; and a socket idle timeout
 * would let a client trickle one byte every few seconds forever. So the rule is about
 * progress: while a body is still arriving, each window of `TALKIES_BODY_IDLE_TIMEOUT`
 * seconds must bring at least {@link MINIMUM_BYTES_PER_WINDOW}, or the request is answered
 * 408 and its connection closed. Whoever was reading the body then sees it interrupted and
 * cleans up (a staged upload removes its partial file).
 */
import type { Context, Next } from 'koa';
import { errorBody } from './error-middleware.js';

/** Progress that keeps a body alive in one window: far below any real link, far above a trickle. */
export const MINIMUM_BYTES_PER_WINDOW = 1024;

function hasBody(ctx: Context): boolean {
  return Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
}

export function bodyIdleTimeout(seconds: number) {
  return async function watchBody(ctx: Context, next: Next): Promise<void> {
    const request = ctx.req;
    if (!(seconds > 0) || !hasBody(ctx) || request.complete) return next();
    const socket = request.socket;
    // bytesRead counts what the HTTP parser took from the socket, without consuming the body.
    let seen = socket.bytesRead;
    const stop = () => clearInterval(timer);
    const timer = setInterval(() => {
      if (request.complete || ctx.res.headersSent || socket.destroyed) return stop();
      const read = socket.bytesRead;
      if (read - seen >= MINIMUM_BYTES_PER_WINDOW) {
        seen = read;
        return;
      }
      stop();
      ctx.state.bodyTimedOut = true;
      const message =
        `request body stalled: less than ${MINIMUM_BYTES_PER_WINDOW} bytes arrived in ${seconds} s; ` +
        'send the body without pauses, or raise TALKIES_BODY_IDLE_TIMEOUT';
      const body = JSON.stringify(errorBody(408, message, 'request_timeout'));
      ctx.res.writeHead(408, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        Connection: 'close',
      });
      // Once the answer is out, drop the request and its connection. The request must be
      // destroyed by hand: a request whose response has finished no longer hears of its
      // socket closing, and its reader would wait forever instead of cleaning up.
      ctx.res.end(body, () => {
        request.destroy();
        socket.destroy();
      });
    }, seconds * 1000);
    timer.unref();
    ctx.res.once('close', stop);
    await next();
  };
}
