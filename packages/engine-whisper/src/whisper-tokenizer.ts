/**
 * Whisper's tokenizer, read from a Hugging Face `tokenizer.json`: byte-level BPE text
 * tokens, then the added tokens (end of text, start of transcript, languages, tasks, the
 * other specials and the 1501 timestamps). Decoding keeps OpenAI's behaviour: text tokens'
 * bytes joined and read as UTF-8 with replacement characters, no clean-up of spaces.
 */
import { bytesToTokenString, characterToByte } from './byte-level.js';

export interface TokenizerJson {
  model: { type?: string; vocab: Record<string, number>; merges?: Array<string | [string, string]> };
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
}

/** GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, whitespace. */
const PRE_TOKENIZER = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export class WhisperTokenizer {
  /** Number of token ids (text vocabulary plus added tokens). */
  readonly size: number;
  readonly #tokens: string[];
  readonly #ids: Map<string, number>;
  readonly #added: Set<number>;
  readonly #mergeRanks: Map<string, number>;
  readonly #cache = new Map<string, number[]>();
  readonly #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(json: TokenizerJson) {
    if (!json.model?.vocab) throw new Error('tokenizer.json has no model.vocab');
    this.#ids = new Map(Object.entries(json.model.vocab));
    this.#added = new Set();
    for (const token of json.added_tokens ?? []) {
      this.#ids.set(token.content, token.id);
      this.#added.add(token.id);
    }
    let size = 0;
    for (const id of this.#ids.values()) size = Math.max(size, id + 1);
    this.size = size;
    this.#tokens = new Array(size).fill('');
    for (const [token, id] of this.#ids) this.#tokens[id] = token;
    this.#mergeRanks = new Map();
    (json.model.merges ?? []).forEach((merge, rank) => {
      const [left, right] = typeof merge === 'string' ? splitMerge(merge) : merge;
      this.#mergeRanks.set(`${left} ${right}`, rank);
    });
  }

  /** The id of a token given in its vocabulary form (`<|en|>`, `Ġthe`), or undefined. */
  id(token: string): number | undefined {
    return this.#ids.get(token);
  }

  /** The vocabulary form of an id (`''` when unknown). */
  token(id: number): string {
    return this.#tokens[id] ?? '';
  }

  /** True for ids that are added tokens (specials and timestamps). */
  isAdded(id: number): boolean {
    return this.#added.has(id);
  }

  /** The bytes of the text tokens among `ids` (added tokens are skipped). */
  bytes(ids: readonly number[]): Uint8Array {
    const bytes: number[] = [];
    for (const id of ids) {
      if (this.#added.has(id)) continue;
      for (const character of this.#tokens[id] ?? '') {
        const byte = characterToByte.get(character);
        if (byte !== undefined) bytes.push(byte);
      }
    }
    return Uint8Array.from(bytes);
  }

  /** Text of the text tokens among `ids`. */
  decode(ids: readonly number[]): string {
    return this.#decoder.decode(this.bytes(ids));
  }

  /** Text tokens for `text` (no special tokens are recognised). */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const match of text.matchAll(PRE_TOKENIZER)) {
      const piece = bytesToTokenString(new TextEncoder().encode(match[0]));
      let cached = this.#cache.get(piece);
      if (!cached) {
        cached = this.#bytePairEncode(piece).map((token) => {
          const id = this.#ids.get(token);
          if (id === undefined) throw new Error(`tokenizer.json has no token ${JSON.stringify(token)}`);
          return id;
        });
        if (this.#cache.size < 10_000) this.#cache.set(piece, cached);
      }
      ids.push(...cached);
    }
    return ids;
  }

  #bytePairEncode(piece: string): string[] {
    let parts = Array.from(piece);
    while (parts.length > 1) {
      let bestRank = Infinity;
      let bestIndex = -1;
      for (let index = 0; index < parts.length - 1; index++) {
        const rank = this.#mergeRanks.get(`${parts[index]} ${parts[index + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestIndex = index;
        }
      }
      if (bestIndex < 0) break;
      const left = parts[bestIndex]!;
      const right = parts[bestIndex + 1]!;
      const merged: string[] = [];
      for (let index = 0; index < parts.length; index++) {
        if (index < parts.length - 1 && parts[index] === left && parts[index + 1] === right) {
          merged.push(left + right);
          index++;
        } else {
          merged.push(parts[index]!);
        }
      }
      parts = merged;
    }
    return parts;
  }
}

function splitMerge(merge: string): [string, string] {
  // Byte-level tokens never contain a plain space, so the first space separates the pair.
  const space = merge.indexOf(' ');
  return [merge.slice(0, space), merge.slice(space + 1)];
}
