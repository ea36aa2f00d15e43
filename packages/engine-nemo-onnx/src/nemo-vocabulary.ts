/**
 * `vocab.txt` of the onnx-asr exports: one `<token> <id>` per line, SentencePiece's `▁`
 * (U+2581) standing for a space, the blank `<blk>` last for transducers.
 */
export const SPACE_MARK = '\u2581';

export class NemoVocabulary {
  /** id → piece. */
  readonly pieces: string[];
  /** piece → id; a piece listed twice maps to its last id (as onnx-asr's dict comprehension does). */
  readonly ids = new Map<string, number>();
  /** `<blk>`'s id, when the vocabulary has one. */
  readonly blank?: number;

  constructor(text: string) {
    const pieces: string[] = [];
    for (const [lineIndex, raw] of text.split('\n').entries()) {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') continue;
      const separator = line.lastIndexOf(' ');
      const id = Number(line.slice(separator + 1));
      if (separator <= 0 || !Number.isInteger(id) || id < 0 || id > 10_000_000) {
        throw new Error(`vocab.txt line ${lineIndex + 1} is not "<token> <id>": ${JSON.stringify(line.slice(0, 80))}`);
      }
      const piece = line.slice(0, separator);
      pieces[id] = piece;
      this.ids.set(piece, id);
    }
    for (let id = 0; id < pieces.length; id++) if (pieces[id] === undefined) throw new Error(`vocab.txt has no token with id ${id}`);
    this.pieces = pieces;
    this.blank = this.ids.get('<blk>');
  }

  get size(): number {
    return this.pieces.length;
  }

  id(piece: string): number | undefined {
    return this.ids.get(piece);
  }

  /** Special tokens are `<|…|>` (Canary) or `<…>` control pieces such as `<unk>` and `<blk>`. */
  isSpecial(id: number): boolean {
    const piece = this.pieces[id] ?? '';
    return /^<\|.*\|>$/.test(piece) || /^<[a-z_]+>$/.test(piece);
  }

  /** Text of token ids: `▁` becomes a space, special tokens are dropped, spacing is tidied. */
  decode(ids: readonly number[]): string {
    let text = '';
    for (const id of ids) if (!this.isSpecial(id)) text += this.pieces[id] ?? '';
    return tidySpaces(text.split(SPACE_MARK).join(' ')).trim();
  }
}

/**
 * onnx-asr's clean-up (`\A\s|\s\B|(\s)\b` with Unicode word characters): no leading space,
 * no space before a character that is not a letter, digit or underscore, or at the end.
 */
export function tidySpaces(text: string): string {
  return text.replace(/^\s/, '').replace(/\s(?=[^\p{L}\p{N}_]|$)/gu, '');
}
