/**
 * The heavy half of the engine, imported by {@link WhisperBackend.load} only: onnxruntime
 * sessions, tokenizer, front end and transcriber for one model directory.
 */
import { join } from 'node:path';
import type { WhisperOptions } from './engine-options.js';
import { LogMelSpectrogram } from './log-mel-spectrogram.js';
import { filterBankFromRows, melFilterBank } from './mel-filter-bank.js';
import { decoderFile, encoderFile } from './model-files.js';
import { loadModelFiles, type LoadedModelFiles } from './whisper-model-config.js';
import { WhisperSessions } from './whisper-sessions.js';
import { WhisperTranscriber } from './whisper-transcriber.js';

export interface LoadedWhisper {
  files: LoadedModelFiles;
  sessions: WhisperSessions;
  transcriber: WhisperTranscriber;
  /** What the loaded files allow. */
  wordTimestamps: boolean;
  translation: boolean;
  languages: string[];
  release(): Promise<void>;
}

/** Batch size when the engine option leaves it open and the model is small. */
const DEFAULT_MAX_BATCH = 8;
/** A full batch's cross-attention keys and values stay under this. */
const BATCH_CACHE_BUDGET = 1 << 30;

/** What the loaded files allow, as plain data (it crosses from the model's worker thread). */
export interface LoadedFacts {
  wordTimestamps: boolean;
  translation: boolean;
  languages: string[];
  /** Pieces per batch: the option, or up to {@link DEFAULT_MAX_BATCH}, fewer when each one's cross-attention cache is large; 1 for a fixed-batch export. */
  maxBatchSize: number;
}

export function loadedFacts(loaded: LoadedWhisper, options: WhisperOptions): LoadedFacts {
  const perSequence = Math.max(1, loaded.sessions.crossCacheBytes(loaded.files.config.maxSourcePositions));
  return {
    wordTimestamps: loaded.wordTimestamps,
    translation: loaded.translation,
    languages: loaded.languages,
    // An export with a fixed batch axis of 1 still answers transcribeBatch, one window per call.
    maxBatchSize: !loaded.sessions.dynamicBatch ? 1 : (options.maxBatchSize ?? Math.max(1, Math.min(DEFAULT_MAX_BATCH, Math.floor(BATCH_CACHE_BUDGET / perSequence)))),
  };
}

export async function loadWhisper(modelDir: string, modelId: string, options: WhisperOptions): Promise<LoadedWhisper> {
  const files = await loadModelFiles(modelDir);
  // Imported here, not at the top: the engine's entry point must stay light.
  const ort = await import('onnxruntime-node');
  const sessions = await WhisperSessions.create(ort, join(modelDir, encoderFile(options.precision)), join(modelDir, decoderFile(options.precision)), {
    threads: options.threads,
    executionProvider: options.executionProvider,
  });
  const { config } = files;
  const filterBank = files.melFilters ? filterBankFromRows(files.melFilters) : melFilterBank(config.melBins, 400);
  const wordTimestamps = (options.wordTimestamps ?? true) && sessions.hasCrossAttentions && config.alignmentHeads !== undefined;
  const transcriber = new WhisperTranscriber(sessions, files, new LogMelSpectrogram(filterBank), { options, wordTimestamps }, modelId);
  return {
    files,
    sessions,
    transcriber,
    wordTimestamps,
    translation: (options.translation ?? true) && config.multilingual && config.translate !== undefined,
    languages: config.multilingual ? [...config.languages.keys()] : ['en'],
    release: () => sessions.release(),
  };
}
