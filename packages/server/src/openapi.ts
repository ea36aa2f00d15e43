/**
 * The OpenAPI 3.1 document served at `GET /openapi.json`.
 *
 * It cannot drift from the server: the list of paths and methods is read from the
 * router itself, request bodies are the zod schemas the routes validate with (turned into
 * JSON Schema by `z.toJSONSchema`), and the response schemas below are zod schemas that
 * the tests check real responses against. A route that has no entry in {@link OPERATIONS}
 * still appears, marked `x-talkies-undocumented`, and the OpenAPI test fails on it.
 */
import { z } from 'zod';
import { AUDIO_CONTENT_TYPES, AUDIO_FORMATS } from '@talkies/audio';
import { TRANSCRIPTION_FORMATS } from '@talkies/core';
import { speechRequestSchema } from './speech-route.js';
import { transcriptionFieldsSchema } from './transcription-route.js';

/** A route as the router knows it: its pattern and methods. */
export interface RouteEntry {
  /** A RegExp route cannot be described and is left out. */
  path: string | RegExp;
  methods: readonly string[];
}

// ---------------------------------------------------------------------------------------
// Response schemas. Loose objects: fields may be added without breaking clients.

/** The named schemas of `components.schemas`. */
const responseSchemas = z.registry<{ id: string; description?: string }>();

export const errorResponseSchema = z
  .looseObject({
    error: z.looseObject({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string(),
    }),
    detail: z.string().describe('The same message, for clients of the Python talkies.'),
  })
  .register(responseSchemas, { id: 'Error' });

export const healthResponseSchema = z.looseObject({ ok: z.boolean(), device: z.string(), models: z.array(z.string()) }).register(responseSchemas, { id: 'Health' });

export const modelSchema = z
  .looseObject({
    id: z.string().describe('The slug from models.json.'),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    modality: z.enum(['asr', 'tts']),
    executor: z.string(),
    max_concurrency: z.number().int().min(1),
    aliases: z.array(z.string()).describe('Other names (models.json `aliases`) that resolve to this model.'),
  })
  .register(responseSchemas, { id: 'Model' });

export const modelListResponseSchema = z.looseObject({ object: z.literal('list'), data: z.array(modelSchema) }).register(responseSchemas, { id: 'ModelList' });

export const voiceListResponseSchema = z
  .looseObject({
    voices: z.array(
      z.looseObject({
        voice: z.string(),
        model: z.string(),
        default: z.boolean(),
        language: z.string().optional(),
        origin: z.string().optional(),
      }),
    ),
  })
  .register(responseSchemas, { id: 'VoiceList' });

export const loadedModelsResponseSchema = z
  .looseObject({
    models: z.array(
      z.looseObject({
        id: z.string(),
        repo: z.string().optional(),
        loaded: z.literal(true),
        idle_seconds: z.number().nullable(),
        active_requests: z.number().int(),
        max_concurrency: z.number().int(),
      }),
    ),
  })
  .register(responseSchemas, { id: 'LoadedModels' });

export const unloadOneResponseSchema = z.looseObject({ unloaded: z.string() }).register(responseSchemas, { id: 'UnloadedModel' });
export const unloadAllResponseSchema = z.looseObject({ unloaded: z.array(z.string()) }).register(responseSchemas, { id: 'UnloadedModels' });

export const stagedFileListResponseSchema = z
  .looseObject({
    files: z.array(z.looseObject({ path: z.string(), size: z.number().int(), modified: z.string().describe('UTC ISO 8601') })),
  })
  .register(responseSchemas, { id: 'StagedFileList' });
export const stagedFileResponseSchema = z.looseObject({ path: z.string(), size: z.number().int() }).register(responseSchemas, { id: 'StagedFile' });
export const deletedFileResponseSchema = z.looseObject({ deleted: z.string() }).register(responseSchemas, { id: 'DeletedFile' });

export const transcriptionResponseSchema = z
  .looseObject({
    text: z.string(),
    task: z.string().optional(),
    language: z.string().optional(),
    duration: z.number().optional(),
    segments: z.array(z.looseObject({ id: z.number().int(), start: z.number(), end: z.number(), text: z.string() })).optional(),
    words: z.array(z.looseObject({ word: z.string(), start: z.number(), end: z.number() })).optional(),
  })
  .register(responseSchemas, { id: 'Transcription', description: '`json` has `text`; `verbose_json` adds task, language, duration, segments and words.' });

// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** JSON Schema of a zod schema, as OpenAPI 3.1 embeds it (no `$schema`; named ones as $refs). */
function schemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const id = responseSchemas.get(schema)?.id;
  if (id) return { $ref: `#/components/schemas/${id}` };
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete json.$schema;
  return json;
}

function jsonResponse(description: string, schema: z.ZodType): Json {
  return { description, content: { 'application/json': { schema: schemaOf(schema) } } };
}

const errorRef = { $ref: '#/components/responses/Error' };
/** The error answers every authenticated operation can give. */
function withErrors(responses: Json, statuses: string[] = []): Json {
  const all: Json = { ...responses, '401': errorRef };
  for (const status of statuses) all[status] = errorRef;
  all['500'] = errorRef;
  return all;
}

function multipartTranscription(description: string): Json {
  const fields = schemaOf(transcriptionFieldsSchema, 'input') as { properties: Json; required?: string[] };
  return {
    required: true,
    description,
    content: {
      'multipart/form-data': {
        schema: {
          ...fields,
          properties: {
            file: { type: 'string', contentMediaType: 'application/octet-stream', description: 'The audio or video file. Give either `file` or `file_path`.' },
            ...fields.properties,
          },
        },
        encoding: { file: { contentType: 'audio/*, video/*, application/octet-stream' } },
      },
    },
  };
}

function transcriptionOperation(task: 'transcribe' | 'translate'): Json {
  const transcribe = task === 'transcribe';
  return {
    operationId: transcribe ? 'createTranscription' : 'createTranslation',
    tags: ['Audio'],
    summary: transcribe ? 'Transcribe audio (speech to text)' : 'Translate audio into English text',
    description:
      `OpenAI-compatible. \`response_format\` is one of ${TRANSCRIPTION_FORMATS.join(', ')} (json by default). ` +
      '`file_path` names a file staged with PUT /v1/files, or an http(s) URL to download. ' +
      '`stream=true` answers with server-sent events: `transcript.text.delta` per piece as the VAD chunker releases it, then `transcript.text.done` with the text and `usage` in seconds.',
    requestBody: multipartTranscription('The audio and the transcription options.'),
    responses: withErrors(
      {
        '200': {
          description: 'The transcript, in the requested format.',
          content: {
            'application/json': { schema: schemaOf(transcriptionResponseSchema) },
            'text/plain': { schema: { type: 'string', description: '`text` and `txt`' } },
            'application/x-subrip': { schema: { type: 'string', description: '`srt`' } },
            'text/vtt': { schema: { type: 'string', description: '`vtt`' } },
            'text/event-stream': { schema: { type: 'string', description: '`stream=true`: transcript.text.delta events, then transcript.text.done' } },
          },
        },
      },
      ['400', '404', '413', '422'],
    ),
  };
}

const modelPathParameter = (description: string): Json => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

const stagedPathParameter: Json = {
  name: 'path',
  in: 'path',
  required: true,
  description: "A relative path such as 'calls/2026/a.wav' (slashes allowed; no '..', no empty segments).",
  schema: { type: 'string' },
};

/**
 * Every operation, by `METHOD path` as the router writes the path (`ANY` for a route that
 * takes every method). `null` marks a route that only exists to answer with an error
 * message (no path given to PUT or DELETE /v1/files) and is left out of the document.
 */
