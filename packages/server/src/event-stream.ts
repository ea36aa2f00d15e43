/**
 * What the streaming routes (speech with `stream_format=sse` or raw audio, transcriptions
 * with `stream=true`) share once their headers are out: waiting for the socket to drain,
 * server-sent event framing, and the `error` event that ends a stream which failed midway.
 */
import type { Context } from 'koa';
import { SpeechError } from '@talkies/core';

/** Waits until the response can take more, or the connection is gone. */
export function writable(response: Context['res']): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

/** One server-sent event, without an `event:` line (every OpenAI client version reads it as data). */
export function sseEvent(event: object): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

/**
 * The `error` event in OpenAI's shape for a stream that failed after it started. A client
 * error keeps its message; a server error says where the details are and no more.
 */
export function sseErrorEvent(error: unknown): string {
  const status = SpeechError.is(error) ? error.status : 500;
  const message = SpeechError.is(error) && status < 500 ? error.message : 'the stream failed; the server log has the details';
  const code = SpeechError.is(error) ? error.code.toLowerCase() : 'internal';
  return sseEvent({ type: 'error', error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code, param: null } });
}
