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
  type AsrBackend,
  type LiveEvent,
  type RenderedTranscription,
  type TranscriptionResult,
  type TranscriptionWord,
} from '@talkies/core';
import { openAudioStream, probeAudio } from '@talkies/audio';
import { LiveTranscriptionService } from './live-transcription-service.js';
import { ModelCatalog, onTheWay } from './model-catalog.js';
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
  /** `include[]=logprobs`: word confidences as logprobs, where the engine gives them (streaming). */
  logprobs?: boolean;
  signal: AbortSignal;
}

/** One event of a `stream=true` transcription, in OpenAI's shape. */
export type TranscriptStreamEvent =
  | { type: 'transcript.text.delta'; delta: string; logprobs?: TranscriptLogprob[] }
  | { type: 'transcript.text.done'; text: string; logprobs?: TranscriptLogprob[]; usage: { type: 'duration'; seconds: number } };

/** OpenAI's logprob entry; talkies fills it from word confidences (one entry per word). */
export interface TranscriptLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

/** Word confidences as logprobs; undefined when the engine gave none. */
function wordLogprobs(words: readonly TranscriptionWord[]): TranscriptLogprob[] | undefined {
  const scored = words.filter((word) => typeof word.confidence === 'number');
  if (scored.length === 0) return undefined;
  return scored.map((word) => ({
    token: word.word,
    logprob: Math.log(Math.max(word.confidence!, 1e-12)),
    bytes: [...Buffer.from(word.word, 'utf8')],
  }));
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
    @inject(LiveTranscriptionService) private readonly live: LiveTranscriptionService,
  ) {}

  /**
   * `stream=true`: every check and the probe happen before this resolves, the lease on the
   * first `next()` (so all of them can still be ordinary error answers); the events then come as the VAD chunker releases
   * each piece and the engine transcribes it. Leaving the iteration early (a client that
   * went away) stops ffmpeg and the engine and releases the lease.
   */
  async stream(job: TranscriptionJob): Promise<AsyncGenerator<TranscriptStreamEvent, void, undefined>> {
    const { model, path, base, decode, probe } = await this.#prepare(job, { stream: true });
    const pool = this.catalog.pool;
    const live = this.live;
    const logprobs = job.logprobs === true;
    const speakerLabels = job.speakerLabels;
    async function* events(): AsyncGenerator<TranscriptStreamEvent, void, undefined> {
      // Leased on the first next(): a generator closed before it starts never runs its finally.
      const lease = await pool.acquire<AsrBackend>(model, job.signal);
      // Until its first piece reaches the model, a batch forming there waits for it a little.
      const { backend, done } = onTheWay(model, lease.backend);
      try {
        const results: Array<TranscriptionResult & { duration: number }> = [];
        for (const channel of job.diarization ? [0, 1] : [undefined]) {
          const audio = await openAudioStream(path, { ...decode, probe, ...(channel === undefined ? {} : { channel }) });
          const session = live.openOnBackend(backend, {
            sampleRate: 16000,
            segmentation: { type: 'chunks' },
            language: base.language,
            prompt: base.prompt,
            task: base.task,
            timestamps: base.timestamps,
            signal: job.signal,
          });
          // Decoding feeds the session; its write() waits while the engine is behind.
          const feeding = (async () => {
            try {
              if (channel !== undefined && audio.channels !== 2) throw notStereo(audio.channels);
              for await (const block of audio.blocks) await session.write(block);
              session.end();
            } catch (error) {
              await session.close();
              throw error;
            }
          })();
          feeding.catch(() => {});
          let sent = results.some((result) => result.text.trim() !== '');
          try {
            for await (const event of session as AsyncIterable<LiveEvent>) {
              if (event.type === 'delta') {
                // Pieces of the second channel continue the text of the first.
                const text = sent && results.length > 0 && event.text !== '' && !event.text.startsWith(' ') ? ` ${event.text}` : event.text;
                sent ||= text.trim() !== '';
                const scores = logprobs ? wordLogprobs(event.words) : undefined;
                yield { type: 'transcript.text.delta', delta: text, ...(scores ? { logprobs: scores } : {}) };
              } else if (event.type === 'done') {
                results.push(event.result);
              }
            }
            await feeding;
          } finally {
            await session.close();
            await audio.close();
          }
        }
        const result = job.diarization ? mergeChannels(results[0]!, results[1]!, speakerLabels) : results[0]!;
        const scores = logprobs ? wordLogprobs(result.words) : undefined;
        yield {
          type: 'transcript.text.done',
          text: result.text,
          ...(scores ? { logprobs: scores } : {}),
          usage: { type: 'duration', seconds: Math.round(results[0]!.duration * 1000) / 1000 },
        };
      } finally {
        done();
        lease.release();
      }
    }
    return events();
  }

  /** The checks and the probe every transcription passes before its model is leased. */
  async #prepare(job: TranscriptionJob, options: { stream?: boolean } = {}) {
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
    if (options.stream && format !== 'json' && format !== 'text') {
      throw new SpeechError(
        'INVALID_REQUEST',
        `stream=true sends transcript.text.delta and transcript.text.done events, which have no '${format}' form; use response_format json or text, or leave stream out`,
        { param: 'response_format' },
      );
    }
    const path =
      job.source.kind === 'upload' ? job.source.path : await this.files.resolveForTranscription(job.source.value, job.signal);
    const language = job.language || model.entry.default_source_lang;
    const base = {
      language: language && language !== 'auto' ? language : undefined,
      task: job.task,
      timestamps: formatNeedsTimestamps(format) || job.diarization === true || job.logprobs === true,
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
    return { model, format, path, language, base, decode, probe };
  }

  async run(job: TranscriptionJob): Promise<RenderedTranscription> {
    const { model, format, path, language, base, decode, probe } = await this.#prepare(job);
    let result: TranscriptionResult;
    let duration: number;
    if (job.diarization) {
      // Each channel is its own pass over the file, streamed like mono audio: memory holds
      // what the chunker retains, never a whole channel.
      const [first, second] = await this.catalog.pool.use(
        model,
        async (leased) => {
          const { backend, done } = onTheWay(model, leased);
          try {
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
          } finally {
            done();
          }
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
        async (leased) => {
          // Until its first piece reaches the model, a batch forming there waits for it a little.
          const { backend, done } = onTheWay(model, leased);
          const audio = await openAudioStream(path, { ...decode, probe }).catch((error: unknown) => {
            done();
            throw error;
          });
          try {
            return await this.chunker.transcribe(backend, audio.blocks, base);
          } finally {
            done();
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
