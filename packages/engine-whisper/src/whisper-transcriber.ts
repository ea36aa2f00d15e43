/**
 * A whole transcription: log-mel features, language detection, then 30 s windows decoded
 * one after another with Whisper's seek rule (a window that ends inside a segment is
 * decoded again from that segment's start), temperature fallback, segments with their
 * confidence fields, and word timings when the export has cross-attention outputs.
 */
import { deflateSync } from 'node:zlib';
import type * as OnnxRuntime from 'onnxruntime-node';
import { seededRandom, SpeechError, type TranscribeRequest, type TranscriptionResult, type TranscriptionSegment, type TranscriptionWord } from '@talkies/core';
import type { WhisperOptions } from './engine-options.js';
import { WINDOW_FRAMES, whisperFeatures, type LogMelSpectrogram } from './log-mel-spectrogram.js';
import type { FilterSettings } from './logit-filters.js';
import { BatchScheduler, directOperations, type WindowOperations } from './batch-scheduler.js';
import { abortedError, type WindowDecodeResult } from './window-decoder.js';
import type { LoadedModelFiles } from './whisper-model-config.js';
import { toWhisperLanguageCode } from './whisper-languages.js';
import type { WhisperSessions } from './whisper-sessions.js';
import { isPunctuationOnly, tokensToWords, tokenTimes, type TimedToken } from './word-timestamps.js';

const SAMPLE_RATE = 16000;
const SECONDS_PER_FRAME = 0.01;
const SECONDS_PER_TIMESTAMP = 0.02;
/** Attention scores of one encoder layer a batched encoder run may hold (see {@link WhisperTranscriber.encoderBatchSize}). */
const ENCODER_BATCH_SCORES = 64 * 2 ** 20;

export interface TranscriberSettings {
  options: WhisperOptions;
  /** Word timings are computed when asked for and the export allows it. */
  wordTimestamps: boolean;
}

/** openai/whisper's compression ratio: UTF-8 bytes over zlib-compressed bytes. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

/** Linear resampling to 16 kHz (the server always sends 16 kHz; this is for direct callers). */
export function resampleTo16k(audio: Float32Array, sampleRate: number): Float32Array {
  if (sampleRate === SAMPLE_RATE) return audio;
  const length = Math.floor((audio.length * SAMPLE_RATE) / sampleRate);
  const out = new Float32Array(length);
  const ratio = sampleRate / SAMPLE_RATE;
  for (let index = 0; index < length; index++) {
    const position = index * ratio;
    const left = Math.floor(position);
    const fraction = position - left;
    out[index] = (audio[left] ?? 0) * (1 - fraction) + (audio[Math.min(left + 1, audio.length - 1)] ?? 0) * fraction;
  }
  return out;
}

export class WhisperTranscriber {
  readonly #sessions: WhisperSessions;
  readonly #files: LoadedModelFiles;
  readonly #spectrogram: LogMelSpectrogram;
  readonly #settings: TranscriberSettings;
  readonly #model: string;

  constructor(sessions: WhisperSessions, files: LoadedModelFiles, spectrogram: LogMelSpectrogram, settings: TranscriberSettings, model: string) {
    this.#sessions = sessions;
    this.#files = files;
    this.#spectrogram = spectrogram;
    this.#settings = settings;
    this.#model = model;
  }

