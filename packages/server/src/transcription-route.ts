/**
 * POST /v1/audio/transcriptions, in the Python talkies' check order:
 * file xor file_path (400) → model known (404) → model is ASR (400) →
 * response_format (400) → decode (400) → transcribe → render.
 */
import { inject, injectable } from 'tsyringe';
import type { Context } from 'koa';
import { join } from 'node:path';
import { z } from 'zod';
import {
  formatNeedsTimestamps,
  parseTranscriptionFormat,
  renderTranscription,
  SpeechError,
  type TranscriptionResult,
} from '@talkies/core';
import { decodeAudio } from '@talkies/audio';
import type { ServerConfig } from './config.js';
import { ModelCatalog } from './model-catalog.js';
import { resolveStagedFile } from './staged-path.js';
import { ConfigToken } from './tokens.js';
import { requestSignal, validate } from './request-helpers.js';

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

const fieldsSchema = z.object({
  model: z.string({ error: 'model is required: name a configured slug (GET /v1/models)' }).trim().min(1, 'model is required'),
  language: z.string().trim().optional(),
  response_format: z.string().optional(),
  prompt: z.string().optional(),
  temperature: optionalNumber.pipe(z.number().min(0).max(1).optional()),
  file_path: z.string().optional(),
  'timestamp_granularities[]': z.union([z.string(), z.array(z.string())]).optional(),
  timestamp_granularities: z.union([z.string(), z.array(z.string())]).optional(),
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
  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(ConfigToken) private readonly config: ServerConfig,
  ) {}

  /** Shared by /transcriptions and /translations. */
  async handle(ctx: Context, task: 'transcribe' | 'translate'): Promise<void> {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const fields = validate(fieldsSchema, body);
    const file = firstFile(ctx.request.files?.file);
    const hasFile = file !== undefined && (file.originalFilename ?? '') !== '';
    const filePath = fields.file_path?.trim() ?? '';
    if (hasFile === (filePath !== '')) {
      throw new SpeechError(
        'INVALID_REQUEST',
        'must specify exactly one of `file` (multipart upload) or `file_path` (path under /v1/files)',
        { param: 'file' },
      );
    }
    const model = this.catalog.asr(fields.model);
    if (task === 'translate' && !model.backend.capabilities.translation) {
      const capable = this.catalog
        .list()
        .filter((other) => other.backend.modality === 'asr' && other.backend.capabilities.translation)
        .map((other) => other.slug);
      throw new SpeechError(
        'UNSUPPORTED_CAPABILITY',
        `model '${fields.model}' cannot translate; models that can: ${capable.join(', ') || 'none configured'}`,
        { param: 'model', model: fields.model },
      );
    }
    const format = parseTranscriptionFormat(fields.response_format);
    let source: string;
    if (hasFile) {
      source = file!.filepath;
    } else if (/^https?:\/\//i.test(filePath)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        'URL file_path is not enabled on this server yet; download the file and upload it as `file` or stage it with PUT /v1/files',
        { param: 'file_path' },
      );
    } else {
      source = await resolveStagedFile(join(this.config.dataDir, 'files'), filePath);
    }
    const signal = requestSignal(ctx);
    const decoded = await decodeAudio(source, { signal });
    const language = fields.language || model.entry.default_source_lang;
    const result: TranscriptionResult = await this.catalog.pool.use(
      model.slug,
      (backend) =>
        (backend as typeof model.backend).transcribe({
          audio: decoded.samples,
          sampleRate: decoded.sampleRate,
          language: language && language !== 'auto' ? language : undefined,
          task,
          timestamps: formatNeedsTimestamps(format),
          prompt: fields.prompt,
          temperature: fields.temperature,
          signal,
        }),
      signal,
    );
    const rendered = renderTranscription(result, format, {
      task,
      language: language ?? 'en',
      duration: decoded.duration,
    });
    ctx.status = 200;
    ctx.type = rendered.contentType;
    ctx.body = rendered.body;
  }
}
