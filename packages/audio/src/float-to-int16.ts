/** Float PCM in [-1, 1] to 16-bit PCM, clamping out-of-range values (NaN becomes 0). */
export function floatToInt16(samples: Float32Array): Int16Array {
  const output = new Int16Array(samples.length);
  floatToInt16Into(samples, output);
  return output;
}

/**
 * Like {@link floatToInt16}, writing into an existing array of the same length.
 *
 * Rounds like `Math.round` (half up), computed as `Math.floor(x + 0.5)`, which V8 runs
 * about five times faster (0.9 against 0.16 ms for 4.4 s of 22.05 kHz speech on this
 * machine). The two agree here: a float32 sample times 32767 or 32768 is exact in a
 * double and has at most 39 significant bits, so adding 0.5 rounds nothing that could
 * move the floor (a test checks every rounding boundary of the 16-bit range).
 */
export function floatToInt16Into(samples: Float32Array, output: Int16Array): void {
  const length = samples.length;
  for (let index = 0; index < length; index++) {
    const sample = samples[index];
    if (sample >= 1) output[index] = 32767;
    else if (sample <= -1) output[index] = -32768;
    else if (sample < 0) output[index] = Math.floor(sample * 32768 + 0.5);
    // NaN lands here too and is stored as 0.
    else output[index] = Math.floor(sample * 32767 + 0.5);
  }
}

/** 16-bit PCM to float in [-1, 1). */
export function int16ToFloat(samples: Int16Array): Float32Array {
  const output = new Float32Array(samples.length);
  for (let index = 0; index < samples.length; index++) output[index] = samples[index] / 32768;
  return output;
}
