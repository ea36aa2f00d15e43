/**
 * HTTP requests with the path sent exactly as written. fetch() normalises `..` and `.`
 * segments away, so traversal tests need node:http.
 */
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The parsed body; `undefined` when it is not JSON. */
  json: any;
}

export async function readResponse(response: IncomingMessage): Promise<RawResponse> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode ?? 0, headers: response.headers, body, text, json };
}

/** Start a request and hand it back unfinished, with a promise of its response. */
export function openRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
): { request: ClientRequest; response: Promise<IncomingMessage> } {
  const url = new URL(baseUrl);
  const outgoing = request({ host: url.hostname, port: url.port, method, path, headers });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    outgoing.once('response', resolve);
    outgoing.once('error', reject);
  });
  return { request: outgoing, response };
}

export async function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string | number>; body?: string | Uint8Array } = {},
): Promise<RawResponse> {
  const headers = { ...options.headers };
  if (options.body !== undefined) headers['content-length'] ??= Buffer.byteLength(options.body);
  const { request: outgoing, response } = openRequest(baseUrl, method, path, headers);
  outgoing.end(options.body);
  return readResponse(await response);
}
