/**
 * Splits text into sentences for streaming: after `.`, `!`, `?` or `…` followed by
 * whitespace, after the CJK full stops (which take no space), and at line breaks. The
 * punctuation stays with its sentence, so each piece is spoken with the right intonation.
 */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?…])\s+|(?<=[。！？])\s*|\n+/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => sentence !== '');
}
