/**
 * Choosing the next code from logits: repetition penalty, then temperature, top-k and
 * top-p, then a draw from a seedable generator (core's `seededRandom`), or the arg-max
 * when sampling is off. The order is the one Hugging Face's logits processors apply.
 */
export interface SamplingSettings {
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
}

/** Penalises ids already generated: positive logits are divided by the penalty, negative ones multiplied. */
export function applyRepetitionPenalty(logits: Float32Array, previous: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(previous)) {
    if (id < 0 || id >= logits.length) continue;
    const value = logits[id]!;
    logits[id] = value > 0 ? value / penalty : value * penalty;
  }
}

export function argMax(logits: Float32Array): number {
  let best = 0;
  for (let index = 1; index < logits.length; index++) if (logits[index]! > logits[best]!) best = index;
  return best;
}

/**
 * Picks one id. `logits` may be changed. Greedy when `doSample` is false or the
 * temperature is 0; otherwise `random()` (uniform in [0, 1)) is called exactly once.
 */
export function sample(logits: Float32Array, settings: SamplingSettings, random: () => number): number {
  if (!settings.doSample || settings.temperature === 0) return argMax(logits);
  const candidates: number[] = [];
  for (let index = 0; index < logits.length; index++) if (logits[index]! > -Infinity) candidates.push(index);
  if (candidates.length === 0) return argMax(logits);
  candidates.sort((a, b) => logits[b]! - logits[a]! || a - b);
  const kept = candidates.slice(0, Math.max(1, Math.min(settings.topK, candidates.length)));
  const top = logits[kept[0]!]! / settings.temperature;
  const weights = kept.map((id) => Math.exp(logits[id]! / settings.temperature - top));
  let total = weights.reduce((sum, weight) => sum + weight, 0);
  if (settings.topP < 1) {
    // Keep the smallest prefix whose probability reaches top_p (always at least one id).
    let cumulative = 0;
    let count = 0;
    while (count < weights.length) {
      cumulative += weights[count]! / total;
      count++;
      if (cumulative >= settings.topP) break;
    }
    kept.length = count;
    weights.length = count;
    total = weights.reduce((sum, weight) => sum + weight, 0);
  }
  let threshold = random() * total;
  for (let index = 0; index < kept.length; index++) {
    threshold -= weights[index]!;
    if (threshold < 0) return kept[index]!;
  }
  return kept[kept.length - 1]!;
}
