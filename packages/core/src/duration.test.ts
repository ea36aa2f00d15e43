import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('accepts bare seconds, integer or decimal', () => {
    expect(parseDuration('120')).toBe(120);
    expect(parseDuration('600')).toBe(600);
    expect(parseDuration('1.5')).toBe(1.5);
    expect(parseDuration('0')).toBe(0);
  });

  it('trims surrounding whitespace', () => {
    expect(parseDuration('  90 ')).toBe(90);
    expect(parseDuration('\t2m\n')).toBe(120);
  });

  it('accepts Go-style durations', () => {
    expect(parseDuration('1h30m5s')).toBe(5405);
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('2m')).toBe(120);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('1.5h')).toBe(5400);
    expect(parseDuration('250ms')).toBeCloseTo(0.25, 12);
    expect(parseDuration('1m500ms')).toBeCloseTo(60.5, 12);
  });

  it('tells minutes from milliseconds', () => {
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('5ms')).toBeCloseTo(0.005, 12);
  });

  it('accepts the sub-millisecond units', () => {
    expect(parseDuration('1500us')).toBeCloseTo(0.0015, 12);
    expect(parseDuration('1500µs')).toBeCloseTo(0.0015, 12);
    expect(parseDuration('2000000ns')).toBeCloseTo(0.002, 12);
  });

  it.each(['yesterday', '', '   ', '10 minutes', '1h 30m', '-5', '-1h', '5x', 'h', '1.2.3', '1e3', '30m garbage', '.5s'])(
    'rejects %j',
    (value) => {
      expect(() => parseDuration(value)).toThrow(/is not a duration/);
    },
  );

  it('names the setting and the offending value in the error', () => {
    expect(() => parseDuration('yesterday', 'TALKIES_MODEL_TTL')).toThrow(
      "TALKIES_MODEL_TTL='yesterday' is not a duration; use seconds (600) or Go-style (1h30m5s, 90s, 0 to disable)",
    );
  });

  it('uses a generic name when none is given', () => {
    expect(() => parseDuration('soon')).toThrow(/^duration='soon'/);
  });
});
