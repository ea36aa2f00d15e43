/**
 * Buffers for a batch's stacked cross-attention keys and values, kept for the next batch.
 *
 * A batch holds `[rows, heads, 1500, headSize]` per encoder cache entry: 37 MB per row for
 * base, 296 MB for a batch of eight. Allocated fresh for every batch, that memory is new
 * pages each time, and the first write into them (the prompt steps) paid for it: measured
 * on base with 8 rows, the 8 prompt steps took 1.4 to 2.2 s into fresh buffers and 0.7 s
 * into reused ones. So the buffers of the last batch are kept for the next, and dropped
 * after `idleMs` without a batch, so that an idle model does not hold them.
 *
 * Rows leaving a batch are removed in place ({@link CrossCacheLease.keep}): the rows that
 * stay move down, and the tensors view fewer rows of the same buffers.
 */
export interface CrossCacheLease {
  /** One buffer per cache name, each with room for at least the leased rows. */
  readonly buffers: ReadonlyMap<string, Float32Array>;
  /** Elements per row. */
  readonly rowSize: number;
  /** Hands the buffers back (once; later calls do nothing). */
  release(): void;
}

interface BufferSet {
  rowSize: number;
  capacity: number;
  buffers: Map<string, Float32Array>;
}

export class CrossCacheBuffers {
  readonly #names: readonly string[];
  readonly #idleMs: number;
  #kept: BufferSet | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(names: readonly string[], idleMs: number) {
    this.#names = names;
    this.#idleMs = idleMs;
  }

  /** Buffers for `rows` rows of `rowSize` elements: the kept ones when they are large enough, new ones otherwise. */
  lease(rows: number, rowSize: number): CrossCacheLease {
    let set = this.#kept;
    if (set && set.rowSize === rowSize && set.capacity >= rows) {
      this.#kept = undefined;
      clearTimeout(this.#timer);
    } else {
      set = { rowSize, capacity: rows, buffers: new Map(this.#names.map((name) => [name, new Float32Array(rowSize * rows)])) };
    }
    let released = false;
    const taken = set;
    return {
      buffers: taken.buffers,
      rowSize,
      release: () => {
        if (released) return;
        released = true;
        this.#keep(taken);
      },
    };
  }

  /** Drops the kept buffers now. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#kept = undefined;
  }

  #keep(set: BufferSet): void {
    // Of two sets (two batches that ran side by side), the larger stays.
    if (this.#kept && this.#kept.rowSize === set.rowSize && this.#kept.capacity >= set.capacity) return;
    this.#kept = set;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => (this.#kept = undefined), this.#idleMs);
    this.#timer.unref?.();
  }
}

/**
 * Moves rows `rows` (ascending indices into the first rows of `buffer`) down to the front,
 * in place: row `rows[i]` becomes row `i`. Safe because `rows[i] >= i`.
 */
export function keepRowsInPlace(buffer: Float32Array, rowSize: number, rows: readonly number[]): void {
  rows.forEach((row, index) => {
    if (row !== index) buffer.copyWithin(index * rowSize, row * rowSize, (row + 1) * rowSize);
  });
}
