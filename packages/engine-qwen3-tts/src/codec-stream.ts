/**
 * Chunked codec decoding for streaming: each chunk of new frames is decoded together
 * with up to `leftContext` frames before it (the decoder's receptive field), and the seam
 * with the previous chunk is cross-faded over `fadeSamples`. The last `fadeSamples` of
 * each chunk are held back until the next chunk (or the end) so that the fade can be
 * applied to them. Reference frames (voice cloning) may be given as context that is never
 * spoken.
 */
export interface ChunkedDecoderOptions {
  /** Code groups per frame (16). */
  groups: number;
  leftContext: number;
  fadeSamples: number;
  /** Decodes `frames` frames (frame-major codes) to samples. */
  decode(codes: Int32Array, frames: number): Promise<Float32Array>;
}

export class ChunkedCodecDecoder {
  readonly #options: ChunkedDecoderOptions;
  #codes: Int32Array;
  #frames: number;
  /** The first frame not yet decoded. */
  #next: number;
  #held = new Float32Array(0);

  constructor(options: ChunkedDecoderOptions, context?: { codes: Int32Array; frames: number }) {
    this.#options = options;
    this.#frames = context?.frames ?? 0;
    this.#next = this.#frames;
    this.#codes = new Int32Array(Math.max(64, this.#frames * 2) * options.groups);
    if (context) this.#codes.set(context.codes.subarray(0, context.frames * options.groups));
  }

  /** Frames pushed and not yet decoded. */
  get pending(): number {
    return this.#frames - this.#next;
  }

  push(frame: Int32Array): void {
    const { groups } = this.#options;
    if ((this.#frames + 1) * groups > this.#codes.length) {
      const grown = new Int32Array(this.#codes.length * 2);
      grown.set(this.#codes);
      this.#codes = grown;
    }
    this.#codes.set(frame.subarray(0, groups), this.#frames * groups);
    this.#frames++;
  }

  /** Decodes the pending frames; returns the samples ready to play (all of them when `final`). */
  async flush(final: boolean): Promise<Float32Array> {
    const { groups, leftContext, fadeSamples } = this.#options;
    if (this.pending === 0) {
      if (!final) return new Float32Array(0);
      const rest = this.#held;
      this.#held = new Float32Array(0);
      return rest;
    }
    const start = this.#next;
    const end = this.#frames;
    const first = Math.max(0, start - leftContext);
    const out = await this.#options.decode(this.#codes.slice(first * groups, end * groups), end - first);
    const perFrame = out.length / (end - first);
    const newStart = Math.round((start - first) * perFrame);
    const fade = Math.min(this.#held.length, newStart);
    const tail = final ? 0 : Math.min(fadeSamples, out.length - newStart);
    const emitted = new Float32Array(this.#held.length - fade + fade + (out.length - newStart - tail));
    // Held samples without overlapping context are emitted as they are.
    emitted.set(this.#held.subarray(0, this.#held.length - fade), 0);
    let offset = this.#held.length - fade;
    for (let index = 0; index < fade; index++) {
      const weight = (index + 0.5) / fade;
      const previous = this.#held[this.#held.length - fade + index]!;
      emitted[offset + index] = previous * (1 - weight) + out[newStart - fade + index]! * weight;
    }
    offset += fade;
    emitted.set(out.subarray(newStart, out.length - tail), offset);
    this.#held = out.slice(out.length - tail);
    this.#next = end;
    return emitted;
  }
}
