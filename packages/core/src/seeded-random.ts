/**
 * A small seeded generator of uniform numbers in [0, 1) (mulberry32). Engines use it for
 * sampling that a request can repeat exactly (a `seed` field); tests and generated
 * fixtures use it for weights and scripts that are the same on every run.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
