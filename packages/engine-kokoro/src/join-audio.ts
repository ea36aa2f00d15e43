/**
 * Joining the pieces a long text was cut into. A piece ends wherever the model stopped,
 * not necessarily at a zero crossing, so butting two pieces together can click. Each
 * piece therefore fades in over a few milliseconds where it follows another and fades
 * out where another follows it. The first sample of the clip and its last are left
 * alone, so a text spoken in one piece is exactly the model's output.
 */

/** Length of the fade at a join. */
export const JOIN_FADE_SECONDS = 0.005;

/**
 * Applies the join fades to one piece in place.
 * @param fadeIn another piece comes before this one
 * @param fadeOut another piece comes after this one
 */
export function fadeJoins(samples: Float32Array, sampleRate: number, fadeIn: boolean, fadeOut: boolean): Float32Array {
  const edges = (fadeIn ? 1 : 0) + (fadeOut ? 1 : 0);
  if (edges === 0 || samples.length === 0) return samples;
  const length = Math.min(Math.round(JOIN_FADE_SECONDS * sampleRate), Math.floor(samples.length / edges));
  for (let index = 0; index < length; index++) {
    // Half a raised cosine: 0 at the join, 1 a fade's length away from it.
    const gain = 0.5 - 0.5 * Math.cos((Math.PI * (index + 0.5)) / length);
    if (fadeIn) samples[index] *= gain;
    if (fadeOut) samples[samples.length - 1 - index] *= gain;
  }
  return samples;
}
