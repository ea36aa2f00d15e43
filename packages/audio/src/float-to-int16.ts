/** Float PCM in [-1, 1] to 16-bit PCM, clamping out-of-range values (NaN becomes 0). */
export function floatToInt16(samples: Float32Array): Int16Array {
  const output = new Int16Array(samples.length);
  floatToInt16Into(samples, output);
  return output;
}

/** Like {@link floatToInt16}, writing into an existing array of the same length. */
export function floatToInt16Into(samples: Float32Array, output: Int16Array): void {
  for (let index = 0; index < samples.length; index++) {
    const sample = samples[index];
    if (sample >= 1) output[index] = 32767;
    else if (sample <= -1) output[index] = -32768;
    else if (sample < 0) output[index] = Math.round(sample * 32768);
    else output[index] = Math.round(sample * 32767) || 0;
  }
}

/** 16-bit PCM to float in [-1, 1). */
export function int16ToFloat(samples: Int16Array): Float32Array {
  const output = new Float32Array(samples.length);
  for (let index = 0; index < samples.length; index++) output[index] = samples[index] / 32768;
  return output;
}
