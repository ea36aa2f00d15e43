/**
 * The transcription pipeline shared by HTTP (/v1/audio/transcriptions, /translations)
 * and MCP: model checks in the Python talkies' order, source resolution, decoding,
 * optional stereo diarization, the pool lease, and rendering.
 */
import { inject, injectable } from 'tsyringe';
import {
  VadChunker,
  formatNeedsTimestamps,
  parseTranscriptionFormat,
  renderTranscription,
  SpeechError,
  type RenderedTranscription,
  type TranscriptionResult,
} from '@talkies/core';
import { decodeAudioStream, decodeChannels } from '@talkies/audio';
import { ModelCatalog } from './model-catalog.js';
import { FileStore } from './file-store.js';
import { mergeChannels, type SpeakerLabels } from './stereo-merge.js';
import { ChunkerToken } from './tokens.js';

/** Where the audio comes from: an upload already on disk, or a `file_path` value. */
export type TranscriptionSource = { kind: 'upload'; path: string } | { kind: 'file_path'; value: string };

export interface TranscriptionJob {
  model: string;
  source: TranscriptionSource;
  task: 'transcribe' | 'translate';
  responseFormat?: string;
  language?: string;
  prompt?: string;
  temperature?: number;
  diarization?: boolean;
  speakerLabels?: SpeakerLabels;
  signal: AbortSignal;
}

/** `true`, `1`, `yes`, `on` (any case, trimmed) turn a flag on; anything else is off. */
export function parseFlag(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return typeof value === 'string' && ['true', '1', 'yes', 'on'].includes(value.trim().toLowerCase());
}

@injectable()
export class TranscriptionService {
  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(FileStore) private readonly files: FileStore,
    @inject(ChunkerToken) private readonly chunker: VadChunker,
  ) {}

  async run(job: TranscriptionJob): Promise<RenderedTranscription> {
    const model = this.catalog.asr(job.model);
    if (job.task === 'translate' && !model.backend.capabilities.translation) {
      const capable = this.catalog
        .list()
        .filter((other) => other.backend.modality === 'asr' && other.backend.capabilities.translation)
        .map((other) => other.slug);
      throw new SpeechError(
        'UNSUPPORTED_CAPABILITY',
        `model '${job.model}' cannot translate; models that can: ${capable.join(', ') || 'none configured'}`,
        { param: 'model', model: job.model },
      );
    }
    const format = parseTranscriptionFormat(job.responseFormat);
    const path =
      job.source.kind === 'upload' ? job.source.path : await this.files.resolveForTranscription(job.source.value, job.signal);
    const language = job.language || model.entry.default_source_lang;
    const base = {
      language: language && language !== 'auto' ? language : undefined,
      task: job.task,
      timestamps: formatNeedsTimestamps(format) || job.diarization === true,
      prompt: job.prompt,
      temperature: job.temperature,
      signal: job.signal,
    };

    let result: TranscriptionResult;
    let duration: number;
    if (job.diarization) {
      const split = await decodeChannels(path, { signal: job.signal });
      if (split.channels.length !== 2) {
        throw new SpeechError(
          'INVALID_REQUEST',
          `diarization=true requires a stereo (2-channel) source; got ${split.channels.length} channel(s). Send a stereo recording with one speaker per channel, or leave diarization off`,
          { param: 'diarization' },
        );
      }
      const [left, right] = await this.catalog.pool.use(
        model,
        async (backend) => {
          const first = await this.chunker.transcribe(backend, split.channels[0]!, base);
          const second = await this.chunker.transcribe(backend, split.channels[1]!, base);
          return [first, second] as const;
        },
        job.signal,
      );
      duration = split.duration;
      result = mergeChannels(left, right, job.speakerLabels);
    } else {
      // Decoding streams into the chunker: long audio is cut at pauses and each piece is
      // transcribed while the rest is still being decoded; short audio goes whole.
      const transcribed = await this.catalog.pool.use(
        model,
        (backend) => this.chunker.transcribe(backend, decodeAudioStream(path, { signal: job.signal }), base),
        job.signal,
      );
      duration = transcribed.duration;
      result = transcribed;
    }
    return renderTranscription(result, format, { task: job.task, language: language ?? 'en', duration });
  }
}
