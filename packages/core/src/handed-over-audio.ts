/**
 * Audio arrays that whoever made them has given away. The chunker makes a fresh array for
 * each piece it sends to a backend and keeps nothing of it (beyond its length); marked
 * here, a receiver that needs an array of its own (the worker client, which transfers the
 * buffer to the model's thread) may take that one instead of copying it. Every other array
 * stays its caller's: it may be a view into a buffer the caller still uses.
 *
 * Internal to core: the mark is only set where core itself made the array.
 */
const handedOver = new WeakSet<ArrayBuffer>();

/** Marks `audio`, which no one else holds, as free to take. Returns it. */
export function handOverAudio(audio: Float32Array): Float32Array {
  handedOver.add(audio.buffer as ArrayBuffer);
  return audio;
}

/**
 * `audio` itself when it was handed over (its buffer may then be transferred or kept), the
 * mark removed so that it is taken once; undefined for an array its caller still owns.
 */
export function takeHandedOver(audio: Float32Array): Float32Array | undefined {
  const buffer = audio.buffer as ArrayBuffer;
  return handedOver.delete(buffer) ? audio : undefined;
}
