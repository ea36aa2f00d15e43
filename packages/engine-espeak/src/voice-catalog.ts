import type { VoiceInfo } from '@talkies/core';
import { OPENAI_VOICE_ALIASES } from './openai-voice-aliases.js';

/** One row of `espeak-ng --voices`. */
export interface EspeakVoice {
  /** The language code column, used as the voice id (`en-us`, `fr-fr`, `cmn`). */
  language: string;
  /** The voice name column with underscores as spaces (`English (America)`). */
  name: string;
  /** The file column (`gmw/en-US`); passed to `-v` because some language codes are not. */
  file: string;
}

/**
 * Parses the table printed by `espeak-ng --voices` (Pty, Language, Age/Gender, VoiceName,
 * File, Other Languages). Columns overflow when a value is long, so rows are split on
 * whitespace and the file is told apart by its slash.
 */
export function parseVoiceTable(output: string): EspeakVoice[] {
  const voices: EspeakVoice[] = [];
  for (const line of output.split('\n').slice(1)) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 5) continue;
    const fileIndex = tokens.findIndex((token, index) => index >= 4 && token.includes('/'));
    if (fileIndex === -1) continue;
    voices.push({
      language: tokens[1],
      name: tokens.slice(3, fileIndex).join(' ').replaceAll('_', ' '),
      file: tokens[fileIndex],
    });
  }
  return voices;
}

/** The voices espeak-ng has, plus OpenAI's names as aliases, and the `voice+variant` rule. */
export class VoiceCatalog {
  /** Lower-cased language code → voice (the first voice of a language wins). */
  readonly #voices = new Map<string, EspeakVoice>();
  /** Lower-cased variant name → its spelling in espeak-ng-data/voices/!v. */
  readonly #variants = new Map<string, string>();
  readonly #aliases = new Map<string, string>();

  constructor(voices: readonly EspeakVoice[], variants: readonly EspeakVoice[]) {
    for (const voice of voices) {
      const key = voice.language.toLowerCase();
      if (!this.#voices.has(key)) this.#voices.set(key, voice);
    }
    for (const variant of variants) {
      const name = variant.file.slice(variant.file.lastIndexOf('/') + 1);
      this.#variants.set(name.toLowerCase(), name);
    }
    for (const [alias, target] of Object.entries(OPENAI_VOICE_ALIASES)) {
      if (this.#resolveVoiceWithVariant(target) !== undefined) this.#aliases.set(alias, target);
    }
  }

  /**
   * The `-v` argument for a requested voice: an alias, a language code, or
   * `<language code>+<variant>`; undefined when espeak-ng has no such voice.
   */
  resolve(voice: string): string | undefined {
    const key = voice.trim().toLowerCase();
    const alias = this.#aliases.get(key);
    return this.#resolveVoiceWithVariant(alias ?? key);
  }

  #resolveVoiceWithVariant(voice: string): string | undefined {
    const [base, variant, ...rest] = voice.toLowerCase().split('+');
    if (rest.length > 0) return undefined;
    const file = this.#voices.get(base)?.file;
    if (file === undefined) return undefined;
    if (variant === undefined) return file;
    const variantName = this.#variants.get(variant);
    return variantName === undefined ? undefined : `${file}+${variantName}`;
  }

  /** The catalog for GET /v1/audio/voices: the aliases first, then every language. */
  list(): VoiceInfo[] {
    const aliases: VoiceInfo[] = [...this.#aliases].map(([alias, target]) => ({
      id: alias,
      name: `${alias} (espeak-ng ${target})`,
      language: 'en',
      origin: 'builtin',
    }));
    const languages: VoiceInfo[] = [...this.#voices.values()].map((voice) => ({
      id: voice.language,
      name: voice.name,
      language: voice.language,
      origin: 'builtin',
    }));
    return [...aliases, ...languages];
  }

  /** A short list for error messages: the aliases and the first languages. */
  suggestions(languages = 20): string {
    const ids = [...this.#aliases.keys(), ...[...this.#voices.values()].slice(0, languages).map((voice) => voice.language)];
    const more = Math.max(0, this.#voices.size - languages);
    return `${ids.join(', ')}${more > 0 ? ` (and ${more} more)` : ''}; voice+variant such as en-us+f3 also works; see GET /v1/audio/voices`;
  }
}
