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
import { openAudioStream, probeAudio } from '@talkies/audio';
import { ModelCatalog } from './model-catalog.js';
import { FileStore } from './file-store.js';
import { mergeChannels, type SpeakerLabels } from './stereo-merge.js';
import type { ServerConfig } from './config.js';
import { ChunkerToken, ConfigToken } from './tokens.js';

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

function notStereo(channels: number): SpeechError {
  return new SpeechError(
    'INVALID_REQUEST',
    `diarization=true requires a stereo (2-channel) source; got ${channels} channel(s). Send a stereo recording with one speaker per channel, or leave diarization off`,
    { param: 'diarization' },
  );
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
    @inject(ConfigToken) private readonly config: ServerConfig,
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

    // The probe runs before the model is leased: an input that is refused (a playlist, an
    // absurd header, too long, no audio stream, not stereo for diarization) costs no model
    // load. ffmpeg itself starts inside the lease, so queued requests hold no decoder.
    const decode = { signal: job.signal, maxSeconds: this.config.maxAudioSeconds };
    const probe = await probeAudio(path, { signal: job.signal, limits: decode });
    if (job.diarization && probe.channels !== 2) throw notStereo(probe.channels);
    let result: TranscriptionResult;
    let duration: number;
    if (job.diarization) {
      // Each channel is its own pass over the file, streamed like mono audio: memory holds
      // what the chunker retains, never a whole channel.
      const [first, second] = await this.catalog.pool.use(
        model,
        async (backend) => {
          const results: TranscriptionResult[] = [];
          for (const channel of [0, 1]) {
            const audio = await openAudioStream(path, { ...decode, channel, probe });
            try {
              if (audio.channels !== 2) throw notStereo(audio.channels);
              results.push(await this.chunker.transcribe(backend, audio.blocks, base));
            } finally {
              await audio.close();
            }
          }
          return results as [TranscriptionResult & { duration: number }, TranscriptionResult & { duration: number }];
        },
        job.signal,
      );
      duration = first.duration;
      result = mergeChannels(first, second, job.speakerLabels);
    } else {
      // Decoding streams into the chunker: long audio is cut at pauses and each piece is
      // transcribed while the rest is still being decoded; short audio goes whole.
      const transcribed = await this.catalog.pool.use(
        model,
        async (backend) => {
          const audio = await openAudioStream(path, { ...decode, probe });
          try {
            return await this.chunker.transcribe(backend, audio.blocks, base);
          } finally {
            await audio.close();
          }
        },
        job.signal,
      );
      duration = transcribed.duration;
      result = transcribed;
    }
    return renderTranscription(result, format, { task: job.task, language: language ?? 'en', duration });
  }
}
