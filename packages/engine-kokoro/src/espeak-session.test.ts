import { afterAll, describe, expect, it } from 'vitest';
import { espeakIpa } from './espeak-phonemes.js';
import { EspeakSessions } from './espeak-session.js';
import { KOKORO_LANGUAGES } from './languages.js';
import { phonemize } from './phonemizer.js';

const sessions = new EspeakSessions();
afterAll(() => sessions.close());

describe('one long-lived espeak-ng process per language', () => {
  const texts: Array<[string, string]> = [
    ['en-us', 'Hello there'],
    ['en-us', 'how are you today'],
    ['en-us', '―'],
    ['en-us', ''],
    ['en-us', 'I paid 3 dollars and 50 cents in 1990 to Dr Smith - twice'],
    ['en', 'colour and flavour'],
    ['es', '¿cómo estás'],
    ['fr-fr', 'Le weekend à Paris'],
    ['hi', 'नमस्ते दुनिया'],
    ['it', 'ho diciassette anni'],
    ['pt-br', 'tenho trinta e três anos'],
  ];

  it('answers exactly what a one-off espeak-ng run answers, text by text, concurrently', async () => {
    const [fromSessions, oneOff] = await Promise.all([
      Promise.all(texts.map(([voice, text]) => sessions.phonemize(text, voice))),
      Promise.all(texts.map(([voice, text]) => espeakIpa(text, voice))),
    ]);
    expect(fromSessions).toEqual(oneOff);
  });

  it('sends texts with a line break or longer than a line to a one-off run', async () => {
    const multiline = 'first line\nsecond line';
    expect(await sessions.phonemize(multiline, 'en-us')).toEqual(await espeakIpa(multiline, 'en-us'));
    const long = Array.from({ length: 120 }, () => 'word').join(' ');
    expect(await sessions.phonemize(long, 'en-us')).toEqual(await espeakIpa(long, 'en-us'));
  });

  it('whole sentences come out the same as with one process per piece', async () => {
    const sentence = '"Well," said Mr. Jones, "the 2 shops sold 1,250 widgets at $3.50 each; open 9:05 to 10:00!"';
    expect(await phonemize(sentence, KOKORO_LANGUAGES.a, undefined, sessions.phonemize)).toBe(await phonemize(sentence, KOKORO_LANGUAGES.a));
  });

  it('an aborted request stops waiting at once', async () => {
    await expect(sessions.phonemize('hello', 'en-us', AbortSignal.abort())).rejects.toThrow(/aborted/);
  });
});
