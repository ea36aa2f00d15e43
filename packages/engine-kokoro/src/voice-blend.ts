/**
 * Voice names and blends. A request's `voice` is one catalog voice (`af_heart`) or a
 * blend of several, as Kokoro-FastAPI writes them: `af_bella+af_sky` mixes the style
 * tables equally, `af_bella(2)+af_sky(1)` by weight. A blend speaks the language of its
 * first voice.
 */
import { SpeechError } from '@talkies/core';

export interface VoiceComponent {
  name: string;
  weight: number;
}

const COMPONENT = /^([A-Za-z0-9_-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?$/;

/** Parses a voice or a blend; throws a 400 that shows the syntax when it is malformed. */
export function parseVoice(voice: string, modelId: string): VoiceComponent[] {
  const parts = voice.split('+').map((part) => part.trim());
  const components: VoiceComponent[] = [];
  for (const part of parts) {
    const match = COMPONENT.exec(part);
    const weight = match?.[2] === undefined ? 1 : Number(match[2]);
    if (!match || !(weight > 0) || !Number.isFinite(weight)) {
      throw new SpeechError(
        'INVALID_REQUEST',
        `voice '${voice}' for model '${modelId}' is not a voice name or a blend; write one voice (af_heart), a blend (af_bella+af_sky) or a weighted blend (af_bella(2)+af_sky(1)) with positive weights`,
        { param: 'voice', model: modelId },
      );
    }
    components.push({ name: match[1]!, weight });
  }
  return components;
}

/** The weighted mean of equally sized tables. */
export function blendTables(tables: readonly Float32Array[], weights: readonly number[]): Float32Array {
  if (tables.length === 1) return tables[0]!;
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const blended = new Float32Array(tables[0]!.length);
  for (let index = 0; index < blended.length; index++) {
    let value = 0;
    for (let table = 0; table < tables.length; table++) value += tables[table]![index]! * weights[table]!;
    blended[index] = value / total;
  }
  return blended;
}
