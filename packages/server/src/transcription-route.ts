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
import { parseFlag, TranscriptionService } from './transcription-service.js';

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
});

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
  constructor(@inject(TranscriptionService) private readonly service: TranscriptionService) {}

  /** Shared by /transcriptions and /translations. */
  async handle(ctx: Context, task: 'transcribe' | 'translate'): Promise<void> {
    const fields = validate(transcriptionFieldsSchema, ctx.request.body ?? {});
    if (parseFlag(fields.stream)) {
      // Said out loud rather than ignored: an SDK stream object would otherwise wait for events that never come.
      throw new SpeechError(
        'INVALID_REQUEST',
        '`stream` is not supported for transcriptions yet; leave it out (or send stream=false) to get the whole result in one answer',
        { param: 'stream' },
      );
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
    const rendered = await this.service.run({
      model: fields.model,
      source: hasFile ? { kind: 'upload', path: file!.filepath } : { kind: 'file_path', value: filePath },
      task,
      responseFormat: fields.response_format,
      language: fields.language,
      prompt: fields.prompt,
      temperature: fields.temperature,
      diarization: parseFlag(fields.diarization),
      speakerLabels,
      signal: requestSignal(ctx),
    });
    ctx.status = 200;
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  }
}
