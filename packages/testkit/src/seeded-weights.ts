/**
 * Seeded random weights for generated test models: the same seed gives the same file on
 * every machine, so a differential test against another implementation is repeatable.
 */
import { seededRandom } from '@talkies/core';

/** A source of uniform numbers in [-1, 1), from a seed or an existing generator. */
export class SeededWeights {
  readonly #next: () => number;

  constructor(seed: number | (() => number)) {
    this.#next = typeof seed === 'number' ? seededRandom(seed) : seed;
  }

  /** One number, uniform in [-limit, limit). */
  uniform(limit = 1): number {
    return (this.#next() * 2 - 1) * limit;
  }

  /** Fills `target` with numbers uniform in [-limit, limit) and returns it. */
  fill(target: Float32Array, limit = 1): Float32Array {
    for (let index = 0; index < target.length; index++) target[index] = this.uniform(limit);
    return target;
  }

  /** A new array of `count` numbers uniform in [-limit, limit). */
  floats(count: number, limit = 1): Float32Array {
    return this.fill(new Float32Array(count), limit);
  }

  /** An integer in [0, bound). */
  integer(bound: number): number {
    return Math.floor(this.#next() * bound);
  }
}
