import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { SpeechError } from '@talkies/core';
import { missingToolError } from './check-ffmpeg.js';
import { GrowingBuffer } from './growing-buffer.js';
import { launchProcess } from './process-launcher.js';

/** A file path, bytes in memory, or a readable stream. */
export type AudioInput = string | Uint8Array | NodeJS.ReadableStream;

const STDERR_TAIL_CHARACTERS = 2000;

export interface ProcessSpecification {
  /** The program's name, for messages (`ffmpeg`, `espeak-ng`, …). */
  tool: string;
  command: string;
  args: readonly string[];
  /** Piped into the process's stdin; undefined leaves stdin closed. */
  stdin?: Uint8Array | NodeJS.ReadableStream;
  signal?: AbortSignal;
  /** The error for a non-zero exit, given the trimmed tail of stderr. */
  failure(stderrTail: string): SpeechError;
  /** The error when `stdin` turned out to hold no bytes; undefined lets the process decide. */
  empty?(): SpeechError;
  /** The error when the program is not installed (default: how to install ffmpeg). */
  missing?(cause: Error): SpeechError;
  /** The error when `signal` aborted (default: ABORTED naming the tool). */
  aborted?(): SpeechError;
  /** Sees every piece of stderr text as it arrives (the tail alone may lose early lines). */
  onStderr?(text: string): void;
}

export function abortedError(tool: string): SpeechError {
  return new SpeechError('ABORTED', `${tool} was stopped because the request was aborted`);
}

export function emptyUploadError(): SpeechError {
  return new SpeechError('INVALID_REQUEST', 'upload is empty; send an audio file');
}

/**
 * Resolves an {@link AudioInput} to ffmpeg's `-i` argument and what to pipe into stdin.
 * Paths go through the `file:` protocol so that a name such as `http://…` or `concat:…`
 * is never read as another protocol. Empty inputs fail here, before spawning anything.
 */
export async function resolveInput(input: AudioInput): Promise<{ argument: string; stdin?: Uint8Array | NodeJS.ReadableStream }> {
  if (typeof input === 'string') {
    let stats: Stats;
    try {
      stats = await stat(input);
    } catch (error) {
      throw new SpeechError('NOT_FOUND', `audio file '${input}' cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path`, {
        cause: error,
      });
    }
    if (stats.isFile() && stats.size === 0) throw emptyUploadError();
    return { argument: `file:${input}` };
  }
  if (input instanceof Uint8Array && input.byteLength === 0) throw emptyUploadError();
  return { argument: 'pipe:0', stdin: input };
}

interface FeedState {
  bytes: number;
  /** The input reached its end (and stdin was closed after it). */
  ended: boolean;
  /** An error of the input stream itself (not of the process's stdin). */
  inputError?: unknown;
}

function isReadableLike(value: unknown): value is { destroy(): void; destroyed?: boolean } {
  return typeof (value as { destroy?: unknown }).destroy === 'function';
}

/**
 * Pipes the input into stdin. The process may exit before it has read everything (it stops
 * at garbage, or ffprobe has seen enough): the EPIPE that follows is expected, and the exit
 * code tells the story. Hand-written rather than stream.pipeline so that the caller can
 * stop waiting on a source that never ends once the process is gone.
 */
function feed(stdin: Writable, input: Uint8Array | NodeJS.ReadableStream, onInputError: () => void): FeedState {
  const state: FeedState = { bytes: 0, ended: false };
  stdin.on('error', () => {});
  if (input instanceof Uint8Array) {
    state.bytes = input.byteLength;
    state.ended = true;
    stdin.end(input);
    return state;
  }
  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        resolve();
      };
      stdin.on('drain', done);
      stdin.on('close', done);
    });
  void (async () => {
    try {
      for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
        if (stdin.destroyed) return;
        state.bytes += chunk.length;
        if (!stdin.write(chunk)) await writable();
      }
      state.ended = true;
      stdin.end();
    } catch (error) {
      if (!stdin.destroyed) {
        state.inputError = error;
        onInputError();
      }
    }
  })();
  return state;
}

/**
 * Runs ffmpeg or ffprobe, yielding its stdout as it arrives, then throws the right
 * SpeechError if it failed. Aborting `signal`, or leaving the loop early, kills it.
 */
export async function* runProcess(specification: ProcessSpecification): AsyncGenerator<Buffer, void, undefined> {
  const { signal, tool } = specification;
  const stopped = () => specification.aborted?.() ?? abortedError(tool);
  if (signal?.aborted) throw stopped();
  const child = launchProcess(specification.command, specification.args, {
    stdio: [specification.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const stdout = child.stdout!;
  const stderr = child.stderr!;
  let stderrTail = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => {
    stderrTail = (stderrTail + text).slice(-STDERR_TAIL_CHARACTERS);
    specification.onStderr?.(text);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      resolve(null);
    });
    child.once('exit', (code) => resolve(code));
  });
  const stderrClosed = new Promise<void>((resolve) => stderr.once('close', resolve));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  signal?.addEventListener('abort', kill, { once: true });
  const input = specification.stdin;
  const fed: FeedState = input === undefined ? { bytes: -1, ended: true } : feed(child.stdin!, input, kill);
  try {
    try {
      for await (const chunk of stdout) yield chunk as Buffer;
    } catch (error) {
      // stdout of a process that could not start is destroyed with the spawn error.
      if (!spawnError) throw error;
    }
    const code = await exited;
    await Promise.race([stderrClosed, new Promise((resolve) => setTimeout(resolve, 100))]);
    if (signal?.aborted) throw stopped();
    if (spawnError) {
      const errorCode = (spawnError as NodeJS.ErrnoException).code;
      if (errorCode === 'ENOENT' || errorCode === 'EACCES') {
        throw specification.missing?.(spawnError) ?? missingToolError(tool as 'ffmpeg' | 'ffprobe', specification.command, spawnError);
      }
      throw new SpeechError('INTERNAL', `${tool} could not be started: ${spawnError.message}`, { cause: spawnError });
    }
    if (fed.inputError !== undefined) {
      if (SpeechError.is(fed.inputError)) throw fed.inputError;
      const message = (fed.inputError as Error)?.message ?? String(fed.inputError);
      throw new SpeechError('AUDIO_DECODE_FAILED', `the audio input could not be read: ${message}; send the upload again`, {
        cause: fed.inputError,
      });
    }
    if (fed.ended && fed.bytes === 0 && specification.empty) throw specification.empty();
    if (code !== 0) throw specification.failure(stderrTail.trim() || `exited with code ${code}`);
  } finally {
    signal?.removeEventListener('abort', kill);
    kill();
    // Waiting for the exit makes leaving a loop early deterministic: no process outlives it.
    await exited;
    // The process is gone: a source stream it did not read to the end is of no more use.
    if (input !== undefined && !fed.ended && isReadableLike(input)) input.destroy();
  }
}

/** Runs a process to the end and returns all of its stdout. */
export async function collectProcess(specification: ProcessSpecification, initialCapacity?: number): Promise<Buffer> {
  const output = new GrowingBuffer(initialCapacity);
  for await (const chunk of runProcess(specification)) output.append(chunk);
  return output.toBuffer();
}
