/**
 * GPT-2's reversible byte ↔ printable-character table, which byte-level BPE vocabularies
 * (Whisper's included) are written in: bytes that are printable Latin-1 map to
 * themselves, the rest to U+0100 and up.
 */
function buildTables(): { byteToCharacter: string[]; characterToByte: Map<string, number> } {
  const printable: number[] = [];
  for (let code = 0x21; code <= 0x7e; code++) printable.push(code);
  for (let code = 0xa1; code <= 0xac; code++) printable.push(code);
  for (let code = 0xae; code <= 0xff; code++) printable.push(code);
  const byteToCharacter: string[] = new Array(256);
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) {
    byteToCharacter[byte] = printable.includes(byte) ? String.fromCharCode(byte) : String.fromCharCode(256 + extra++);
  }
  const characterToByte = new Map(byteToCharacter.map((character, byte) => [character, byte]));
  return { byteToCharacter, characterToByte };
}

export const { byteToCharacter, characterToByte } = buildTables();

/** Bytes → the vocabulary's character form. */
export function bytesToTokenString(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byteToCharacter[byte];
  return text;
}

/** The vocabulary's character form → bytes (characters outside the table are dropped). */
export function tokenStringToBytes(token: string): number[] {
  const bytes: number[] = [];
  for (const character of token) {
    const byte = characterToByte.get(character);
    if (byte !== undefined) bytes.push(byte);
  }
  return bytes;
}
