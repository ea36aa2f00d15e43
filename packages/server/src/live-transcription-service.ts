/**
 * Live transcription for the server's protocols (SSE `stream=true`, realtime WebSocket,
 * Wyoming): model checks through the catalog, then core's {@link openLiveTranscription}
 * with this server's pool and VAD chunker. Every protocol opens its sessions here, so
 * they share one path: audio in, the chunker or server VAD, the pool lease, the engine,
 * typed events out.
 */
import { inject, injectable } from 'tsyringe';
import {
  openLiveTranscription,
  SpeechError,
  type AsrBackend,
  type LiveSegmentation,
  type LiveTranscription,
  type LiveTranscriptionOptions,
  type VadChunker,
} from '@talkies/core';
import { ModelCatalog, type CatalogModel } from './model-catalog.js';
import { ChunkerToken } from './tokens.js';

export interface LiveSessionRequest {
  /** A configured ASR slug or alias; undefined takes the first ASR model in models.json. */
  model?: string;
  /** Rate of the mono float32 blocks that will be written. */
  sampleRate: number;
  segmentation: LiveSegmentation;
  language?: string;
  prompt?: string;
  task?: 'transcribe' | 'translate';
  timestamps?: boolean;
  partialIntervalMs?: number;
  maxQueuedSeconds?: number;
  maxPendingEvents?: number;
  signal?: AbortSignal;
}

@injectable()
export class LiveTranscriptionService {
  constructor(
    @inject(ModelCatalog) private readonly catalog: ModelCatalog,
    @inject(ChunkerToken) private readonly chunker: VadChunker,
  ) {}

  /** The ASR model a request names (404 unknown, 400 not ASR), or the first configured one (404 if none). */
  model(name: string | undefined): CatalogModel & { backend: AsrBackend } {
    if (name !== undefined && name.trim() !== '') return this.catalog.asr(name.trim());
    const first = this.catalog.list().find((model) => model.backend.modality === 'asr');
    if (!first) throw new SpeechError('MODEL_NOT_FOUND', 'no ASR model is configured: add one to models.json', { param: 'model' });
    return first as CatalogModel & { backend: AsrBackend };
  }

  /**
   * Opens a session: checks the model now (so a protocol can refuse before streaming), then
   * leases it for the session's lifetime. The language defaults to the model entry's
   * `default_source_lang` (`auto` means detect).
   */
  open(request: LiveSessionRequest): LiveTranscription {
    const model = this.model(request.model);
    const language = request.language || model.entry.default_source_lang;
    const options: LiveTranscriptionOptions = {
      pool: this.catalog.pool,
      model,
      chunker: this.chunker,
      sampleRate: request.sampleRate,
      segmentation: request.segmentation,
      language: language && language !== 'auto' ? language : undefined,
      prompt: request.prompt,
      task: request.task,
      timestamps: request.timestamps,
      partialIntervalMs: request.partialIntervalMs,
      maxQueuedSeconds: request.maxQueuedSeconds,
      maxPendingEvents: request.maxPendingEvents,
      signal: request.signal,
    };
    return openLiveTranscription(options);
  }

  /** Opens a session on a backend the caller already leased (several passes under one lease, e.g. diarization). */
  openOnBackend(backend: AsrBackend, request: Omit<LiveSessionRequest, 'model'>): LiveTranscription {
    return openLiveTranscription({ ...request, backend, chunker: this.chunker });
  }
}
