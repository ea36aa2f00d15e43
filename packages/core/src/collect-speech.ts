/**
 * Joins a stream of speech blocks into one clip: how a whole answer is built from an
 * engine's synthesizeStream (by the server, and by engines whose synthesize() speaks
 * through their own stream).
 */
import type { SpeechAudio } from './backend.js';
import { SpeechError } from './speech-error.js';

/** One clip from the blocks, which must share a sample rate; `emptyRate` when there are none. */
export async function collectSpeech(blocks: AsyncIterable<SpeechAudio>, emptyRate: number): Promise<SpeechAudio> {
  const parts: Float32Array[] = [];
  let sampleRate: number | undefined;
  for await (const block of blocks) {
    if (sampleRate !== undefined && block.sampleRate !== sampleRate) {
      throw new SpeechError('INFERENCE_FAILED', `the engine changed its sample rate mid-stream (${sampleRate} Hz, then ${block.sampleRate} Hz)`);
    }
    sampleRate = block.sampleRate;
    parts.push(block.samples);
  }
  // One block (a one-sentence input) needs no copy.
  if (parts.length === 1) return { samples: parts[0]!, sampleRate: sampleRate! };
  return { samples: joinSamples(parts), sampleRate: sampleRate ?? emptyRate };
}

/** The parts one after the other, in a new array (a copy even of a single part). */
export function joinSamples(parts: readonly Float32Array[]): Float32Array {
  const joined = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
