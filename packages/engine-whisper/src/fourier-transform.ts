/**
 * A mixed-radix complex FFT (Stockham auto-sort, decimation in frequency) for any length
 * whose prime factors are small. Whisper's frame is 400 samples = 4·4·5·5, which no
 * power-of-two FFT handles without padding (and padding would change the spectrum).
 */
export class FourierTransform {
  readonly size: number;
  readonly #stages: Stage[];
  readonly #radixRoots = new Map<number, Float64Array>();
  readonly #scratchReal: Float64Array;
  readonly #scratchImaginary: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`FFT size must be a positive integer, got ${size}`);
    this.size = size;
    this.#stages = [];
    let span = size;
    let stride = 1;
    for (const radix of factorize(size)) {
      const quotient = span / radix;
      // Twiddle ω_span^(j·q) for j < quotient, q < radix, interleaved (cos, sin).
      const twiddles = new Float64Array(quotient * radix * 2);
      for (let j = 0; j < quotient; j++) {
        for (let q = 0; q < radix; q++) {
          const angle = (-2 * Math.PI * j * q) / span;
          twiddles[(j * radix + q) * 2] = Math.cos(angle);
          twiddles[(j * radix + q) * 2 + 1] = Math.sin(angle);
        }
      }
      this.#stages.push({ radix, span, stride, twiddles });
      if (!this.#radixRoots.has(radix)) {
        const roots = new Float64Array(radix * 2);
        for (let k = 0; k < radix; k++) {
          roots[k * 2] = Math.cos((-2 * Math.PI * k) / radix);
          roots[k * 2 + 1] = Math.sin((-2 * Math.PI * k) / radix);
        }
        this.#radixRoots.set(radix, roots);
      }
      span = quotient;
      stride *= radix;
    }
    this.#scratchReal = new Float64Array(size);
    this.#scratchImaginary = new Float64Array(size);
  }

  /** In-place forward DFT (no scaling) of `real` + i·`imaginary`. */
  transform(real: Float64Array, imaginary: Float64Array): void {
    let sourceReal = real;
    let sourceImaginary = imaginary;
    let targetReal = this.#scratchReal;
    let targetImaginary = this.#scratchImaginary;
    for (const stage of this.#stages) {
      if (stage.radix === 4) radix4(stage, sourceReal, sourceImaginary, targetReal, targetImaginary);
      else if (stage.radix === 5) radix5(stage, sourceReal, sourceImaginary, targetReal, targetImaginary);
      else this.#generic(stage, sourceReal, sourceImaginary, targetReal, targetImaginary);
      [sourceReal, targetReal] = [targetReal, sourceReal];
      [sourceImaginary, targetImaginary] = [targetImaginary, sourceImaginary];
    }
    if (sourceReal !== real) {
      real.set(sourceReal);
      imaginary.set(sourceImaginary);
    }
  }

  #generic(stage: Stage, sourceReal: Float64Array, sourceImaginary: Float64Array, targetReal: Float64Array, targetImaginary: Float64Array): void {
    const { radix, span, stride, twiddles } = stage;
    const quotient = span / radix;
    const roots = this.#radixRoots.get(radix)!;
    for (let j = 0; j < quotient; j++) {
      for (let k = 0; k < stride; k++) {
        for (let q = 0; q < radix; q++) {
          let sumReal = 0;
          let sumImaginary = 0;
          for (let r = 0; r < radix; r++) {
            const index = k + stride * (j + quotient * r);
            const root = ((r * q) % radix) * 2;
            const valueReal = sourceReal[index]!;
            const valueImaginary = sourceImaginary[index]!;
            sumReal += valueReal * roots[root]! - valueImaginary * roots[root + 1]!;
            sumImaginary += valueReal * roots[root + 1]! + valueImaginary * roots[root]!;
          }
          const twiddle = (j * radix + q) * 2;
          const target = k + stride * (q + radix * j);
          targetReal[target] = sumReal * twiddles[twiddle]! - sumImaginary * twiddles[twiddle + 1]!;
          targetImaginary[target] = sumReal * twiddles[twiddle + 1]! + sumImaginary * twiddles[twiddle]!;
        }
      }
    }
  }
}

interface Stage {
  radix: number;
  span: number;
  stride: number;
  twiddles: Float64Array;
}

