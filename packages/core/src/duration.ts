/**
 * Durations as the Python talkies accepts them: bare seconds (`600`, `1.5`) or Go-style
 * (`1h30m5s`, `250ms`, `2m`). Returns seconds.
 */
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001, µs: 0.000001, ns: 1e-9 };

export function parseDuration(value: string, name = 'duration'): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const pattern = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    total += Number(match[1]) * UNIT_SECONDS[match[2]!]!;
    matched = pattern.lastIndex;
  }
  if (text === '' || matched !== text.length) {
    throw new Error(`${name}='${value}' is not a duration; use seconds (600) or Go-style (1h30m5s, 90s, 0 to disable)`);
  }
  return total;
}