  /** The language code a request asks for, checked against the model. */
  #requestedLanguage(language: string | undefined, warnings: string[]): string | undefined {
    if (language === undefined || language.trim() === '' || language === 'auto') return undefined;
    const { config } = this.#files;
    const code = toWhisperLanguageCode(language);
    if (!config.multilingual) {
      if (code !== 'en') warnings.push(`model '${this.#model}' is English-only; language '${language}' is ignored`);
      return 'en';
    }
    if (code === undefined || !config.languages.has(code)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `language '${language}' is not one model '${this.#model}' knows; use an ISO 639-1 code such as ${[...config.languages.keys()].slice(0, 12).join(', ')}, … or leave it out to detect it`,
        { param: 'language', executor: 'whisper', model: this.#model },
      );
    }
    return code;
  }

  /** Window `[seek, seek + 3000)` of the features, zero-padded past the end (as transformers.js pads). */
  #window(features: Float32Array, totalFrames: number, seek: number): Float32Array {
    const melBins = this.#files.config.melBins;
    const window = new Float32Array(melBins * WINDOW_FRAMES);
    const available = Math.min(WINDOW_FRAMES, totalFrames - seek);
    for (let bin = 0; bin < melBins; bin++) {
      window.set(features.subarray(bin * totalFrames + seek, bin * totalFrames + seek + available), bin * WINDOW_FRAMES);
    }
    return window;
  }

  /** openai/whisper's language detection: the most likely language token after `<|startoftranscript|>`. */
  async detectLanguage(encoderHidden: OnnxRuntime.Tensor, operations: WindowOperations = this.#direct): Promise<{ code: string; probability: number }> {
    const { config } = this.#files;
    const row = await operations.detect(encoderHidden);
    let best: string | undefined;
    let bestLogit = -Infinity;
    let maximum = -Infinity;
    for (const id of config.languages.values()) maximum = Math.max(maximum, row[id]!);
    let total = 0;
    for (const [code, id] of config.languages) {
      total += Math.exp(row[id]! - maximum);
      if (row[id]! > bestLogit) {
        bestLogit = row[id]!;
        best = code;
      }
    }
    return { code: best ?? 'en', probability: Math.exp(bestLogit - maximum) / total };
  }

  #filters(timestamps: boolean): FilterSettings {
    const { config } = this.#files;
    const suppress = new Set(config.suppressTokens);
    // openai/whisper also keeps the task and special tokens out of the text.
    for (const id of [config.startOfTranscript, config.startOfPrevious, config.startOfLm, config.translate, config.transcribe, config.noSpeech]) {
      if (id !== undefined) suppress.add(id);
    }
    return {
      endOfText: config.endOfText,
      noTimestamps: config.noTimestamps,
      timestampBegin: config.timestampBegin,
      suppress: Int32Array.from(suppress),
      suppressAtBegin: Int32Array.from(config.beginSuppressTokens),
      timestamps,
      maxInitialTimestampIndex: Math.round(this.#settings.options.maxInitialTimestamp / SECONDS_PER_TIMESTAMP),
    };
  }

  /** One piece, its model calls made one by one. */
  transcribe(request: TranscribeRequest): Promise<TranscriptionResult> {
    return this.#transcribe(request, this.#direct);
  }

  /**
   * Several pieces at once: each runs the loop of {@link transcribe}, and their model calls
   * are batched by a {@link BatchScheduler} (at most `maxBatch` windows per decoder call,
   * and as many per encoder run as {@link encoderBatchSize} allows). Result `i` is that of
   * `transcribe(requests[i])`; each settles as soon as its piece is done.
   */
  transcribeBatch(requests: readonly TranscribeRequest[], maxBatch: number): Array<Promise<TranscriptionResult>> {
    const { config } = this.#files;
    const scheduler = new BatchScheduler(this.#sessions, config.melBins, WINDOW_FRAMES, config.startOfTranscript, maxBatch, Math.min(maxBatch, this.encoderBatchSize));
    return scheduler.runAll(requests.map((request) => (operations: WindowOperations) => this.#transcribe(request, operations)));
  }

  /**
   * Windows per encoder run. The encoder is compute-bound, and a batch only makes its
   * attention scores (heads × 1500² floats per layer and window) spill further out of the
   * caches: on base (2 cores) one run over 2 windows took 1.3 × two single runs, and each
   * extra window kept 270 MB more of onnxruntime's arena. Windows are therefore batched only
   * while one layer's scores stay within {@link ENCODER_BATCH_SCORES}: small models (the
   * generated test models) batch, base and larger run one window at a time.
   */
  get encoderBatchSize(): number {
    const { config } = this.#files;
    const scores = config.encoderHeads * config.maxSourcePositions ** 2 * 4;
    return Math.max(1, Math.floor(ENCODER_BATCH_SCORES / scores));
  }

  get #direct(): WindowOperations {
    const { config } = this.#files;
    return (this.#directOperations ??= directOperations(this.#sessions, config.melBins, WINDOW_FRAMES, config.startOfTranscript));
  }

  #directOperations: WindowOperations | undefined;

  async #transcribe(request: TranscribeRequest, operations: WindowOperations): Promise<TranscriptionResult> {
    if (request.signal.aborted) throw abortedError();
    const { config, tokenizer } = this.#files;
    const { options } = this.#settings;
    const warnings: string[] = [];
    if (request.task === 'translate' && (!config.multilingual || config.translate === undefined)) {
      throw new SpeechError('UNSUPPORTED_CAPABILITY', `model '${this.#model}' is English-only and cannot translate; use a multilingual Whisper model`, {
        param: 'model', executor: 'whisper', model: this.#model,
      });
    }
    const audio = resampleTo16k(request.audio, request.sampleRate);
    const duration = audio.length / SAMPLE_RATE;
    let language = this.#requestedLanguage(request.language, warnings);
    const { features, frames: featureFrames, contentFrames } = whisperFeatures(this.#spectrogram, audio);
    const timestamps = request.timestamps;
    const filters = this.#filters(timestamps);
    const wantWords = timestamps && this.#settings.wordTimestamps && this.#sessions.hasCrossAttentions && config.alignmentHeads !== undefined;
    const contextLimit = Math.floor(config.maxLength / 2) - 1;
    const promptContext = request.prompt?.trim() ? tokenizer.encode(` ${request.prompt.trim()}`) : [];
    const previousTokens: number[] = [];
    const random = seededRandom(options.seed);
    const baseTemperature = request.temperature ?? 0;
    const temperatures = options.temperatureFallback
      ? [baseTemperature, ...Array.from({ length: 5 }, (_, index) => Math.round((baseTemperature + 0.2 * (index + 1)) * 10) / 10).filter((t) => t <= 1)]
      : [baseTemperature];

    const segments: TranscriptionSegment[] = [];
    const words: TranscriptionWord[] = [];
    let seek = 0;
    while (seek < contentFrames) {
      if (request.signal.aborted) throw abortedError();
      const windowFrames = Math.min(WINDOW_FRAMES, contentFrames - seek);
      const windowFeatures = this.#window(features, featureFrames, seek);
      const encoderHidden = await operations.encode(windowFeatures);
      if (language === undefined) language = config.multilingual ? (await this.detectLanguage(encoderHidden, operations)).code : 'en';

      const initial = [config.startOfTranscript];
      if (config.multilingual) {
        initial.push(config.languages.get(language)!);
        initial.push((request.task === 'translate' ? config.translate : config.transcribe)!);
      }
      if (!timestamps) initial.push(config.noTimestamps);
      const context = [...promptContext, ...previousTokens].slice(-contextLimit);
      const prompt = context.length > 0 && config.startOfPrevious !== undefined ? [config.startOfPrevious, ...context, ...initial] : initial;
      const startOfTranscriptIndex = prompt.length - initial.length;

      let result: WindowDecodeResult | undefined;
      let ratio = 0;
      for (const temperature of temperatures) {
        result = await operations.decode(encoderHidden, {
          prompt,
          startOfTranscriptIndex,
          noSpeech: config.noSpeech,
          filters,
          maxLength: config.maxLength,
          temperature,
          beamSize: options.beamSize,
          random,
          alignmentHeads: wantWords && options.beamSize === 1 ? config.alignmentHeads : undefined,
          signal: request.signal,
        });
        ratio = compressionRatio(tokenizer.decode(result.tokens.filter((token) => token < config.endOfText)));
        const tooRepetitive = ratio > options.compressionRatioThreshold;
        const tooUnlikely = result.avgLogprob < options.logprobThreshold;
        const silent = result.noSpeechProb > options.noSpeechThreshold && tooUnlikely;
        if (!options.temperatureFallback || silent || (!tooRepetitive && !tooUnlikely)) break;
      }
      const decoded = result!;
      if (options.temperatureFallback && decoded.noSpeechProb > options.noSpeechThreshold && decoded.avgLogprob < options.logprobThreshold) {
        // openai/whisper: a silent window adds no segment.
        seek += windowFrames;
        continue;
      }

      const common = {
        seek,
        temperature: decoded.temperature,
        avg_logprob: decoded.avgLogprob,
        compression_ratio: ratio,
        no_speech_prob: decoded.noSpeechProb,
      };
      const timeOffset = seek * SECONDS_PER_FRAME;
      const windowEnd = Math.min((seek + windowFrames) * SECONDS_PER_FRAME, Math.max(duration, timeOffset));
      const tokens = decoded.tokens;
      const isTimestamp = (token: number) => token >= config.timestampBegin;
      // Timestamps past the padded input (30 s for short audio) are capped there, as
      // transformers.js caps them at <|30.00|>.
      const timeOf = (token: number) => Math.min(Math.round((seek / 2 + token - config.timestampBegin) * 2) / 100, featureFrames * SECONDS_PER_FRAME);
      let advance = windowFrames;
      let keep = tokens.length;
      const newSegments: Array<{ tokens: number[]; start: number; end: number; first: number }> = [];
      if (!timestamps) {
        newSegments.push({ tokens, start: timeOffset, end: windowEnd, first: 0 });
      } else {
        const boundaries: number[] = [];
        for (let index = 0; index + 1 < tokens.length; index++) if (isTimestamp(tokens[index]!) && isTimestamp(tokens[index + 1]!)) boundaries.push(index + 1);
        const singleTimestampEnding = tokens.length >= 2 && isTimestamp(tokens.at(-1)!) && !isTimestamp(tokens.at(-2)!);
        if (boundaries.length > 0) {
          const slices = singleTimestampEnding ? [...boundaries, tokens.length] : boundaries;
          let last = 0;
          for (const current of slices) {
            const slice = tokens.slice(last, current);
            newSegments.push({ tokens: slice, start: timeOf(slice[0]!), end: timeOf(slice.at(-1)!), first: last });
            last = current;
          }
          if (!singleTimestampEnding) {
            advance = (tokens[last - 1]! - config.timestampBegin) * 2;
            keep = last;
          }
        } else if (tokens.length > 0) {
          const stamps = tokens.filter(isTimestamp);
          const end = stamps.length > 0 && stamps.at(-1)! !== config.timestampBegin ? timeOf(stamps.at(-1)!) : windowEnd;
          newSegments.push({ tokens, start: stamps.length > 0 && isTimestamp(tokens[0]!) ? timeOf(tokens[0]!) : timeOffset, end, first: 0 });
        }
      }

      let times: number[] | undefined;
      if (wantWords && decoded.attention) {
        const stepsRows = decoded.attention;
        times = tokenTimes(stepsRows, prompt.length, Math.floor((Math.min(WINDOW_FRAMES, featureFrames - seek)) / 2), config.medianFilterWidth).map((time) => time + timeOffset);
      }

      for (const segment of newSegments) {
        const textTokens = segment.tokens.filter((token) => token < config.endOfText);
        const text = tokenizer.decode(textTokens);
        const id = segments.length;
        segments.push({ id, ...common, start: segment.start, end: Math.max(segment.end, segment.start), text, tokens: segment.tokens });
        if (times) words.push(...this.#words(segment, times, segments[id]!, language));
      }
      previousTokens.push(...tokens.slice(0, keep));
      if (!options.conditionOnPreviousText || decoded.temperature > 0.5) previousTokens.length = 0;
      seek += advance;
      if (advance <= 0) seek += windowFrames; // never loop on a zero-length advance
    }

    const text = segments.map((segment) => segment.text).join('');
    const result: TranscriptionResult = { text, language, duration, segments, words };
    if (warnings.length > 0) result.warnings = warnings;
    return result;
  }

  /** Timed words of one segment: token i spans [t_i, t_{i+1}], punctuation gets no duration. */
  #words(segment: { tokens: number[]; first: number }, times: readonly number[], rendered: TranscriptionSegment, language: string | undefined): TranscriptionWord[] {
    const { config, tokenizer } = this.#files;
    const timed: TimedToken[] = [];
    for (let index = 0; index < segment.tokens.length; index++) {
      const id = segment.tokens[index]!;
      const position = segment.first + index;
      if (id >= config.endOfText || position >= times.length) continue;
      const start = round2(times[position]!);
      let end = position + 1 < times.length ? round2(times[position + 1]!) : round2(times[position]!);
      const text = tokenizer.decode([id]);
      if (isPunctuationOnly(text)) end = round2(Math.min(start + SECONDS_PER_TIMESTAMP, end));
      timed.push({ id, text, start, end });
    }
    if (timed.length === 0) return [];
    return tokensToWords(timed, (ids) => tokenizer.decode(ids), language).map((word) => ({
      word: word.word.trim(),
      start: word.start,
      end: word.end > rendered.end && rendered.end >= word.start ? rendered.end : word.end,
    }));
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
