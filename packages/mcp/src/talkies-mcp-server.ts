/**
 * The talkies MCP server: six tools over {@link TalkiesMcpServices}. A thrown error
 * becomes an MCP tool error (`isError: true`, the message as text) through the SDK's
 * own tools/call wrapper, so a bad argument or a refused model never breaks the session.
 */
import { createRequire } from 'node:module';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { TalkiesMcpServices } from './services.js';

export interface TalkiesMcpServerOptions {
  /** The largest file `put_file`, `get_file` and `transcribe`'s `file_base64` move (decoded bytes). */
  maxUploadBytes: number;
  /** Reported as the server version in the MCP handshake; defaults to this package's version. */
  version?: string;
}

export const TALKIES_MCP_INSTRUCTIONS = [
  'Server-side speech recognition (ASR) and file staging for a talkies speech server.',
  'Audio is decoded and transcribed on the server; nothing runs on the client.',
  'Typical flow: list_models to pick an ASR model; stage audio with put_file (base64) or use a path list_files shows;',
  'then transcribe with file_path and model. Short clips can go inline with transcribe\'s file_base64 instead.',
  'response_format is one of json (default), verbose_json (segments and word timings), text, srt or vtt;',
  'diarization=true transcribes the two channels of a stereo recording separately (one speaker per channel).',
  'Staged files are the same ones the HTTP API serves under /v1/files; get_file and delete_file manage them.',
].join(' ');

const PACKAGE_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

const RESPONSE_FORMATS = 'json, verbose_json, text, txt, srt or vtt';

/** JSON as text content, with the same object as structured content for clients that read it. */
function jsonResult<T extends Record<string, unknown>>(value: T): CallToolResult & { structuredContent: T } {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

const stagedPath = z
  .string()
  .describe("Path under the server's staging directory, relative and '/'-separated, e.g. 'calls/2026/a.wav'");

export function createTalkiesMcpServer(services: TalkiesMcpServices, options: TalkiesMcpServerOptions): McpServer {
  const { maxUploadBytes } = options;
  const server = new McpServer(
    { name: 'talkies', version: options.version ?? PACKAGE_VERSION },
    { instructions: TALKIES_MCP_INSTRUCTIONS },
  );

  server.registerTool(
    'list_models',
    {
      title: 'List ASR models',
      description:
        'List the speech-recognition models this server can run, with their defaults and whether each is loaded in memory right now (a loaded model answers without a load delay).',
      inputSchema: {},
      outputSchema: {
        models: z.array(
          z.object({
            slug: z.string(),
            executor: z.string(),
            default_source_lang: z.string().nullable(),
            default_target_lang: z.string().nullable(),
            default_task: z.string(),
            loaded: z.boolean(),
            aliases: z.array(z.string()).optional(),
          }),
        ),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => jsonResult({ models: await services.listAsrModels() }),
  );

  server.registerTool(
    'transcribe',
    {
      title: 'Transcribe audio',
      description:
        `Transcribe audio with an ASR model on the server. Give exactly one of file_path (a staged file, see put_file and list_files) or file_base64 (the audio file itself, at most ${maxUploadBytes} bytes once decoded). ` +
        `Any format ffmpeg reads works (wav, mp3, flac, ogg, m4a, …). Returns the transcript as OpenAI's transcription API renders it: a JSON string for json and verbose_json, plain text for text, srt and vtt.`,
      inputSchema: {
        file_path: z.string().optional().describe('A staged file path, as list_files shows it'),
        file_base64: z.string().optional().describe('The audio file itself, standard base64 with padding'),
        model: z.string().describe('An ASR model slug (or one of its aliases) from list_models'),
        language: z
          .string()
          .nullish()
          .describe("ISO-639-1 language of the speech, e.g. 'en'; omit to use the model's default or auto-detect"),
        response_format: z.string().default('json').describe(`One of ${RESPONSE_FORMATS}; default json`),
        diarization: z
          .boolean()
          .default(false)
          .describe('Stereo recordings only: transcribe left and right channels separately and label each turn L: / R:'),
      },
    },
    async (args, extra) => {
      const given = [args.file_path, args.file_base64].filter((value) => value !== undefined && value !== '');
      if (given.length !== 1) {
        throw new Error(
          given.length === 0
            ? 'give the audio as file_path (a staged file; see put_file and list_files) or as file_base64 (the file itself, base64)'
            : 'give either file_path or file_base64, not both',
        );
      }
      const source =
        args.file_path !== undefined && args.file_path !== ''
          ? ({ kind: 'file_path', value: args.file_path } as const)
          : ({ kind: 'bytes', bytes: decodeBase64(args.file_base64!, { field: 'file_base64', maxBytes: maxUploadBytes }) } as const);
      const rendered = await services.transcribe({
        model: args.model,
        source,
        language: args.language ?? undefined,
        responseFormat: args.response_format,
        diarization: args.diarization,
        signal: extra.signal,
      });
      const result: CallToolResult = { content: [{ type: 'text', text: rendered.body }] };
      if (rendered.contentType.startsWith('application/json')) {
        const parsed: unknown = JSON.parse(rendered.body);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
          result.structuredContent = parsed as Record<string, unknown>;
        }
      }
      return result;
    },
  );

  server.registerTool(
    'list_files',
    {
      title: 'List staged files',
      description: "List the files in the server's staging directory (the ones /v1/files serves), sorted by path.",
      inputSchema: {},
      outputSchema: {
        files: z.array(z.object({ path: z.string(), size: z.number(), modified: z.string() })),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => jsonResult({ files: await services.listFiles() }),
  );

  server.registerTool(
    'put_file',
    {
      title: 'Stage a file',
      description: `Upload a file into the server's staging directory, replacing any file at that path, so transcribe can read it by file_path. At most ${maxUploadBytes} bytes once decoded.`,
      inputSchema: {
        path: stagedPath,
        content_base64: z.string().describe('The file content, standard base64 with padding'),
      },
      outputSchema: { path: z.string(), size: z.number() },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ path, content_base64 }) => {
      const bytes = decodeBase64(content_base64, { field: 'content_base64', maxBytes: maxUploadBytes });
      return jsonResult(await services.putFile(path, bytes));
    },
  );

  server.registerTool(
    'get_file',
    {
      title: 'Download a staged file',
      description: `Read a staged file back as base64. Files over ${maxUploadBytes} bytes are refused; download those with GET /v1/files/{path}.`,
      inputSchema: { path: stagedPath },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    // Text content only: structured content would send the base64 a second time.
    async ({ path }) => {
      const file = await services.openFile(path);
      const tooLarge = (size: number) =>
        new Error(
          `file too large to return over MCP (${size} bytes > ${maxUploadBytes}); download it with GET /v1/files/${file.path}`,
        );
      if (file.size > maxUploadBytes) throw tooLarge(file.size);
      const bytes = await file.read();
      if (bytes.byteLength > maxUploadBytes) throw tooLarge(bytes.byteLength);
      const value = { path: file.path, size: bytes.byteLength, content_base64: encodeBase64(bytes) };
      return { content: [{ type: 'text', text: JSON.stringify(value) }] };
    },
  );

  server.registerTool(
    'delete_file',
    {
      title: 'Delete a staged file',
      description: 'Delete a staged file; folders it leaves empty are removed too.',
      inputSchema: { path: stagedPath },
      outputSchema: { deleted: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    async ({ path }) => jsonResult(await services.deleteFile(path)),
  );

  return server;
}
