import { describe, expect, it } from 'vitest';
import { findDuplicateKeys } from './json-duplicate-keys.js';

describe('findDuplicateKeys', () => {
  it('finds nothing in a file without repeats', () => {
    expect(findDuplicateKeys(JSON.stringify({ models: { a: { repo: 'x' }, b: { repo: 'x', languages: ['en', 'en'] } } }))).toEqual([]);
  });

  it('names every repeated key with its path', () => {
    const text = `{
      "models": {
        "whisper": { "repo": "a", "executor": "whisper" },
        "kokoro": { "repo": "b", "repo": "c", "executor": "kokoro" },
        "whisper": { "repo": "d", "executor": "whisper" }
      },
      "extra": [{ "x": 1, "x": 2 }, { "y": "\\"quoted\\" } ,", "y": 3 }]
    }`;
    expect(findDuplicateKeys(text)).toEqual([
      'models.kokoro.repo: defined twice; JSON keeps only the last definition, so remove or rename one',
      'models.whisper: defined twice; JSON keeps only the last definition, so remove or rename one',
      'extra.0.x: defined twice; JSON keeps only the last definition, so remove or rename one',
      'extra.1.y: defined twice; JSON keeps only the last definition, so remove or rename one',
    ]);
  });

  it('treats keys with the same escaped spelling as the same key', () => {
    expect(findDuplicateKeys('{"a\\u0062": 1, "ab": 2}')).toHaveLength(1);
  });
});
