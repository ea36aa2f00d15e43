/**
 * Text → Kokoro phoneme string for one sentence: normalise, cut at punctuation, let
 * espeak-ng phonemise the words between the punctuation, put the punctuation back as
 * it was, then apply Kokoro's fixes to espeak-ng's IPA.
 */
import { normalizeEnglish, normalizeGeneric } from './english-normalizer.js';
import { espeakIpa, mapLimited, PARALLEL_PROCESSES } from './espeak-phonemes.js';
import type { KokoroLanguage } from './languages.js';

/** Punctuation the model sees as tokens; runs of it (with the blanks around) stay verbatim. */
const PUNCTUATION_RUN = /(?:\s*[;:,.!?¡¿—…"«»“”(){}[\]]+\s*)+/g;

/** espeak-ng's language-switch marks, e.g. "(en)wiːkˈɛnd(fr)". */
const LANGUAGE_SWITCH = /\([a-z]{2,3}(?:-[a-z0-9]+)*\)/gi;

export interface TextPiece {
  text: string;
  /** True for a run of punctuation, which is copied, not phonemised. */
  punctuation: boolean;
}

/** Cuts text into runs of punctuation and the text between them, in order. */
export function splitAtPunctuation(text: string): TextPiece[] {
  const pieces: TextPiece[] = [];
  let last = 0;
  for (const match of text.matchAll(PUNCTUATION_RUN)) {
    if (match.index > last) pieces.push({ text: text.slice(last, match.index), punctuation: false });
    if (match[0].length > 0) pieces.push({ text: match[0], punctuation: true });
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last), punctuation: false });
  return pieces;
}

/** Kokoro's corrections to espeak-ng's IPA (kokoro.js applies the same). */
export function fixPhonemes(phonemes: string, language: KokoroLanguage): string {
  let fixed = phonemes
    .replace(/kəkˈoːɹoʊ/g, 'kˈoʊkəɹoʊ')
    .replace(/kəkˈɔːɹəʊ/g, 'kˈəʊkəɹəʊ')
    .replace(/ʲ/g, 'j')
    .replace(/r/g, 'ɹ')
    .replace(/x/g, 'k')
    .replace(/ɬ/g, 'l')
    .replace(/(?<=[a-zɹː])(?=hˈʌndɹɪd)/g, ' ')
    .replace(/ z(?=[;:,.!?¡¿—…"«»“” ]|$)/g, 'z');
  if (language.code === 'a') fixed = fixed.replace(/(?<=nˈaɪn)ti(?!ː)/g, 'di');
  return fixed.trim();
}

export type PhonemizeFunction = (text: string, voice: string, signal?: AbortSignal) => Promise<string[]>;

/** One sentence to phonemes, in the voice's (or the requested) language. */
export async function phonemize(
  text: string,
  language: KokoroLanguage,
  signal?: AbortSignal,
  runEspeak: PhonemizeFunction = espeakIpa,
): Promise<string> {
  const normalized = language.english ? normalizeEnglish(text) : normalizeGeneric(text);
  const pieces = splitAtPunctuation(normalized);
  const spoken = await mapLimited(pieces, PARALLEL_PROCESSES, async (piece) => {
    if (piece.punctuation) return piece.text;
    const lines = await runEspeak(piece.text, language.espeakVoice, signal);
    return lines.join(' ').replace(LANGUAGE_SWITCH, '');
  });
  return fixPhonemes(spoken.join(''), language);
}
