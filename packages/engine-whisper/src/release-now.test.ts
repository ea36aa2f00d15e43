import { describe, expect, it } from 'vitest';
import { releaseNow } from './whisper-sessions.js';

describe('releaseNow', () => {
  it('frees an array that owns its whole buffer, and leaves views of a larger one alone', () => {
    const whole = new Float32Array(1024).fill(1);
    releaseNow(whole);
    expect(whole.byteLength).toBe(0);
    expect(whole.buffer.byteLength).toBe(0);

    const shared = new Float32Array(1024).fill(2);
    const part = shared.subarray(0, 512);
    releaseNow(part);
    expect(part.length).toBe(512);
    expect(shared[1023]).toBe(2);
  });

  it('does nothing to a freed array, shared memory or a value that is no array', () => {
    const whole = new Uint16Array(8);
    releaseNow(whole);
    expect(() => releaseNow(whole)).not.toThrow();
    const shared = new Float32Array(new SharedArrayBuffer(64));
    releaseNow(shared);
    expect(shared.length).toBe(16);
    expect(() => releaseNow(undefined)).not.toThrow();
    expect(() => releaseNow([1, 2, 3])).not.toThrow();
  });
});
