/**
 * POST /v1/audio/transcriptions and /translations, in the Python talkies' check order:
 * field types (422) → file xor file_path (400) → model known (404) → model is ASR (400)
 * → response_format (400) → source (404/400) → decode (400) → transcribe → render.
 */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import { z } from 'zod';
import { SpeechError } from '@talkies/core';
import { requestSignal, validate } from './request-helpers.js';
import { parseSpeakerLabels, type SpeakerLabels } from './stereo-merge.js';
import type { Logger } from 'pino';
import { LoggerToken } from './tokens.js';
import { parseFlag, TranscriptionService, type TranscriptionJob, type TranscriptStreamEvent } from './transcription-service.js';
import { sseErrorEvent, sseEvent, writable } from './event-stream.js';

const optionalNumber = z
  .union([z.string(), z.number()])
  .optional()
  .transform((value, context) => {
    if (value === undefined || value === '') return undefined;
    const number = Number(value);
    if (!Number.isFinite(number)) {
      context.addIssue({ code: 'custom', message: `'${value}' is not a number` });
      return z.NEVER;
    }
    return number;
  });

export const transcriptionFieldsSchema = z.object({
  model: z.string({ error: 'model is required: name a configured slug (GET /v1/models)' }).trim().min(1, 'model is required'),
  language: z.string().trim().optional(),
  response_format: z.string().optional(),
  prompt: z.string().optional(),
  temperature: optionalNumber.pipe(z.number().min(0).max(1).optional()),
  file_path: z.string().optional(),
  'timestamp_granularities[]': z.union([z.string(), z.array(z.string())]).optional(),
  timestamp_granularities: z.union([z.string(), z.array(z.string())]).optional(),
  diarization: z.string().optional(),
  speaker_labels: z.string().optional(),
  stream: z.string().optional(),
  'include[]': z.union([z.string(), z.array(z.string())]).optional(),
  include: z.union([z.string(), z.array(z.string())]).optional(),
});

/** `include[]` values as a list (the SDK sends `include[]`, curl users often `include`). */
function includes(fields: { 'include[]'?: string | string[]; include?: string | string[] }): string[] {
  return [fields['include[]'] ?? [], fields.include ?? []].flat().map((value) => value.trim());
}

interface UploadedFile {
  filepath: string;
  originalFilename?: string | null;
  size: number;
}

function firstFile(value: unknown): UploadedFile | undefined {
  const file = Array.isArray(value) ? value[0] : value;
  return file && typeof file === 'object' && 'filepath' in file ? (file as UploadedFile) : undefined;
}

@injectable()
export class TranscriptionRoute {
  constructor(
    @inject(TranscriptionService) private readonly service: TranscriptionService,
    @inject(LoggerToken) private readonly logger: Logger,
  ) {}

  /**
   * Server-sent events, without `event:` lines (every OpenAI client version reads them as
   * data): `transcript.text.delta` per piece, then `transcript.text.done`. Headers go out
   * with the first event, so a failure before it (model load, unreadable audio) is an
   * ordinary error answer; a failure after it ends the stream with an `error` event.
   */
  async #stream(ctx: Context, events: AsyncGenerator<TranscriptStreamEvent, void, undefined>, signal: AbortSignal): Promise<void> {
    const response = ctx.res;
    let headersSent = false;
    try {
      let next = await events.next();
      ctx.status = 200;
      ctx.respond = false;
      response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
      headersSent = true;
      response.flushHeaders();
      for (; !next.done; next = await events.next()) {
        if (signal.aborted) return;
        if (!response.write(sseEvent(next.value))) await writable(response);
      }
      response.end();
    } catch (error) {
      // The client went away: the engine has stopped and there is no one to tell.
      if (signal.aborted) return;
      if (!headersSent) {
        ctx.respond = true;
        throw error;
      }
      this.logger.error({ err: error, requestId: ctx.state.requestId }, 'transcription stream failed after it started');
      if (response.writable) {
        response.end(sseErrorEvent(error));
      }
    } finally {
      // Stops ffmpeg and the engine, and returns the model's lease.
      await events.return().catch(() => undefined);
    }
  }

  /** Shared by /transcriptions and /translations. */
  async handle(ctx: Context, task: 'transcribe' | 'translate'): Promise<void> {
    const fields = validate(transcriptionFieldsSchema, ctx.request.body ?? {});
    const include = includes(fields);
    const unknownInclude = include.find((value) => value !== 'logprobs');
    if (unknownInclude !== undefined) {
      throw new SpeechError('INVALID_REQUEST', `include[] '${unknownInclude}' is not known; the one value is 'logprobs'`, { param: 'include' });
    }
    const file = firstFile(ctx.request.files?.file);
    const hasFile = file !== undefined && (file.originalFilename ?? '') !== '';
    const filePath = fields.file_path?.trim() ?? '';
    if (!hasFile && filePath === '' && typeof (ctx.request.body as Record<string, unknown> | undefined)?.file === 'string') {
      throw new SpeechError(
        'INVALID_REQUEST',
        '`file` arrived as a text field; send it as a file part (Content-Disposition with a filename)',
        { param: 'file' },
      );
    }
    if (hasFile === (filePath !== '')) {
      throw new SpeechError(
        'INVALID_REQUEST',
        'must specify exactly one of `file` (multipart upload) or `file_path` (path under /v1/files)',
        { param: 'file' },
      );
    }
    let speakerLabels: SpeakerLabels | undefined;
    try {
      speakerLabels = parseSpeakerLabels(fields.speaker_labels);
    } catch (error) {
      throw new SpeechError('VALIDATION_FAILED', (error as Error).message, { param: 'speaker_labels' });
    }
    const job: TranscriptionJob = {
      model: fields.model,
      source: hasFile ? { kind: 'upload', path: file!.filepath } : { kind: 'file_path', value: filePath },
      task,
      responseFormat: fields.response_format,
      language: fields.language,
      prompt: fields.prompt,
      temperature: fields.temperature,
      diarization: parseFlag(fields.diarization),
      speakerLabels,
      logprobs: include.includes('logprobs'),
      signal: requestSignal(ctx),
    };
    if (parseFlag(fields.stream)) {
      await this.#stream(ctx, await this.service.stream(job), job.signal);
      return;
    }
    const rendered = await this.service.run(job);
    ctx.status = 200;
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  }
}
