/**
 * A Node `(req, res, parsedBody?)` handler serving the talkies MCP server over
 * Streamable HTTP, stateless: every POST gets its own server and transport, so nothing
 * is kept between requests and any number of clients (or server processes) can share
 * the endpoint. Answers are plain JSON, never SSE streams.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createTalkiesMcpServer, type TalkiesMcpServerOptions } from './talkies-mcp-server.js';
import type { TalkiesMcpServices } from './services.js';

export interface McpHandlerOptions extends TalkiesMcpServerOptions {
  /** Told about failures of the MCP machinery itself (not tool errors, which go to the client). */
  onError?: (error: unknown) => void;
}

/**
 * Handle one HTTP request to the MCP endpoint. `parsedBody` is the JSON body when the
 * host framework has already read it; without it the transport reads the request.
 */
export type McpRequestHandler = (request: IncomingMessage, response: ServerResponse, parsedBody?: unknown) => Promise<void>;

function jsonRpcError(response: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

export function createMcpHandler(services: TalkiesMcpServices, options: McpHandlerOptions): McpRequestHandler {
  return async function handleMcpRequest(request, response, parsedBody) {
    if (request.method !== 'POST') {
      // Stateless: there is no session to resume with GET (SSE) or to end with DELETE.
      jsonRpcError(response, 405, -32000, 'Method not allowed: this MCP endpoint is stateless; send JSON-RPC messages with POST', {
        allow: 'POST',
      });
      return;
    }
    const server = createTalkiesMcpServer(services, options);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    // Closing the transport aborts the signal of any tool still running (the client went away).
    response.once('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request, response, parsedBody);
    } catch (error) {
      options.onError?.(error);
      if (!response.headersSent) jsonRpcError(response, 500, -32603, 'Internal server error');
      else response.destroy();
    }
  };
}
