/**
 * Splits text into sentences, the unit of streaming: each sentence is phonemised and
 * synthesised on its own and sent as soon as it is ready.
 *
 * The rules are those of kokoro.js's `TextSplitterStream`, so that a paragraph becomes
 * the same pieces here as there (the differential test depends on it): a sentence ends
 * at `.`, `!`, `?`, `…`, the CJK stops or a line break, outside quotes and brackets,
 * followed by whitespace; closing quotes and brackets stay with it; abbreviations,
 * initials, numbered list items, a full stop before a lowercase word, and URLs or e-mail
 * addresses do not end one. The Devanagari danda (।) also ends a sentence, for Hindi.
 */

const TERMINATORS = '.!?…。？！।';
const CLOSERS_AFTER_TERMINATOR = '"\')]}」』';
const BRACKET_PAIRS: ReadonlyMap<string, string> = new Map([
  [')', '('], [']', '['], ['}', '{'], ['》', '《'], ['〉', '〈'], ['›', '‹'], ['»', '«'],
  ['」', '「'], ['』', '『'], ['〕', '〔'], ['】', '【'],
]);
const OPENING_BRACKETS = new Set(BRACKET_PAIRS.values());

/** Words that end with a full stop without ending the sentence. */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'sgt', 'col', 'gen', 'rep', 'sen', 'gov', 'lt', 'maj', 'capt',
  'st', 'mt', 'etc', 'co', 'inc', 'ltd', 'dept', 'vs', 'p', 'pg',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'sun', 'mon', 'tu', 'tue', 'tues', 'wed', 'th', 'thu', 'thur', 'thurs', 'fri', 'sat',
]);

function isTerminator(character: string | undefined, newlineCounts = true): boolean {
  if (character === undefined) return false;
  return TERMINATORS.includes(character) || (newlineCounts && character === '\n');
}

function isAbbreviation(word: string): boolean {
  const bare = word.replace(/['’]s$/i, '').replace(/\.+$/, '');
  return ABBREVIATIONS.has(bare.toLowerCase());
}

/** Keeps `open` (the stack of unclosed quotes and brackets) up to date with one character. */
function trackNesting(open: string[], text: string, index: number): void {
  const character = text[index]!;
  if (character === '"' || character === "'") {
    // An apostrophe inside a word ("don't") is not a quote.
    const inWord = character === "'" && index > 0 && index < text.length - 1 && /[A-Za-z]/.test(text[index - 1]!) && /[A-Za-z]/.test(text[index + 1]!);
    if (inWord) return;
    if (open.at(-1) === character) open.pop();
    else open.push(character);
    return;
  }
  if (OPENING_BRACKETS.has(character)) {
    open.push(character);
    return;
  }
  const opening = BRACKET_PAIRS.get(character);
  if (opening !== undefined && open.at(-1) === opening) open.pop();
}

/** Splits `text` into trimmed sentences; none of them is empty. */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  const open: string[] = [];
  const length = text.length;
  let start = 0;
  let index = 0;
  while (index < length) {
    const character = text[index]!;
    trackNesting(open, text, index);
    if (open.length > 0 || !isTerminator(character)) {
      index++;
      continue;
    }
    // "1." at the start of a line is a list number.
    if (/(^|\n)\d+$/.test(text.slice(start, index))) {
      index++;
      continue;
    }
    // The sentence runs on over further terminators ("?!", "...") and closing quotes.
    let end = index;
    while (end + 1 < length && isTerminator(text[end + 1], false)) end++;
    while (end + 1 < length && CLOSERS_AFTER_TERMINATOR.includes(text[end + 1]!)) end++;
    let next = end + 1;
    while (next < length && /\s/.test(text[next]!)) next++;
    // A terminator glued to the next character ("3.14", "e.g") does not end a sentence.
    if (index === next - 1 && character !== '\n') {
      index++;
      continue;
    }
    // The rest is whitespace: whatever is left is the last sentence.
    if (next === length) break;
    let wordStart = index - 1;
    while (wordStart >= 0 && /\S/.test(text[wordStart]!)) wordStart--;
    wordStart = Math.max(start, wordStart + 1);
    let wordEnd = wordStart;
    while (wordEnd < length && !/\s/.test(text[wordEnd]!)) wordEnd++;
    const word = text.slice(wordStart, wordEnd);
    if (word === '') {
      index++;
      continue;
    }
    if ((/https?[,:]\/\//.test(word) || word.includes('@')) && !isTerminator(word.at(-1))) {
      index = wordStart + word.length;
      continue;
    }
    if (isAbbreviation(word)) {
      index++;
      continue;
    }
    const following = text[next];
    if (/^([A-Za-z]\.)+$/.test(word) && following !== undefined && /[A-Z]/.test(following)) {
      index++;
      continue;
    }
    if (character === '.' && following !== undefined && /[a-z]/.test(following)) {
      index++;
      continue;
    }
    const sentence = text.slice(start, end + 1).trim();
    if (sentence === '...' || sentence === '…') {
      index++;
      continue;
    }
    if (sentence !== '') sentences.push(sentence);
    start = end + 1;
    index = start;
  }
  const rest = text.slice(start).trim();
  if (rest !== '') sentences.push(rest);
  return sentences;
}
