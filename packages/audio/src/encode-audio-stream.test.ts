import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { joinSamples, SpeechError } from '@talkies/core';
import { childProcessNames, fixtureDirectory } from './__fixtures__/generate-audio.js';
import type { AudioFormat } from './audio-formats.js';
import { decodeAudio } from './decode-audio.js';
import { encodeAudio, type PcmAudio } from './encode-audio.js';
import { encodeAudioStream, SpareEncoders } from './encode-audio-stream.js';
import { probeAudio } from './probe-audio.js';

const RATE = 24000;
const directory = fixtureDirectory();
afterAll(() => directory.remove());

/** Three "sentences" of different tones and lengths. */
function sentences(): PcmAudio[] {
  return [0.4, 0.25, 0.6].map((seconds, sentence) => {
    const samples = new Float32Array(Math.round(seconds * RATE));
    for (let index = 0; index < samples.length; index++) samples[index] = 0.4 * Math.sin((2 * Math.PI * (300 + 100 * sentence) * index) / RATE);
    return { samples, sampleRate: RATE };
  });
}

function whole(blocks: PcmAudio[]): PcmAudio {
  return { samples: joinSamples(blocks.map((block) => block.samples)), sampleRate: blocks[0]!.sampleRate };
}

async function* slowly(blocks: PcmAudio[], delayMs = 0, onDone?: () => void): AsyncGenerator<PcmAudio> {
  try {
    for (const block of blocks) {
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      yield block;
    }
  } finally {
    onDone?.();
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<{ bytes: Buffer; count: number }> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return { bytes: Buffer.concat(parts), count: parts.length };
}

describe('encodeAudioStream', () => {
  it('pcm: block by block, the same bytes as encoding the whole clip', async () => {
    const blocks = sentences();
    const streamed = await collect(encodeAudioStream(slowly(blocks), 'pcm'));
    expect(streamed.count).toBe(3);
    expect(streamed.bytes).toEqual(await encodeAudio(whole(blocks), 'pcm'));
  });

  it('wav: a streaming header (sizes unknown), then the same samples as the whole file', async () => {
    const blocks = sentences();
    let rate: number | undefined;
    const streamed = await collect(encodeAudioStream(slowly(blocks), 'wav', { onSampleRate: (value) => (rate = value) }));
    const complete = await encodeAudio(whole(blocks), 'wav');
    expect(rate).toBe(RATE);
    expect(streamed.bytes.readUInt32LE(4)).toBe(0xffffffff);
    expect(streamed.bytes.readUInt32LE(40)).toBe(0xffffffff);
    expect(streamed.bytes.subarray(44)).toEqual(complete.subarray(44));
    const path = join(directory.path, 'streamed.wav');
    await writeFile(path, streamed.bytes);
    expect((await probeAudio(path)).sampleRate).toBe(RATE);
  });

  it('mp3 through one ffmpeg for the whole stream: the very bytes of the whole-clip encoding', async () => {
    const blocks = sentences();
    const streamed = await collect(encodeAudioStream(slowly(blocks, 30), 'mp3'));
    expect(streamed.bytes).toEqual(await encodeAudio(whole(blocks), 'mp3'));
  });

  for (const format of ['opus', 'aac', 'flac'] as const) {
    it(`${format}: one continuous file as long as the whole-clip encoding (within 20 ms)`, async () => {
      const blocks = sentences();
      const streamed = await collect(encodeAudioStream(slowly(blocks, 10), format));
      const complete = await encodeAudio(whole(blocks), format);
      const streamedPath = join(directory.path, `streamed.${format}`);
      const completePath = join(directory.path, `complete.${format}`);
      await writeFile(streamedPath, streamed.bytes);
      await writeFile(completePath, complete);
      const [a, b] = await Promise.all([probeAudio(streamedPath), probeAudio(completePath)]);
      expect(a.codec).toBe(b.codec);
      // Decoded lengths: a streamed FLAC cannot state its sample count up front.
      const [decodedA, decodedB] = await Promise.all([decodeAudio(streamedPath), decodeAudio(completePath)]);
      expect(Math.abs(decodedA.samples.length - decodedB.samples.length) / 16000).toBeLessThanOrEqual(0.02);
      // (AAC in ADTS keeps its encoder delay and padding: a few tens of ms more.)
      expect(Math.abs(decodedA.samples.length / 16000 - 1.25)).toBeLessThan(0.1);
    });
  }

  it('yields encoded bytes before the last block exists', async () => {
    const blocks = sentences();
    let sourceFinished = false;
    // The last block is held back until the first encoded bytes arrived (a timer would race
    // ffmpeg's start-up on a loaded machine); the 20 s fallback only keeps a failure from hanging.
    let firstBytes!: () => void;
    const received = new Promise<void>((resolve) => (firstBytes = resolve));
    async function* holdingTheLast(): AsyncGenerator<PcmAudio> {
      try {
        yield blocks[0]!;
        yield blocks[1]!;
        await Promise.race([received, new Promise((resolve) => setTimeout(resolve, 20_000))]);
        yield blocks[2]!;
      } finally {
        sourceFinished = true;
      }
    }
    const iterator = encodeAudioStream(holdingTheLast(), 'mp3', { expectedSampleRate: RATE })[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(sourceFinished).toBe(false);
    firstBytes();
    await iterator.return(undefined);
  });

  it('a wrong sample-rate guess costs a restart, not a wrong file', async () => {
    const blocks = sentences();
    const streamed = await collect(encodeAudioStream(slowly(blocks), 'mp3', { expectedSampleRate: 16000 }));
    expect(streamed.bytes).toEqual(await encodeAudio(whole(blocks), 'mp3'));
  });

  it('leaving early stops ffmpeg and the block source', async () => {
    let sourceClosed = false;
    const many = Array.from({ length: 50 }, () => sentences()[0]!);
    const iterator = encodeAudioStream(slowly(many, 20, () => (sourceClosed = true)), 'opus')[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return(undefined);
    expect(sourceClosed).toBe(true);
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('passes the block source’s own error through, and refuses a change of sample rate', async () => {
    async function* failing(): AsyncGenerator<PcmAudio> {
      yield sentences()[0]!;
      throw new SpeechError('INFERENCE_FAILED', 'the engine broke');
    }
    for (const format of ['mp3', 'pcm'] as AudioFormat[]) {
      await expect(collect(encodeAudioStream(failing(), format))).rejects.toThrow('the engine broke');
    }
    const mixed = [sentences()[0]!, { samples: new Float32Array(100), sampleRate: 16000 }];
    await expect(collect(encodeAudioStream(slowly(mixed), 'wav'))).rejects.toThrow(/changed its sample rate/);
  });

  it('an empty stream is an empty but valid file', async () => {
    const bytes = (await collect(encodeAudioStream(slowly([]), 'wav', { expectedSampleRate: RATE }))).bytes;
    expect(bytes.length).toBe(44);
    expect((await collect(encodeAudioStream(slowly([]), 'pcm'))).bytes.length).toBe(0);
  });
});

describe('SpareEncoders', () => {
  it('a stream takes the waiting ffmpeg, leaves a new one, and the bytes are the same', async () => {
    const spares = new SpareEncoders({ idleMs: 5000 });
    try {
      spares.prepare('mp3', RATE);
      expect(spares.size).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const blocks = sentences();
      const streamed = await collect(encodeAudioStream(slowly(blocks), 'mp3', { expectedSampleRate: RATE, spares }));
      expect(streamed.bytes).toEqual(await encodeAudio(whole(blocks), 'mp3'));
      expect(spares.size).toBe(1);
    } finally {
      spares.close();
    }
    expect(spares.size).toBe(0);
  });

  it('stops a spare nobody takes', async () => {
    const spares = new SpareEncoders({ idleMs: 100 });
    spares.prepare('opus', RATE);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(spares.size).toBe(0);
    expect(childProcessNames()).not.toContain('ffmpeg');
  });

  it('an aborted request kills the spare it took', async () => {
    const spares = new SpareEncoders({ idleMs: 5000 });
    try {
      spares.prepare('aac', RATE);
      const controller = new AbortController();
      const many = Array.from({ length: 50 }, () => sentences()[0]!);
      const iterator = encodeAudioStream(slowly(many, 20), 'aac', { expectedSampleRate: RATE, spares, signal: controller.signal })[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      await expect((async () => { for (;;) if ((await iterator.next()).done) break; })()).rejects.toThrow(/aborted/);
    } finally {
      spares.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(childProcessNames()).not.toContain('ffmpeg');
  });
});

describe('an idle spare', () => {
  const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  const exitTime = (body: string, environment: NodeJS.ProcessEnv = {}) => {
    expect(existsSync(built), 'build first: pnpm exec tsc -b packages/audio').toBe(true);
    const script = `const { SpareEncoders } = await import(${JSON.stringify(pathToFileURL(built).href)});\n${body}`;
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, ...environment },
    });
    expect(child.status, child.stderr).toBe(0);
    return performance.now() - started;
  };

  it('lets Node exit once the spares are closed', () => {
    expect(exitTime(`const spares = new SpareEncoders({ idleMs: 60000 }); spares.prepare('mp3', 24000); setTimeout(() => spares.close(), 300);`)).toBeLessThan(10_000);
  });

  it('spawned directly, does not keep Node running at all', () => {
    expect(exitTime(`new SpareEncoders({ idleMs: 60000 }).prepare('mp3', 24000);`, { TALKIES_DIRECT_SPAWN: '1' })).toBeLessThan(10_000);
  });
});