/** One radix-4 pass (the generic pass with the 4-point DFT written out). */
function radix4(stage: Stage, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const { span, stride: s, twiddles: w } = stage;
  const m = span / 4;
  for (let j = 0; j < m; j++) {
    const t = j * 8;
    const w1r = w[t + 2]!, w1i = w[t + 3]!, w2r = w[t + 4]!, w2i = w[t + 5]!, w3r = w[t + 6]!, w3i = w[t + 7]!;
    for (let k = 0; k < s; k++) {
      const i0 = k + s * j;
      const i1 = i0 + s * m;
      const i2 = i1 + s * m;
      const i3 = i2 + s * m;
      const t0r = xr[i0]! + xr[i2]!, t0i = xi[i0]! + xi[i2]!;
      const t1r = xr[i0]! - xr[i2]!, t1i = xi[i0]! - xi[i2]!;
      const t2r = xr[i1]! + xr[i3]!, t2i = xi[i1]! + xi[i3]!;
      const t3r = xr[i1]! - xr[i3]!, t3i = xi[i1]! - xi[i3]!;
      const o = k + s * 4 * j;
      yr[o] = t0r + t2r;
      yi[o] = t0i + t2i;
      const a1r = t1r + t3i, a1i = t1i - t3r;
      yr[o + s] = a1r * w1r - a1i * w1i;
      yi[o + s] = a1r * w1i + a1i * w1r;
      const a2r = t0r - t2r, a2i = t0i - t2i;
      yr[o + 2 * s] = a2r * w2r - a2i * w2i;
      yi[o + 2 * s] = a2r * w2i + a2i * w2r;
      const a3r = t1r - t3i, a3i = t1i + t3r;
      yr[o + 3 * s] = a3r * w3r - a3i * w3i;
      yi[o + 3 * s] = a3r * w3i + a3i * w3r;
    }
  }
}

const C1 = Math.cos((2 * Math.PI) / 5);
const C2 = Math.cos((4 * Math.PI) / 5);
const S1 = Math.sin((2 * Math.PI) / 5);
const S2 = Math.sin((4 * Math.PI) / 5);

/** One radix-5 pass (the 5-point DFT written out with its symmetric pairs). */
function radix5(stage: Stage, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const { span, stride: s, twiddles: w } = stage;
  const m = span / 5;
  for (let j = 0; j < m; j++) {
    const t = j * 10;
    for (let k = 0; k < s; k++) {
      const i0 = k + s * j;
      const i1 = i0 + s * m, i2 = i1 + s * m, i3 = i2 + s * m, i4 = i3 + s * m;
      const a0r = xr[i0]!, a0i = xi[i0]!;
      const b1r = xr[i1]! + xr[i4]!, b1i = xi[i1]! + xi[i4]!;
      const b2r = xr[i2]! + xr[i3]!, b2i = xi[i2]! + xi[i3]!;
      const d1r = xr[i1]! - xr[i4]!, d1i = xi[i1]! - xi[i4]!;
      const d2r = xr[i2]! - xr[i3]!, d2i = xi[i2]! - xi[i3]!;
      const r1r = a0r + C1 * b1r + C2 * b2r, r1i = a0i + C1 * b1i + C2 * b2i;
      const r2r = a0r + C2 * b1r + C1 * b2r, r2i = a0i + C2 * b1i + C1 * b2i;
      const e1r = S1 * d1r + S2 * d2r, e1i = S1 * d1i + S2 * d2i;
      const e2r = S2 * d1r - S1 * d2r, e2i = S2 * d1i - S1 * d2i;
      // y1 = r1 − i·e1, y4 = r1 + i·e1, y2 = r2 − i·e2, y3 = r2 + i·e2, each times its twiddle.
      const o = k + s * 5 * j;
      yr[o] = a0r + b1r + b2r;
      yi[o] = a0i + b1i + b2i;
      twiddled(yr, yi, o + s, r1r + e1i, r1i - e1r, w[t + 2]!, w[t + 3]!);
      twiddled(yr, yi, o + 2 * s, r2r + e2i, r2i - e2r, w[t + 4]!, w[t + 5]!);
      twiddled(yr, yi, o + 3 * s, r2r - e2i, r2i + e2r, w[t + 6]!, w[t + 7]!);
      twiddled(yr, yi, o + 4 * s, r1r - e1i, r1i + e1r, w[t + 8]!, w[t + 9]!);
    }
  }
}

function twiddled(yr: Float64Array, yi: Float64Array, index: number, vr: number, vi: number, wr: number, wi: number): void {
  yr[index] = vr * wr - vi * wi;
  yi[index] = vr * wi + vi * wr;
}

/** Prime-ish factors, preferring 4 then 2, 3, 5 and so on. */
function factorize(size: number): number[] {
  const factors: number[] = [];
  let rest = size;
  while (rest % 4 === 0) {
    factors.push(4);
    rest /= 4;
  }
  for (let factor = 2; rest > 1; factor++) {
    while (rest % factor === 0) {
      factors.push(factor);
      rest /= factor;
    }
    if (factor * factor > rest && rest > 1) {
      factors.push(rest);
      break;
    }
  }
  return factors;
}
