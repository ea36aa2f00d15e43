import type { Readable, Writable } from 'node:stream';
import { SpeechError } from '@talkies/core';
import type { AudioFormat } from './audio-formats.js';
import { ffmpegPath, missingToolError } from './check-ffmpeg.js';
import { checkPcmSampleRate, codecArguments, encodeAudio, float32Bytes, type PcmAudio } from './encode-audio.js';
import { floatToInt16Into } from './float-to-int16.js';
import { launchProcess, type LaunchedProcess } from './process-launcher.js';
import { wavHeader } from './wav-header.js';

type CodecFormat = Exclude<AudioFormat, 'wav' | 'pcm'>;

const STDERR_TAIL_CHARACTERS = 2000;

/**
 * The 44-byte header of a WAV whose length is not known yet: RIFF and data sizes are
 * 0xFFFFFFFF, which players and ffmpeg read as "until the end of the stream".
 */
export function streamingWavHeader(sampleRate: number): Buffer {
  return wavHeader(0xffffffff, sampleRate);
}

export interface StreamEncodeOptions {
  signal?: AbortSignal;
  /**
   * Idle ffmpeg processes started ahead of need. A stream takes one (when its format and
   * sample rate match) instead of waiting for ffmpeg to start, and a new one is started
   * for the next stream once this one has ended.
   */
  spares?: SpareEncoders;
  /**
   * The sample rate the blocks will most likely have (the last request's). ffmpeg then
   * starts while the first block is still being synthesised instead of after it; a wrong
   * guess costs a restart, nothing else.
   */
  expectedSampleRate?: number;
  /** Called once with the sample rate of the first block. */
  onSampleRate?(sampleRate: number): void;
}

function int16Bytes(block: PcmAudio): Buffer {
  // Every byte is written below: no zero-filling first.
  const bytes = Buffer.allocUnsafe(block.samples.length * 2);
  floatToInt16Into(block.samples, new Int16Array(bytes.buffer, bytes.byteOffset, block.samples.length));
  return bytes;
}

function rateChanged(expected: number, actual: number): SpeechError {
  return new SpeechError('AUDIO_ENCODE_FAILED', `the engine changed its sample rate mid-stream (${expected} Hz, then ${actual} Hz); a stream has one rate`);
}

function aborted(): SpeechError {
  return new SpeechError('ABORTED', 'encoding was stopped because the request was aborted');
}

/** One ffmpeg process that encodes raw float input arriving on stdin for the whole stream. */
class EncoderProcess {
  readonly #child: LaunchedProcess;
  readonly #stdin: Writable;
  readonly #stdout: Readable;
  readonly #stderr: Readable;
  readonly #exited: Promise<number | null>;
  #stderrTail = '';
  #spawnError: Error | undefined;
  #killed = false;
  /** The process has ended (a spare that failed, or one that was stopped). */
  dead = false;

