/**
 * Kokoro's languages. The first letter of a voice name says which one it speaks
 * (hexgrad/Kokoro-82M VOICES.md); each maps to an espeak-ng voice for G2P. Japanese (j)
 * and Mandarin (z) voices need the misaki G2P, which espeak-ng cannot stand in for, so
 * the catalog leaves them out as the Python talkies does.
 */
export interface KokoroLanguage {
  /** The voice-name prefix letter. */
  code: 'a' | 'b' | 'e' | 'f' | 'h' | 'i' | 'p';
  /** BCP 47 tag reported in the voice catalog. */
  tag: string;
  /** The espeak-ng voice used for phonemes. */
  espeakVoice: string;
  /** English voices get Kokoro's English text normalisation and phoneme fixes. */
  english: boolean;
}

export const KOKORO_LANGUAGES: Readonly<Record<KokoroLanguage['code'], KokoroLanguage>> = {
  a: { code: 'a', tag: 'en-US', espeakVoice: 'en-us', english: true },
  // kokoro.js asks espeak-ng for `en`, which is its British English voice.
  b: { code: 'b', tag: 'en-GB', espeakVoice: 'en', english: true },
  e: { code: 'e', tag: 'es', espeakVoice: 'es', english: false },
  f: { code: 'f', tag: 'fr', espeakVoice: 'fr-fr', english: false },
  h: { code: 'h', tag: 'hi', espeakVoice: 'hi', english: false },
  i: { code: 'i', tag: 'it', espeakVoice: 'it', english: false },
  p: { code: 'p', tag: 'pt-BR', espeakVoice: 'pt-br', english: false },
};

/** ISO 639-1 codes the catalog covers, for the backend's capabilities. */
export const KOKORO_LANGUAGE_CODES = ['en', 'es', 'fr', 'hi', 'it', 'pt'] as const;

/** The language a voice name speaks, or undefined for ja/zh and names that are not Kokoro's. */
export function languageOfVoice(name: string): KokoroLanguage | undefined {
  if (!/^[a-z][fm]_[a-z0-9]+$/i.test(name)) return undefined;
  return KOKORO_LANGUAGES[name[0]!.toLowerCase() as KokoroLanguage['code']];
}

const LANGUAGE_ALIASES: Readonly<Record<string, KokoroLanguage['code']>> = {
  en: 'a', 'en-us': 'a', a: 'a', american: 'a',
  'en-gb': 'b', b: 'b', british: 'b',
  es: 'e', 'es-es': 'e', e: 'e', spanish: 'e',
  fr: 'f', 'fr-fr': 'f', f: 'f', french: 'f',
  hi: 'h', 'hi-in': 'h', h: 'h', hindi: 'h',
  it: 'i', 'it-it': 'i', i: 'i', italian: 'i',
  pt: 'p', 'pt-br': 'p', p: 'p', portuguese: 'p',
};

/**
 * The language a request's `language` field asks for (it overrides the voice's own), or
 * undefined when the field names none of Kokoro's languages.
 */
export function languageFromRequest(language: string): KokoroLanguage | undefined {
  const code = LANGUAGE_ALIASES[language.trim().toLowerCase().replace('_', '-')];
  return code === undefined ? undefined : KOKORO_LANGUAGES[code];
}

/** The accepted `language` values, for error messages. */
export function languageChoices(): string {
  return 'en, en-us, en-gb, es, fr, hi, it, pt, pt-br';
}
