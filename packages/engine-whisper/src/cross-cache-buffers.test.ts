import { describe, expect, it, vi } from 'vitest';
import { CrossCacheBuffers, keepRowsInPlace } from './cross-cache-buffers.js';

const NAMES = ['past_key_values.0.encoder.key', 'past_key_values.0.encoder.value'];

describe('CrossCacheBuffers', () => {
  it('hands the last batch’s buffers to the next batch that fits in them', () => {
    const pool = new CrossCacheBuffers(NAMES, 60_000);
    const first = pool.lease(3, 4);
    expect([...first.buffers.keys()]).toEqual(NAMES);
    expect(first.buffers.get(NAMES[0]!)!.length).toBe(12);
    const buffer = first.buffers.get(NAMES[0]!)!;
    first.release();
    first.release();
    // Fewer rows fit: the same memory.
    const second = pool.lease(2, 4);
    expect(second.buffers.get(NAMES[0]!)).toBe(buffer);
    // While it is leased, another batch gets its own.
    const third = pool.lease(2, 4);
    expect(third.buffers.get(NAMES[0]!)).not.toBe(buffer);
    second.release();
    third.release();
    // More rows, or rows of another size, do not fit: new buffers.
    expect(pool.lease(4, 4).buffers.get(NAMES[0]!)).not.toBe(buffer);
    pool.clear();
  });

  it('keeps the larger set when two batches hand theirs back, and drops it when idle', () => {
    vi.useFakeTimers();
    try {
      const pool = new CrossCacheBuffers(NAMES, 1000);
      const small = pool.lease(2, 4);
      const large = pool.lease(5, 4);
      const largeBuffer = large.buffers.get(NAMES[1]!)!;
      large.release();
      small.release();
      expect(pool.lease(5, 4).buffers.get(NAMES[1]!)).toBe(largeBuffer);
      pool.lease(1, 4).release();
      vi.advanceTimersByTime(1001);
      expect(pool.lease(1, 4).buffers.get(NAMES[1]!)!.length).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('keepRowsInPlace', () => {
  it('moves the rows that stay down to the front, in order', () => {
    const rowSize = 3;
    const buffer = Float32Array.from({ length: 5 * rowSize }, (_, index) => index);
    const original = buffer.slice();
    keepRowsInPlace(buffer, rowSize, [1, 3, 4]);
    for (const [index, row] of [1, 3, 4].entries()) {
      expect(Array.from(buffer.subarray(index * rowSize, (index + 1) * rowSize))).toEqual(Array.from(original.subarray(row * rowSize, (row + 1) * rowSize)));
    }
    keepRowsInPlace(buffer, rowSize, [0, 1]);
    expect(Array.from(buffer.subarray(0, 2 * rowSize))).toEqual([3, 4, 5, 9, 10, 11]);
  });
});
