/**
 * A byte-level BPE tokenizer for the Qwen2/Qwen3 `tokenizer.json` (Hugging Face tokenizers
 * format): added tokens split first, then Qwen's pre-tokenizer pattern, bytes mapped to
 * printable characters (GPT-2's table), and merges applied by rank.
 */

/** GPT-2's reversible byte → character table. */
function byteTable(): { toCharacter: string[]; toByte: Map<string, number> } {
  const toCharacter: string[] = [];
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    toCharacter[byte] = String.fromCodePoint(printable ? byte : 256 + extra++);
  }
  return { toCharacter, toByte: new Map(toCharacter.map((character, byte) => [character, byte])) };
}

const BYTES = byteTable();
/** Qwen2's pre-tokenizer split pattern. */
const PIECES = /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export interface TokenizerJson {
  model: { type?: string; vocab: Record<string, number>; merges: Array<string | [string, string]> };
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
}

export class QwenTokenizer {
  readonly #vocabulary: Map<string, number>;
  readonly #pieces: string[] = [];
  readonly #ranks = new Map<string, number>();
  readonly #added = new Map<string, number>();
  readonly #special = new Set<number>();
  readonly #addedPattern?: RegExp;

  constructor(json: TokenizerJson) {
    if (!json.model?.vocab || !Array.isArray(json.model.merges)) throw new Error('tokenizer.json has no BPE model (model.vocab and model.merges)');
    this.#vocabulary = new Map(Object.entries(json.model.vocab));
    for (const [piece, id] of this.#vocabulary) this.#pieces[id] = piece;
    json.model.merges.forEach((merge, rank) => {
      const [left, right] = typeof merge === 'string' ? merge.split(' ') : merge;
      this.#ranks.set(`${left} ${right}`, rank);
    });
    for (const token of json.added_tokens ?? []) {
      this.#added.set(token.content, token.id);
      this.#pieces[token.id] = token.content;
      if (token.special !== false) this.#special.add(token.id);
    }
    if (this.#added.size > 0) {
      const escaped = [...this.#added.keys()].sort((a, b) => b.length - a.length).map((text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      this.#addedPattern = new RegExp(`(${escaped.join('|')})`);
    }
  }

  /** The id of an added (special) token such as `<|im_end|>`. */
  special(content: string): number | undefined {
    return this.#added.get(content);
  }

  get size(): number {
    return this.#pieces.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    const parts = this.#addedPattern ? text.split(this.#addedPattern) : [text];
    for (const part of parts) {
      if (part === '') continue;
      const added = this.#added.get(part);
      if (added !== undefined) {
        ids.push(added);
        continue;
      }
      for (const match of part.matchAll(PIECES)) {
        const characters = [...new TextEncoder().encode(match[0])].map((byte) => BYTES.toCharacter[byte]!);
        for (const piece of this.#bytePairs(characters)) {
          const id = this.#vocabulary.get(piece);
          if (id === undefined) throw new Error(`tokenizer.json has no piece ${JSON.stringify(piece)}`);
          ids.push(id);
        }
      }
    }
    return ids;
  }

  #bytePairs(symbols: string[]): string[] {
    const parts = [...symbols];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let index = 0; index + 1 < parts.length; index++) {
        const rank = this.#ranks.get(`${parts[index]} ${parts[index + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = index;
        }
      }
      if (best < 0) return parts;
      parts.splice(best, 2, parts[best]! + parts[best + 1]!);
    }
  }

  /** Text of ids; special tokens are dropped, invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (this.#special.has(id)) continue;
      const piece = this.#pieces[id];
      if (piece === undefined) continue;
      if (this.#added.has(piece)) {
        bytes.push(...new TextEncoder().encode(piece));
        continue;
      }
      for (const character of piece) {
        const byte = BYTES.toByte.get(character);
        if (byte !== undefined) bytes.push(byte);
      }
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }
}

/** The GPT-2 byte → character table (for writing test vocabularies). */
export function byteCharacters(): readonly string[] {
  return BYTES.toCharacter;
}
