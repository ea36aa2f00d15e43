/** WAV bytes for tests that upload generated audio. */

/**
 * A 16-bit mono PCM WAV file of `samples` (floats in [-1, 1], scaled by 32768 and clamped
 * to the 16-bit range) at `sampleRate`.
 */
export function wavFile(samples: Float32Array, sampleRate = 16000): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  for (let index = 0; index < samples.length; index++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[index]! * 32768))), index * 2);
  return pcm16WavFile(data, sampleRate);
}

/** A WAV file around `pcm`: 16-bit little-endian mono samples at `sampleRate`. */
export function pcm16WavFile(pcm: Buffer, sampleRate = 16000): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}
