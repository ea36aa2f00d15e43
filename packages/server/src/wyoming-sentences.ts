/**
 * Streaming synthesis (`synthesize-chunk`) sends text in pieces that need not end on a
 * sentence or even a word. This buffer releases whole sentences as soon as they are
 * complete, so speech starts before the text has all arrived; a run without a sentence
 * end is cut at a space once it is long, so a client that never ends a sentence does not
 * delay all speech to the end.
 */

/**
 * A sentence end: terminal punctuation and closing quotes or brackets, then white space
 * (Latin scripts); CJK full-width terminal punctuation, which needs no space; a line break.
 */
const SENTENCE_END = /[.!?…]+["'”’)\]]*\s+|[。！？]+[”’」』）]*\s*|\n+/g;

export class SentenceBuffer {
  #text = '';
  readonly #longRun: number;

  /** @param longRun Characters after which text without a sentence end is cut at its last space. */
  constructor(longRun = 400) {
    this.#longRun = longRun;
  }

  /** Characters held back, waiting for the end of their sentence. */
  get length(): number {
    return this.#text.length;
  }

  /** Add text; returns the sentences it completed (trimmed, non-blank). */
  push(text: string): string[] {
    this.#text += text;
    const sentences: string[] = [];
    let from = 0;
    for (const match of this.#text.matchAll(SENTENCE_END)) {
      // The white space is part of the match, so "3." followed by "5" later is not an end.
      const end = match.index + match[0].length;
      sentences.push(this.#text.slice(from, end));
      from = end;
    }
    this.#text = this.#text.slice(from);
    while (this.#text.length > this.#longRun) {
      const space = this.#text.lastIndexOf(' ', this.#longRun);
      const cut = space > 0 ? space + 1 : this.#longRun;
      sentences.push(this.#text.slice(0, cut));
      this.#text = this.#text.slice(cut);
    }
    return sentences.map((sentence) => sentence.trim()).filter((sentence) => sentence !== '');
  }

  /** The text still held (the last sentence), and empty the buffer. */
  flush(): string {
    const rest = this.#text.trim();
    this.#text = '';
    return rest;
  }
}
