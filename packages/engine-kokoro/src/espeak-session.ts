/**
 * A long-lived `espeak-ng -q --ipa` process per language, fed one line per text.
 *
 * Starting a process for every piece of text is slow: about 15 ms each before espeak-ng
 * has read its voice data, and, spawned from a process that holds a model, a block of the
 * event loop while it forks (docs/benchmarks.md; @talkies/audio's launcher avoids the
 * block, not the start-up). Given no text argument, espeak-ng reads stdin line by line and
 * speaks each line on its own, flushing after each, exactly as if the line had been its
 * text argument. So one process per language serves every request: each text is written
 * as a line followed by a sentinel line, and the output up to the sentinel's phonemes
 * belongs to that text.
 *
 * Lines longer than espeak-ng's line buffer, or texts with a line break in them (which
 * line mode would cut in two), go to a one-off process instead.
 */
import type { Readable, Writable } from 'node:stream';
import { launchProcess, type LaunchedProcess } from '@talkies/audio';
import { SpeechError } from '@talkies/core';
import { espeakIpa, espeakMissing, espeakPath } from './espeak-phonemes.js';

/** A text whose phonemes no real text will have, to mark where an answer ends. */
const SENTINEL = 'Zqxv Kwyj';
/** espeak-ng reads lines with fgets into a 1000-byte buffer. */
const MAX_LINE_BYTES = 900;
/** An answer that takes longer than this means the process is stuck: it is restarted. */
const ANSWER_TIMEOUT_MS = 15_000;

interface Pending {
  lines: string[];
  resolve(lines: string[]): void;
  reject(error: unknown): void;
}

function aborted(): SpeechError {
  return new SpeechError('ABORTED', 'phonemisation was stopped because the request was aborted');
}

class EspeakProcess {
  readonly #child: LaunchedProcess;
  readonly #stdin: Writable;
  readonly #queue: Pending[] = [];
  #sentinel: string | undefined;
  #buffered = '';
  #failure: SpeechError | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly ready: Promise<void>;

  constructor(readonly voice: string) {
    this.#child = launchProcess(espeakPath(), ['-q', '--ipa', '-v', voice], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.#stdin = this.#child.stdin!;
    const stdout: Readable = this.#child.stdout!;
    this.#stdin.on('error', () => {});
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => this.#onData(chunk));
    this.#child.once('error', (error: Error) => this.#fail(espeakMissing(error)));
    this.#child.once('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      this.#fail(new SpeechError('INFERENCE_FAILED', `espeak-ng (voice ${voice}) exited (${signal ?? code})`)),
    );
    // The first answer is the sentinel's own: it defines the marker line.
    this.ready = new Promise<void>((resolve, reject) => {
      this.#queue.push({
        lines: [],
        resolve: (lines) => {
          this.#sentinel = lines.find((line) => line.trim() !== '');
          if (this.#sentinel === undefined) reject(new SpeechError('INFERENCE_FAILED', `espeak-ng (voice ${voice}) printed no phonemes for its marker line`));
          else resolve();
        },
        reject,
      });
    });
    this.ready.catch(() => {});
    this.#stdin.write(`${SENTINEL}\n`);
    this.#arm();
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#queue.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#fail(new SpeechError('INFERENCE_FAILED', `espeak-ng (voice ${this.voice}) stopped answering`));
      this.#child.kill('SIGKILL');
    }, ANSWER_TIMEOUT_MS);
    this.#timer.unref();
  }

  #onData(chunk: string): void {
    this.#buffered += chunk;
    let newline: number;
    while ((newline = this.#buffered.indexOf('\n')) >= 0) {
      const line = this.#buffered.slice(0, newline);
      this.#buffered = this.#buffered.slice(newline + 1);
      const pending = this.#queue[0];
      if (!pending) continue;
      if (this.#sentinel === undefined) {
        // Starting up: the first non-empty line is the marker.
        if (line.trim() === '') continue;
        this.#queue.shift();
        pending.resolve([line]);
      } else if (line === this.#sentinel) {
        this.#queue.shift();
        pending.resolve(pending.lines.filter((text) => text.length > 0));
      } else {
        pending.lines.push(line);
      }
      this.#arm();
    }
  }

  #fail(error: SpeechError): void {
    if (this.#failure) return;
    this.#failure = error;
    clearTimeout(this.#timer);
    for (const pending of this.#queue.splice(0)) pending.reject(error);
  }

  /** The non-empty output lines for one text (which must be a single short line). */
  phonemize(text: string): Promise<string[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#queue.push({ lines: [], resolve, reject });
      this.#stdin.write(`${text}\n${SENTINEL}\n`);
      if (this.#queue.length === 1) this.#arm();
    });
  }

  close(): void {
    this.#fail(new SpeechError('ABORTED', 'the model was unloaded'));
    this.#stdin.end();
    this.#child.kill();
  }
}

/** espeak-ng processes by voice, started on first use and restarted if one dies. */
export class EspeakSessions {
  readonly #processes = new Map<string, EspeakProcess>();
  #closed = false;

  #process(voice: string): EspeakProcess {
    let process = this.#processes.get(voice);
    if (!process || process.failed) {
      process = new EspeakProcess(voice);
      this.#processes.set(voice, process);
    }
    return process;
  }

  /** Starts the process for `voice` now (at load), so the first request does not wait for it. */
  async warm(voice: string): Promise<void> {
    await this.#process(voice).ready;
  }

  /** Same contract as {@link espeakIpa}: the non-empty IPA lines for `text`. */
  phonemize = async (text: string, voice: string, signal?: AbortSignal): Promise<string[]> => {
    if (signal?.aborted) throw aborted();
    if (this.#closed || text.includes('\n') || text.includes('\r') || Buffer.byteLength(text) > MAX_LINE_BYTES) {
      return espeakIpa(text, voice, signal);
    }
    const process = this.#process(voice);
    await process.ready;
    const answer = process.phonemize(text);
    if (!signal) return answer;
    // The line is in the pipe already; an aborted request just stops waiting for it.
    answer.catch(() => {});
    return new Promise<string[]>((resolve, reject) => {
      const onAbort = () => reject(aborted());
      signal.addEventListener('abort', onAbort, { once: true });
      answer.then(
        (lines) => {
          signal.removeEventListener('abort', onAbort);
          resolve(lines);
        },
        (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  };

  close(): void {
    this.#closed = true;
    for (const process of this.#processes.values()) process.close();
    this.#processes.clear();
  }
}
