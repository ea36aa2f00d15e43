/**
 * Text normalisation for the English voices, before espeak-ng sees the text.
 *
 * It follows the rules of Kokoro's own JavaScript front end (kokoro.js `normalize_text`)
 * one for one, in the same order, because the model was trained on text prepared this
 * way and because the differential test compares our phoneme ids with kokoro-js's. Some
 * rules are odd on purpose (only the first run of spaces collapses; dates stay as digits);
 * changing them changes what the model hears.
 */

/** `$`/`£` amount → words; `amount` is everything after the currency sign. */
function spellMoney(match: string): string {
  const dollars = match[0] === '$';
  const unit = dollars ? 'dollar' : 'pound';
  const amount = match.slice(1);
  // "5 hundred", "1.5 million": the scale word goes before the unit.
  if (Number.isNaN(Number(amount))) return `${amount} ${unit}s`;
  if (!amount.includes('.')) return `${amount} ${unit}${amount === '1' ? '' : 's'}`;
  const [whole, fraction] = amount.split('.') as [string, string];
  const cents = Number.parseInt(fraction.padEnd(2, '0'), 10);
  const small = dollars ? (cents === 1 ? 'cent' : 'cents') : cents === 1 ? 'penny' : 'pence';
  return `${whole} ${unit}${whole === '1' ? '' : 's'} and ${cents} ${small}`;
}

/** Four-digit years ("1990" → "19 90") and clock times ("9:05" → "9 oh 5"); decimals pass. */
function spellYearOrTime(match: string): string {
  if (match.includes('.')) return match;
  if (match.includes(':')) {
    const [hours, minutes] = match.split(':').map(Number) as [number, number];
    if (minutes === 0) return `${hours} o'clock`;
    return minutes < 10 ? `${hours} oh ${minutes}` : `${hours} ${minutes}`;
  }
  const year = Number.parseInt(match.slice(0, 4), 10);
  // Years before 1100 and x000..x009 are read as ordinary numbers.
  if (year < 1100 || year % 1000 < 10) return match;
  const century = match.slice(0, 2);
  const rest = Number.parseInt(match.slice(2, 4), 10);
  const plural = match.endsWith('s') ? 's' : '';
  const inHundreds = year % 1000 >= 100;
  if (inHundreds && rest === 0) return `${century} hundred${plural}`;
  if (inHundreds && rest < 10) return `${century} oh ${rest}${plural}`;
  return `${century} ${rest}${plural}`;
}

/** "3.14" → "3 point 1 4". */
function spellDecimal(match: string): string {
  const [whole, fraction] = match.split('.') as [string, string];
  return `${whole} point ${[...fraction].join(' ')}`;
}

type Rule = readonly [RegExp, string | ((match: string) => string)];

const RULES: readonly Rule[] = [
  // Quotes and brackets to the forms the vocabulary has (or deletes).
  [/[‘’]/g, "'"],
  [/«/g, '“'],
  [/»/g, '”'],
  [/[“”]/g, '"'],
  [/\(/g, '«'],
  [/\)/g, '»'],
  // CJK punctuation to ASCII plus a space.
  [/、/g, ', '],
  [/。/g, '. '],
  [/！/g, '! '],
  [/，/g, ', '],
  [/：/g, ': '],
  [/；/g, '; '],
  [/？/g, '? '],
  // Tabs and other blanks become spaces; newlines stay.
  [/[^\S \n]/g, ' '],
  // Only the first run of spaces collapses (no `g`), as in the reference.
  [/ {2,}/, ' '],
  [/(?<=\n) +(?=\n)/g, ''],
  // Titles.
  [/\bD[Rr]\.(?= [A-Z])/g, 'Doctor'],
  [/\b(?:Mr\.|MR\.(?= [A-Z]))/g, 'Mister'],
  [/\b(?:Ms\.|MS\.(?= [A-Z]))/g, 'Miss'],
  [/\b(?:Mrs\.|MRS\.(?= [A-Z]))/g, 'Mrs'],
  [/\betc\.(?! [A-Z])/gi, 'etc'],
  [/\b(y)eah?\b/gi, "$1e'a"],
  // Numbers: years and times, thousands separators, money, decimals, ranges.
  [/\d*\.\d+|\b\d{4}s?\b|(?<!:)\b(?:[1-9]|1[0-2]):[0-5]\d\b(?!:)/g, spellYearOrTime],
  [/(?<=\d),(?=\d)/g, ''],
  [/[$£]\d+(?:\.\d+)?(?: hundred| thousand| (?:[bm]|tr)illion)*\b|[$£]\d+\.\d\d?\b/gi, spellMoney],
  [/\d*\.\d+/g, spellDecimal],
  [/(?<=\d)-(?=\d)/g, ' to '],
  [/(?<=\d)S/g, ' S'],
  // Plurals and possessives of capitalised abbreviations ("CDs" → "CD'S").
  [/(?<=[BCDFGHJ-NP-TV-Z])'?s\b/g, "'S"],
  [/(?<=X')S\b/g, 's'],
  // Initials: "U.S. army" → "U-S- army", "A.B" → "A-B".
  [/(?:[A-Za-z]\.){2,} [a-z]/g, (match) => match.replace(/\./g, '-')],
  [/(?<=[A-Z])\.(?=[A-Z])/gi, '-'],
];

/** Normalise English text the way Kokoro's reference front end does. */
export function normalizeEnglish(text: string): string {
  let result = text;
  for (const [pattern, replacement] of RULES) {
    result = typeof replacement === 'string' ? result.replace(pattern, replacement) : result.replace(pattern, replacement);
  }
  return result.trim();
}

/**
 * The language-independent part, for the other languages: quotes, brackets, CJK
 * punctuation and blanks. espeak-ng reads numbers and abbreviations in each language
 * itself, so the English spellings above would be wrong there.
 */
export function normalizeGeneric(text: string): string {
  let result = text;
  for (const [pattern, replacement] of RULES.slice(0, 16)) {
    result = typeof replacement === 'string' ? result.replace(pattern, replacement) : result.replace(pattern, replacement);
  }
  return result.trim();
}