  constructor(
    readonly format: CodecFormat,
    readonly sampleRate: number,
  ) {
    checkPcmSampleRate(sampleRate, `encode ${format}`);
    // Through the process launcher: a spawn() from this (large) process would block the
    // event loop for as long as forking it takes.
    this.#child = launchProcess(
      ffmpegPath(),
      [
        '-hide_banner', '-nostdin', '-loglevel', 'error',
        // Raw input needs no probing: without these ffmpeg reads seconds of audio ahead
        // before it encodes anything, and the stream would stall at its start.
        '-probesize', '32', '-analyzeduration', '0',
        '-f', 'f32le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0',
        ...codecArguments(format, sampleRate),
        // Hand each packet over as it is made rather than when ffmpeg's buffer fills.
        '-flush_packets', '1',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#stdin = this.#child.stdin!;
    this.#stdout = this.#child.stdout!;
    this.#stderr = this.#child.stderr!;
    // Writes racing an exit land on a closed pipe; the exit code tells what happened.
    this.#stdin.on('error', () => {});
    this.#stderr.setEncoding('utf8');
    this.#stderr.on('data', (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_CHARACTERS);
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (error: Error) => {
        this.#spawnError = error;
        this.dead = true;
        resolve(null);
      });
      this.#child.once('exit', (code: number | null) => {
        this.dead = true;
        resolve(code);
      });
    });
  }

  /**
   * Whether the process may keep Node running: an idle spare should not. Processes spawned
   * directly (TALKIES_DIRECT_SPAWN=1) can be let go of; through the launcher a spare keeps
   * Node running until it is taken, closed, or stopped after its idle time.
   */
  keepAlive(keep: boolean): void {
    const handles = [this.#child, this.#stdin, this.#stdout, this.#stderr] as unknown as Array<{ ref?(): void; unref?(): void }>;
    for (const handle of handles) {
      if (keep) handle.ref?.();
      else handle.unref?.();
    }
  }

  /** Writes raw float bytes; resolves when the pipe can take more (or the process is gone). */
  async write(bytes: Uint8Array): Promise<void> {
    const stdin = this.#stdin;
    if (stdin.destroyed || this.dead) return;
    if (stdin.write(bytes)) return;
    // Whichever comes first; a write error (EPIPE after a kill) just ends the wait.
    await new Promise<void>((resolve) => {
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        stdin.off('error', done);
        resolve();
      };
      stdin.once('drain', done);
      stdin.once('close', done);
      stdin.once('error', done);
      void this.#exited.then(done);
    });
  }

  end(): void {
    this.#stdin.end();
  }

  kill(): void {
    this.#killed = true;
    // No pid check: the launcher kills a program that has not started yet once it starts.
    if (!this.dead && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }

  /** The encoded bytes as ffmpeg writes them, then the right error if it failed. */
  async *output(signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
    try {
      try {
        for await (const chunk of this.#stdout) yield chunk as Buffer;
      } catch (error) {
        // stdout of a process that could not start is destroyed with the spawn error.
        if (!this.#spawnError) throw error;
      }
      const code = await this.#exited;
      if (signal?.aborted) throw aborted();
      if (this.#spawnError) {
        const errorCode = (this.#spawnError as NodeJS.ErrnoException).code;
        if (errorCode === 'ENOENT' || errorCode === 'EACCES') throw missingToolError('ffmpeg', ffmpegPath(), this.#spawnError);
        throw new SpeechError('INTERNAL', `ffmpeg could not be started: ${this.#spawnError.message}`, { cause: this.#spawnError });
      }
      if (this.#killed) throw aborted();
      if (code !== 0) {
        throw new SpeechError(
          'AUDIO_ENCODE_FAILED',
          `ffmpeg failed to encode a ${this.format} stream: ${this.#stderrTail.trim() || `exited with code ${code}`}; check that ffmpeg was built with libmp3lame and libopus (Debian's is), or ask for wav or pcm`,
        );
      }
    } finally {
      this.kill();
      // Waiting for the exit makes stopping deterministic: no process outlives the stream.
      await this.#exited;
    }
  }

  /** Stops the process and waits for it to be gone. */
  async stop(): Promise<void> {
    this.kill();
    await this.#exited;
  }
}

interface Spare {
  encoder: EncoderProcess;
  timer: NodeJS.Timeout;
}

/**
 * One idle ffmpeg per format and sample rate, started ahead of the stream that will need
 * it: ffmpeg takes tens of milliseconds to start, longer than a fast engine takes to speak
 * its first sentence. An idle spare does not keep Node running, and is stopped after
 * `idleMs` if nobody takes it.
 */
export class SpareEncoders {
  readonly #spares = new Map<string, Spare>();
  readonly #idleMs: number;
  #closed = false;

  constructor(options: { idleMs?: number } = {}) {
    this.#idleMs = options.idleMs ?? 15_000;
  }

  /** Number of idle processes (for tests). */
  get size(): number {
    return this.#spares.size;
  }

  /** Starts a spare for this format and rate unless one is waiting already. */
  prepare(format: AudioFormat, sampleRate: number): void {
    if (this.#closed || format === 'pcm' || format === 'wav') return;
    const key = `${format}/${sampleRate}`;
    if (this.#spares.has(key)) return;
    const encoder = new EncoderProcess(format, sampleRate);
    encoder.keepAlive(false);
    const timer = setTimeout(() => {
      if (this.#spares.get(key)?.encoder === encoder) this.#spares.delete(key);
      encoder.kill();
    }, this.#idleMs);
    timer.unref();
    this.#spares.set(key, { encoder, timer });
  }

  /** The waiting spare for this format and rate, or undefined. */
  take(format: AudioFormat, sampleRate: number): EncoderProcess | undefined {
    const key = `${format}/${sampleRate}`;
    const spare = this.#spares.get(key);
    if (!spare) return undefined;
    this.#spares.delete(key);
    clearTimeout(spare.timer);
    if (spare.encoder.dead) return undefined;
    spare.encoder.keepAlive(true);
    return spare.encoder;
  }

  /** Stops every spare; no new ones are started. */
  close(): void {
    this.#closed = true;
    for (const spare of this.#spares.values()) {
      clearTimeout(spare.timer);
      spare.encoder.kill();
    }
    this.#spares.clear();
  }
}

/** A spare if one fits, else a new process. */
function acquireEncoder(format: CodecFormat, sampleRate: number, spares: SpareEncoders | undefined): EncoderProcess {
  return spares?.take(format, sampleRate) ?? new EncoderProcess(format, sampleRate);
}

/**
 * Encodes a stream of mono float blocks as one continuous file and yields its bytes as
 * soon as they exist: pcm and wav block by block (wav after a streaming header), the
 * other formats through one ffmpeg process fed block by block for the whole stream.
 * Concatenated, the bytes are those of {@link encodeAudio} on the concatenated blocks,
 * except that a streamed WAV has a streaming header and a streamed FLAC no sample count.
 *
 * Slow reading holds everything up (back-pressure reaches the block source); leaving the
 * loop early stops ffmpeg and returns the block source, which stops the engine.
 */
export async function* encodeAudioStream(
  blocks: AsyncIterable<PcmAudio>,
  format: AudioFormat,
  options: StreamEncodeOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { signal } = options;
  const source = blocks[Symbol.asyncIterator]();
  let encoder: EncoderProcess | undefined;
  let sourceDone = false;
  let streamRate: number | undefined;
  const onAbort = () => encoder?.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw aborted();
    if (format !== 'pcm' && format !== 'wav' && options.expectedSampleRate !== undefined) {
      encoder = acquireEncoder(format, options.expectedSampleRate, options.spares);
    }
    const first = await source.next();
    if (first.done) {
      sourceDone = true;
      // Nothing was spoken: an empty but valid file.
      const rate = options.expectedSampleRate ?? 24000;
      if (format === 'wav') yield wavHeader(0, rate);
      else if (format !== 'pcm') yield await encodeAudio({ samples: new Float32Array(0), sampleRate: rate }, format, { signal });
      return;
    }
    const sampleRate = first.value.sampleRate;
    checkPcmSampleRate(sampleRate, `encode ${format}`);
    streamRate = sampleRate;
    options.onSampleRate?.(sampleRate);
    const checked = (block: PcmAudio): PcmAudio => {
      if (block.sampleRate !== sampleRate) throw rateChanged(sampleRate, block.sampleRate);
      return block;
    };

    if (format === 'pcm' || format === 'wav') {
      if (format === 'wav') yield streamingWavHeader(sampleRate);
      if (first.value.samples.length > 0) yield int16Bytes(first.value);
      for (;;) {
        const next = await source.next();
        if (next.done) break;
        if (signal?.aborted) throw aborted();
        if (checked(next.value).samples.length > 0) yield int16Bytes(next.value);
      }
      sourceDone = true;
      return;
    }

    if (encoder && encoder.sampleRate !== sampleRate) {
      await encoder.stop();
      encoder = undefined;
    }
    const running = (encoder ??= acquireEncoder(format, sampleRate, options.spares));
    if (signal?.aborted) throw aborted();
    // Feeds the blocks to ffmpeg while its output is read below; an error of the block
    // source (the engine failed) wins over the error ffmpeg then reports.
    let sourceError: unknown;
    const feeding = (async () => {
      try {
        let block: PcmAudio | undefined = first.value;
        while (block !== undefined) {
          // ffmpeg is gone (stopped, or failed): the source is left to the cleanup below.
          if (running.dead) return;
          if (block.samples.length > 0) await running.write(float32Bytes(block.samples));
          const next = await source.next();
          block = next.done ? undefined : checked(next.value);
        }
        sourceDone = true;
        running.end();
      } catch (error) {
        sourceError = error;
        running.kill();
      }
    })();
    try {
      yield* running.output(signal);
    } catch (error) {
      await feeding;
      throw sourceError ?? error;
    }
    await feeding;
    if (sourceError !== undefined) throw sourceError;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (encoder) await encoder.stop();
    // The next stream's encoder starts now, after this one has sent everything: a spawn
    // blocks the event loop, which must not happen while this stream waits for its bytes.
    const spares = options.spares;
    if (spares && streamRate !== undefined) setImmediate(() => spares.prepare(format, streamRate!));
    // Stops the engine when the stream ends early (the client left, or an error).
    if (!sourceDone && source.return) await source.return(undefined).catch(() => undefined);
  }
}
