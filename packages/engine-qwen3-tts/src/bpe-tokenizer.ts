/**
 * The Qwen2 text tokenizer: byte-level BPE over `vocab.json` and `merges.txt`, with the
 * added (special) tokens of `tokenizer_config.json` matched before anything else. Only
 * encoding is needed: the talker reads text, it never writes it.
 */

/** GPT-2's byte ↔ printable-character table: printable bytes keep their code point, the others move past 255. */
function byteCharacters(): string[] {
  const printable: number[] = [];
  for (let byte = 33; byte <= 126; byte++) printable.push(byte);
  for (let byte = 161; byte <= 172; byte++) printable.push(byte);
  for (let byte = 174; byte <= 255; byte++) printable.push(byte);
  const table = new Array<string>(256);
  for (const byte of printable) table[byte] = String.fromCodePoint(byte);
  let next = 256;
  for (let byte = 0; byte < 256; byte++) if (table[byte] === undefined) table[byte] = String.fromCodePoint(next++);
  return table;
}

export const BYTE_CHARACTERS = byteCharacters();

/** The byte order of the first 256 vocabulary entries in GPT-2-style vocabularies (Qwen2's included). */
export function byteOrder(): number[] {
  const printable: number[] = [];
  for (let byte = 33; byte <= 126; byte++) printable.push(byte);
  for (let byte = 161; byte <= 172; byte++) printable.push(byte);
  for (let byte = 174; byte <= 255; byte++) printable.push(byte);
  const rest: number[] = [];
  for (let byte = 0; byte < 256; byte++) if (!printable.includes(byte)) rest.push(byte);
  return [...printable, ...rest];
}

/** Qwen2's pre-tokenizer pattern (contractions spelled out: JavaScript has no inline `(?i:)`). */
const PRETOKENIZE =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export interface TokenizerFiles {
  /** `vocab.json`: token → id. */
  vocab: Record<string, number>;
  /** `merges.txt`: one "a b" merge per line, by priority (a `#version` header is skipped). */
  merges: string;
  /** Added tokens (content → id), from tokenizer_config.json's `added_tokens_decoder`. */
  added: Record<string, number>;
}

/** Reads the added tokens of a `tokenizer_config.json`. */
export function addedTokensOf(tokenizerConfig: unknown): Record<string, number> {
  const decoder = (tokenizerConfig as { added_tokens_decoder?: Record<string, { content?: unknown }> } | undefined)?.added_tokens_decoder ?? {};
  const added: Record<string, number> = {};
  for (const [id, token] of Object.entries(decoder)) {
    if (typeof token?.content === 'string' && /^\d+$/.test(id)) added[token.content] = Number(id);
  }
  return added;
}

export class BpeTokenizer {
  readonly #vocab: Map<string, number>;
  readonly #ranks = new Map<string, number>();
  readonly #added: Map<string, number>;
  readonly #addedPattern: RegExp | undefined;
  readonly #cache = new Map<string, number[]>();

  constructor(files: TokenizerFiles) {
    this.#vocab = new Map(Object.entries(files.vocab));
    let rank = 0;
    for (const line of files.merges.split('\n')) {
      if (line === '' || line.startsWith('#version')) continue;
      this.#ranks.set(line.replace(/\r$/, ''), rank++);
    }
    this.#added = new Map(Object.entries(files.added));
    const contents = [...this.#added.keys()].sort((a, b) => b.length - a.length);
    this.#addedPattern = contents.length > 0 ? new RegExp(contents.map((content) => content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : undefined;
  }

  /** The id of an added token, or undefined. */
  special(content: string): number | undefined {
    return this.#added.get(content);
  }

  /** Text to ids: added tokens stay whole, everything else goes through NFC, the pre-tokenizer and BPE. */
  encode(text: string): number[] {
    const ids: number[] = [];
    let position = 0;
    if (this.#addedPattern) {
      this.#addedPattern.lastIndex = 0;
      for (let match = this.#addedPattern.exec(text); match; match = this.#addedPattern.exec(text)) {
        this.#encodePlain(text.slice(position, match.index), ids);
        ids.push(this.#added.get(match[0])!);
        position = match.index + match[0].length;
      }
    }
    this.#encodePlain(text.slice(position), ids);
    return ids;
  }

  #encodePlain(text: string, ids: number[]): void {
    if (text === '') return;
    for (const match of text.normalize('NFC').matchAll(PRETOKENIZE)) {
      const word = [...new TextEncoder().encode(match[0])].map((byte) => BYTE_CHARACTERS[byte]!).join('');
      for (const id of this.#word(word)) ids.push(id);
    }
  }

  #word(word: string): number[] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    let parts = [...word];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let index = 0; index < parts.length - 1; index++) {
        const rank = this.#ranks.get(`${parts[index]} ${parts[index + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = index;
        }
      }
      if (best < 0) break;
      const merged = parts[best]! + parts[best + 1]!;
      const next: string[] = [];
      for (let index = 0; index < parts.length; index++) {
        if (parts[index] === parts[best] && parts[index + 1] === parts[best + 1] && index < parts.length - 1) {
          next.push(merged);
          index++;
        } else next.push(parts[index]!);
      }
      parts = next;
    }
    const ids = parts.map((part) => {
      const id = this.#vocab.get(part);
      if (id !== undefined) return id;
      // Every single byte character is in a byte-level vocabulary; a part that is not is a broken vocab.json.
      throw new Error(`the tokenizer vocabulary has no entry for '${part}'`);
    });
    if (this.#cache.size < 10_000) this.#cache.set(word, ids);
    return ids;
  }
}
