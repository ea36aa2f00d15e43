/**
 * Strict base64, as Python's `base64.b64decode(s, validate=True)` reads it: only the
 * standard alphabet, no whitespace, correct `=` padding. Node's own decoder skips what it
 * does not understand, so a truncated or mangled upload would be stored silently.
 */

const ALPHABET = /^[A-Za-z0-9+/]*$/;

/** How many bytes `text` decodes to, or a reason it is not strict base64. */
export function base64DecodedLength(text: string): number | { invalid: string } {
  if (text.length % 4 !== 0) {
    return { invalid: `length ${text.length} is not a multiple of 4 (missing or extra '=' padding?)` };
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.slice(0, text.length - padding);
  if (!ALPHABET.test(body)) {
    const index = body.search(/[^A-Za-z0-9+/]/);
    const character = body[index]!;
    const shown = /\s/.test(character) ? JSON.stringify(character) : `'${character}'`;
    return { invalid: `character ${shown} at offset ${index} is not in the base64 alphabet (A-Z, a-z, 0-9, +, /)` };
  }
  return (text.length / 4) * 3 - padding;
}

export interface DecodeLimits {
  /** The argument name, for messages. */
  field: string;
  maxBytes: number;
}

/** Decode strict base64, refusing oversize content before allocating it. */
export function decodeBase64(text: string, { field, maxBytes }: DecodeLimits): Uint8Array {
  const length = base64DecodedLength(text);
  if (typeof length !== 'number') throw new Error(`${field} is not valid base64: ${length.invalid}`);
  if (length > maxBytes) {
    throw new Error(
      `upload too large (${length} bytes > ${maxBytes}); send a smaller file or raise TALKIES_MAX_UPLOAD_BYTES on the server`,
    );
  }
  const bytes = Buffer.from(text, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
