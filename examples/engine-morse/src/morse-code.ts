/**
 * Text to Morse code timing (ITU-R M.1677-1): a dot is one unit of tone, a dash three,
 * the gap inside a character one unit of silence, between characters three, between
 * words seven. At W words per minute one unit lasts 1.2 / W seconds ("PARIS " is 50 units).
 */

const CODES: ReadonlyMap<string, string> = new Map(Object.entries({
  a: '.-', b: '-...', c: '-.-.', d: '-..', e: '.', f: '..-.', g: '--.', h: '....', i: '..', j: '.---',
  k: '-.-', l: '.-..', m: '--', n: '-.', o: '---', p: '.--.', q: '--.-', r: '.-.', s: '...', t: '-',
  u: '..-', v: '...-', w: '.--', x: '-..-', y: '-.--', z: '--..',
  '0': '-----', '1': '.----', '2': '..---', '3': '...--', '4': '....-',
  '5': '.....', '6': '-....', '7': '--...', '8': '---..', '9': '----.',
  '.': '.-.-.-', ',': '--..--', '?': '..--..', "'": '.----.', '!': '-.-.--', '/': '-..-.', '(': '-.--.',
  ')': '-.--.-', '&': '.-...', ':': '---...', ';': '-.-.-.', '=': '-...-', '+': '.-.-.', '-': '-....-',
  '"': '.-..-.', '@': '.--.-.',
}));

/** One stretch of tone or silence, in units. */
export interface MorseElement {
  tone: boolean;
  units: number;
  /** True on the seven-unit gap between words: a place where a stream may cut. */
  wordGap?: boolean;
}

export interface MorsePlan {
  elements: MorseElement[];
  /** Sum of the elements' units. */
  units: number;
  /** Characters of the text that Morse code cannot send (dropped), each once. */
  unsupported: string[];
}

/** The Morse code of one character ('.' and '-'), or undefined when it has none. */
export function morseCode(character: string): string | undefined {
  return CODES.get(character.toLowerCase());
}

/** Plans the tones and gaps that send `text`. Whitespace separates words; unknown characters are dropped. */
export function planMorse(text: string): MorsePlan {
  const elements: MorseElement[] = [];
  const unsupported = new Set<string>();
  let units = 0;
  const push = (element: MorseElement) => {
    elements.push(element);
    units += element.units;
  };
  for (const word of text.split(/\s+/)) {
    const codes: string[] = [];
    for (const character of word) {
      const code = morseCode(character);
      if (code) codes.push(code);
      else unsupported.add(character);
    }
    if (codes.length === 0) continue;
    if (elements.length > 0) push({ tone: false, units: 7, wordGap: true });
    codes.forEach((code, index) => {
      if (index > 0) push({ tone: false, units: 3 });
      [...code].forEach((symbol, position) => {
        if (position > 0) push({ tone: false, units: 1 });
        push({ tone: true, units: symbol === '.' ? 1 : 3 });
      });
    });
  }
  return { elements, units, unsupported: [...unsupported] };
}

/** Seconds per unit at `wordsPerMinute`. */
export function unitSeconds(wordsPerMinute: number): number {
  return 1.2 / wordsPerMinute;
}

/**
 * Splits a plan at word gaps into pieces of at least `minimumUnits` (the last may be
 * shorter); each piece keeps the gap that ends it, so the pieces joined are the whole.
 */
export function splitAtWords(elements: readonly MorseElement[], minimumUnits: number): MorseElement[][] {
  const pieces: MorseElement[][] = [];
  let piece: MorseElement[] = [];
  let units = 0;
  for (const element of elements) {
    piece.push(element);
    units += element.units;
    if (element.wordGap && units >= minimumUnits) {
      pieces.push(piece);
      piece = [];
      units = 0;
    }
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}
