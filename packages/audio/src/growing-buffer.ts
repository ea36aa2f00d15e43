/**
 * A byte buffer that doubles its capacity as data arrives, so collecting a process's
 * output costs one copy per byte on average instead of a list of chunks concatenated at
 * the end.
 */
export class GrowingBuffer {
  #bytes: Uint8Array;
  #length = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.#bytes = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  append(chunk: Uint8Array): void {
    this.reserve(chunk.byteLength);
    this.#bytes.set(chunk, this.#length);
    this.#length += chunk.byteLength;
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.byteLength) return;
    let capacity = this.#bytes.byteLength * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }

  /**
   * The bytes written, as a Buffer over an ArrayBuffer that starts at offset 0 (so typed
   * views of any element size are aligned). Shrinks the storage when more than a quarter
   * of it is unused, to not hold up to twice the memory for the life of the result.
   */
  toBuffer(): Buffer {
    if (this.#length < this.#bytes.byteLength * 0.75) {
      this.#bytes = this.#bytes.slice(0, this.#length);
    }
    return Buffer.from(this.#bytes.buffer, 0, this.#length);
  }

  /** The bytes written, read as little-endian float32 (a trailing partial value is dropped). */
  toFloat32Array(): Float32Array {
    const buffer = this.toBuffer();
    return new Float32Array(buffer.buffer, 0, Math.floor(buffer.byteLength / 4));
  }
}

/** The float32 counterpart of {@link GrowingBuffer}. */
export class GrowingFloat32Array {
  #values: Float32Array;
  #length = 0;

  constructor(initialCapacity = 16000 * 30) {
    this.#values = new Float32Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.#length;
  }

  append(values: Float32Array): void {
    const needed = this.#length + values.length;
    if (needed > this.#values.length) {
      let capacity = this.#values.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Float32Array(capacity);
      grown.set(this.#values.subarray(0, this.#length));
      this.#values = grown;
    }
    this.#values.set(values, this.#length);
    this.#length = needed;
  }

  /** The values written; shrinks the storage when more than a quarter of it is unused. */
  toFloat32Array(): Float32Array {
    if (this.#length < this.#values.length * 0.75) this.#values = this.#values.slice(0, this.#length);
    return this.#values.subarray(0, this.#length);
  }
}