const OPERATIONS: Record<string, Json | null> = {
  'GET /': {
    operationId: 'playground',
    tags: ['Web'],
    summary: 'The web playground',
    description: 'A page to try the server: record or upload audio to transcribe, type text to hear it. Static files; asks for the token when auth is on.',
    security: [],
    responses: { '200': { description: 'The playground page.', content: { 'text/html': { schema: { type: 'string' } } } } },
  },
  'GET /playground/{file}': {
    operationId: 'playgroundAsset',
    tags: ['Web'],
    summary: "The playground's script and style sheet",
    security: [],
    parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', enum: ['playground.js', 'playground.css'] } }],
    responses: {
      '200': { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
      '404': errorRef,
    },
  },
  'GET /healthz': {
    operationId: 'health',
    tags: ['Operations'],
    summary: 'Health check',
    description: 'Open even when a bearer token is set, for load balancers and probes.',
    security: [],
    responses: { '200': jsonResponse('The server is up.', healthResponseSchema), '503': errorRef },
  },
  'GET /metrics': {
    operationId: 'metrics',
    tags: ['Operations'],
    summary: 'Prometheus metrics',
    description: 'Prometheus text format. Needs the bearer token unless TALKIES_METRICS_PUBLIC=true.',
    responses: withErrors({
      '200': { description: 'Metrics in the Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } },
    }),
  },
  'GET /openapi.json': {
    operationId: 'openapi',
    tags: ['Operations'],
    summary: 'This document',
    responses: withErrors({ '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } }),
  },
  'GET /v1/models': {
    operationId: 'listModels',
    tags: ['Models'],
    summary: 'List the configured models',
    responses: withErrors({ '200': jsonResponse('Every model of models.json this server serves.', modelListResponseSchema) }),
  },
  'GET /v1/models/{*id}': {
    operationId: 'retrieveModel',
    tags: ['Models'],
    summary: 'One configured model',
    description: 'The SDKs\' models.retrieve. An id with "/" is sent URL-encoded (%2F) and decoded once.',
    parameters: [modelPathParameter('The model slug.')],
    responses: withErrors({ '200': jsonResponse('The model, as in the list.', modelSchema) }, ['404']),
  },
  'GET /v1/audio/voices': {
    operationId: 'listVoices',
    tags: ['Audio'],
    summary: 'List the voices of every TTS model',
    responses: withErrors({ '200': jsonResponse('Voices, each with its model.', voiceListResponseSchema) }),
  },
  'GET /api/ps': {
    operationId: 'listLoadedModels',
    tags: ['Models'],
    summary: 'Models in memory',
    responses: withErrors({ '200': jsonResponse('The loaded models and their requests.', loadedModelsResponseSchema) }),
  },
  'DELETE /api/ps/{*id}': {
    operationId: 'unloadModel',
    tags: ['Models'],
    summary: 'Unload one model',
    description: 'Waits for its in-flight requests. The id may be URL-encoded (%2F for "/"); it is decoded once.',
    parameters: [modelPathParameter('The model slug.')],
    responses: withErrors({ '200': jsonResponse('The model was unloaded.', unloadOneResponseSchema) }, ['404', '409']),
  },
  'POST /unload': {
    operationId: 'unloadAllModels',
    tags: ['Models'],
    summary: 'Unload every model',
    responses: withErrors({ '200': jsonResponse('The models that were unloaded.', unloadAllResponseSchema) }),
  },
  'POST /v1/audio/transcriptions': transcriptionOperation('transcribe'),
  'POST /v1/audio/translations': transcriptionOperation('translate'),
  'POST /v1/audio/speech': {
    operationId: 'createSpeech',
    tags: ['Audio'],
    summary: 'Speak text (text to speech)',
    description:
      `OpenAI-compatible. \`response_format\` is one of ${AUDIO_FORMATS.join(', ')} (mp3 by default). ` +
      '`stream_format: audio` (and pcm always) streams chunked audio as it is made; `stream_format: sse` sends speech.audio.delta events.',
    requestBody: { required: true, content: { 'application/json': { schema: schemaOf(speechRequestSchema, 'input') } } },
    responses: withErrors(
      {
        '200': {
          description: 'The audio, or server-sent events with `stream_format: sse`.',
          headers: {
            'X-Sample-Rate': { description: 'For pcm: the sample rate of the 16-bit mono samples.', schema: { type: 'string' } },
            'X-Talkies-Warning': { description: 'Options the model ignored.', schema: { type: 'string' } },
          },
          content: {
            ...Object.fromEntries([...new Set(Object.values(AUDIO_CONTENT_TYPES))].map((type) => [type, { schema: { type: 'string', contentMediaType: type } }])),
            'text/event-stream': { schema: { type: 'string' } },
          },
        },
      },
      ['400', '404', '422'],
    ),
  },
  'GET /v1/files': {
    operationId: 'listStagedFiles',
    tags: ['Files'],
    summary: 'List staged files',
    responses: withErrors({ '200': jsonResponse('Every staged file, sorted by path.', stagedFileListResponseSchema) }),
  },
  'GET /v1/files/{*path}': {
    operationId: 'downloadStagedFile',
    tags: ['Files'],
    summary: 'Download a staged file',
    parameters: [stagedPathParameter],
    responses: withErrors(
      { '200': { description: 'The file.', content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } } },
      ['400', '404'],
    ),
  },
  'PUT /v1/files': null,
  'PUT /v1/files/{*path}': {
    operationId: 'stageFile',
    tags: ['Files'],
    summary: 'Stage a file',
    description: 'The raw body is the file. It replaces what was there and appears only once complete.',
    parameters: [stagedPathParameter],
    requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
    responses: withErrors({ '201': jsonResponse('Stored.', stagedFileResponseSchema) }, ['400', '413']),
  },
  'DELETE /v1/files': null,
  'DELETE /v1/files/{*path}': {
    operationId: 'deleteStagedFile',
    tags: ['Files'],
    summary: 'Delete a staged file',
    parameters: [stagedPathParameter],
    responses: withErrors({ '200': jsonResponse('Deleted; empty parent folders are removed too.', deletedFileResponseSchema) }, ['400', '404']),
  },
  'ANY /v1/mcp': {
    post: {
      operationId: 'mcp',
      tags: ['MCP'],
      summary: 'Model Context Protocol (streamable HTTP)',
      description: 'JSON-RPC 2.0 messages of the MCP streamable HTTP transport; tools for transcription, speech and staged files.',
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
      responses: withErrors(
        {
          '200': {
            description: 'A JSON-RPC response, as JSON or as server-sent events.',
            content: { 'application/json': { schema: { type: 'object' } }, 'text/event-stream': { schema: { type: 'string' } } },
          },
        },
        ['400'],
      ),
    },
  },
};

/** `{*name}` and `:name` router parameters as OpenAPI's `{name}`. */
export function openApiPath(routerPath: string): string {
  return routerPath.replace(/\{\*(\w+)\}/g, '{$1}').replace(/:(\w+)/g, '{$1}');
}

/** The methods a route answers, as `OPERATIONS` keys write them. */
function operationKeys(route: RouteEntry): string[] {
  if (typeof route.path !== 'string') return [];
  const methods = route.methods.filter((method) => method !== 'HEAD');
  // router.all() registers every method Node knows.
  if (methods.length > 10) return [`ANY ${route.path}`];
  return methods.map((method) => `${method} ${route.path}`);
}

export interface OpenApiOptions {
  version: string;
  /** Operations outside the router (middleware such as /metrics and the playground). */
  extraRoutes?: RouteEntry[];
}

/** Build the document from the router's routes. */
export function buildOpenApiDocument(routes: readonly RouteEntry[], options: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const route of [...(options.extraRoutes ?? []), ...routes]) {
    for (const key of operationKeys(route)) {
      const operation = OPERATIONS[key];
      if (operation === null) continue;
      const path = openApiPath(key.slice(key.indexOf(' ') + 1));
      const item = (paths[path] ??= {});
      const method = key.slice(0, key.indexOf(' ')).toLowerCase();
      if (method === 'any') {
        Object.assign(item, operation ?? { post: undocumented(key) });
      } else {
        item[method] = operation ?? undocumented(key);
      }
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'talkies',
      version: options.version,
      summary: "Self-hosted speech server speaking OpenAI's audio API.",
      description: 'Speech-to-text and text-to-speech from open models. Errors have the shape of `#/components/schemas/Error`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    tags: ['Audio', 'Models', 'Files', 'MCP', 'Operations', 'Web'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'TALKIES_AUTH_TOKEN; without it set, the server is open.' },
      },
      responses: { Error: jsonResponse('An error: `error.message` (and `detail`) says what to do next.', errorResponseSchema) },
      schemas: componentSchemas(),
    },
  };
}

/** Every named response schema, referring to each other through `#/components/schemas/…`. */
function componentSchemas(): Json {
  const { schemas } = z.toJSONSchema(responseSchemas, {
    unrepresentable: 'any',
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  for (const schema of Object.values(schemas)) {
    delete schema.$schema;
    delete schema.$id;
  }
  return schemas;
}

function undocumented(key: string): Json {
  return {
    summary: `${key} (not described yet)`,
    'x-talkies-undocumented': true,
    responses: { default: { description: 'Not described yet: add this route to OPERATIONS in packages/server/src/openapi.ts.' } },
  };
}
