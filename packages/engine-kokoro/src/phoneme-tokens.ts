/**
 * Phoneme string → token ids, and the split of over-long sentences into pieces the model
 * can take (510 phonemes plus a pad token at each end).
 */

/** Phoneme tokens one model call takes (512 positions minus the two pads). */
export const MAX_PHONEME_TOKENS = 510;

/** One id per code point; characters outside the vocabulary are dropped, as the tokenizer does. */
export function phonemesToIds(phonemes: string, vocabulary: ReadonlyMap<string, number>): number[] {
  const ids: number[] = [];
  for (const character of phonemes) {
    const id = vocabulary.get(character);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

interface BoundaryIds {
  /** Ids of `.`, `!`, `?`, `…`: the best places to cut. */
  sentence: ReadonlySet<number>;
  /** Ids of `,`, `;`, `:`, `—`: the next best. */
  clause: ReadonlySet<number>;
  /** The id of a space: where to cut a clause that is still too long. */
  space: number | undefined;
}

export function boundaryIds(vocabulary: ReadonlyMap<string, number>): BoundaryIds {
  const ids = (characters: string) =>
    new Set([...characters].map((character) => vocabulary.get(character)).filter((id): id is number => id !== undefined));
  return { sentence: ids('.!?…'), clause: ids(',;:—'), space: vocabulary.get(' ') };
}

/**
 * Cuts `ids` into pieces of at most `limit`: after the last sentence or clause mark that
 * fits, else at the last space, else anywhere. Spaces at the cut are dropped. A sequence
 * that fits is returned whole, untouched.
 */
export function splitTokens(ids: readonly number[], boundaries: BoundaryIds, limit = MAX_PHONEME_TOKENS): number[][] {
  if (ids.length <= limit) return ids.length > 0 ? [ids.slice()] : [];
  const pieces: number[][] = [];
  let start = 0;
  const isSpace = (index: number) => ids[index] === boundaries.space;
  while (start < ids.length) {
    while (start < ids.length && isSpace(start)) start++;
    if (start >= ids.length) break;
    if (ids.length - start <= limit) {
      pieces.push(ids.slice(start));
      break;
    }
    const windowEnd = start + limit; // exclusive
    const lastIn = (from: number, accept: (id: number) => boolean) => {
      for (let index = from; index > start; index--) if (accept(ids[index]!)) return index;
      return -1;
    };
    let cut = lastIn(windowEnd - 1, (id) => boundaries.sentence.has(id));
    if (cut < 0) cut = lastIn(windowEnd - 1, (id) => boundaries.clause.has(id));
    let end: number;
    if (cut >= 0) {
      // The mark stays with the piece it ends.
      end = cut + 1;
    } else {
      // A space right after the window still makes a full piece before it.
      const space = lastIn(windowEnd, (id) => id === boundaries.space);
      end = space > start ? space : windowEnd;
    }
    let trimmed = end;
    while (trimmed > start && isSpace(trimmed - 1)) trimmed--;
    pieces.push(ids.slice(start, trimmed));
    start = end;
  }
  return pieces;
}

/** The voice-table row for an input of `tokenCount` ids including both pads. */
export function styleRow(tokenCount: number, rows: number): number {
  return Math.min(Math.max(tokenCount - 2, 0), rows - 1);
}
