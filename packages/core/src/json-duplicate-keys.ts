/**
 * JSON.parse keeps the last of two equal keys in an object without a word, so a model
 * defined twice in models.json would silently lose its first definition. This scanner
 * reads text that JSON.parse has already accepted and lists every repeated key.
 */

interface Container {
  /** The JSON path of the container, e.g. `models.whisper-1`. */
  path: string;
  /** Keys seen so far (objects only). */
  keys?: Set<string>;
  /** For objects: whether the next string is a key. For arrays: the next index. */
  expectKey: boolean;
  index: number;
  /** The key (or index) the next nested container is the value of. */
  pending?: string;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** `path: "key" is defined twice` lines, in document order. */
export function findDuplicateKeys(text: string): string[] {
  const problems: string[] = [];
  const stack: Container[] = [];
  let position = 0;
  while (position < text.length) {
    const character = text[position]!;
    const top = stack.at(-1);
    if (character === '"') {
      let end = position + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const value = JSON.parse(text.slice(position, end + 1)) as string;
      if (top?.keys && top.expectKey) {
        if (top.keys.has(value)) {
          problems.push(`${join(top.path, value)}: defined twice; JSON keeps only the last definition, so remove or rename one`);
        }
        top.keys.add(value);
        top.pending = value;
        top.expectKey = false;
      }
      position = end + 1;
      continue;
    }
    if (character === '{' || character === '[') {
      const key = top === undefined ? '' : top.keys ? (top.pending ?? '') : String(top.index);
      const path = top === undefined ? '' : join(top.path, key);
      stack.push(character === '{' ? { path, keys: new Set(), expectKey: true, index: 0 } : { path, expectKey: false, index: 0 });
    } else if (character === '}' || character === ']') {
      stack.pop();
    } else if (character === ',' && top) {
      if (top.keys) top.expectKey = true;
      else top.index += 1;
    }
    position += 1;
  }
  return problems;
}
