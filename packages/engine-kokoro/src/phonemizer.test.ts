import { describe, expect, it } from 'vitest';
import { espeakIpa } from './espeak-phonemes.js';
import { KOKORO_LANGUAGES, type KokoroLanguage } from './languages.js';
import { fixPhonemes, phonemize, splitAtPunctuation } from './phonemizer.js';

/**
 * Every catalog language phonemises in its own language: the Debian espeak-ng program
 * with its full language data, one voice per Kokoro language. Each sample's phonemes hold
 * sounds (and number readings) of that language, and differ from what American English
 * makes of the same letters.
 */
const SAMPLES: Array<{ language: KokoroLanguage; text: string; expected: RegExp[] }> = [
  { language: KOKORO_LANGUAGES.a, text: 'Hello world, 42 cats.', expected: [/həlˈoʊ/, /fˈoːɹɾi tˈuː/] },
  { language: KOKORO_LANGUAGES.b, text: 'Hello world, 42 cats.', expected: [/həlˈəʊ/, /fˈɔːti tˈuː/] },
  { language: KOKORO_LANGUAGES.e, text: 'Hola, ¿cómo estás? Cuesta 25 euros.', expected: [/ˈola/, /kˈomo estˈas/, /βˌeɪntiθˈinko/] },
  { language: KOKORO_LANGUAGES.f, text: 'Bonjour le monde, il est 21 heures.', expected: [/bɔ̃ʒˈuʁ/, /mˈɔ̃d/, /vɛ̃teˈœ̃/] },
  { language: KOKORO_LANGUAGES.h, text: 'नमस्ते दुनिया, 42', expected: [/nəmˈʌsteː/, /dˈʊnɪjˌaː/, /baɪˈaːlis/] },
  { language: KOKORO_LANGUAGES.i, text: 'Ciao mondo, ho 17 anni.', expected: [/tʃˈao mˈondo/, /ditʃassˈɛtːe/] },
  { language: KOKORO_LANGUAGES.p, text: 'Olá mundo, tenho 33 anos.', expected: [/olˈa mˈu\u0303ŋdʊ/, /tɹˈiŋtæitɹˈe[sz]/] },
];

describe('G2P through the espeak-ng program, in each catalog language', () => {
  for (const { language, text, expected } of SAMPLES) {
    it(`${language.tag} (espeak-ng voice ${language.espeakVoice}): ${text}`, async () => {
      const phonemes = await phonemize(text, language);
      for (const pattern of expected) expect(phonemes).toMatch(pattern);
      if (language.code !== 'a') expect(phonemes).not.toBe(await phonemize(text, KOKORO_LANGUAGES.a));
      // espeak-ng's language-switch marks never reach the model.
      expect(phonemes).not.toMatch(/\([a-z]{2}\)/);
    });
  }

  it('drops the language-switch marks espeak-ng puts around a foreign word', async () => {
    const raw = (await espeakIpa('Le weekend', 'fr-fr')).join(' ');
    expect(raw).toMatch(/\(en\)/);
    expect(await phonemize('Le weekend', KOKORO_LANGUAGES.f)).toBe(raw.replace(/\([a-z]+\)/g, ''));
  });

  it('reads numbers, money and abbreviations the English way for English voices', async () => {
    const phonemes = await phonemize('Dr. Smith paid $3.50 in 1990.', KOKORO_LANGUAGES.a);
    expect(phonemes).toMatch(/dˈɑːktɚ/);
    expect(phonemes).toMatch(/dˈɑːlɚz/);
    expect(phonemes).toMatch(/sˈɛnts/);
    expect(phonemes).toMatch(/nˈaɪntiːn nˈaɪndi/);
  });

  it('keeps punctuation runs verbatim and passes text starting with "-" safely', async () => {
    expect(splitAtPunctuation('Hi, there! "Yes."')).toEqual([
      { text: 'Hi', punctuation: false },
      { text: ', ', punctuation: true },
      { text: 'there', punctuation: false },
      { text: '! "', punctuation: true },
      { text: 'Yes', punctuation: false },
      { text: '."', punctuation: true },
    ]);
    expect(await phonemize('-5 degrees', KOKORO_LANGUAGES.a)).toMatch(/dᵻɡɹˈiːz/);
  });

  it("applies Kokoro's fixes to espeak-ng's IPA", () => {
    expect(fixPhonemes('kəkˈoːɹoʊ', KOKORO_LANGUAGES.a)).toBe('kˈoʊkəɹoʊ');
    expect(fixPhonemes('nˈaɪnti', KOKORO_LANGUAGES.a)).toBe('nˈaɪndi');
    expect(fixPhonemes('nˈaɪnti', KOKORO_LANGUAGES.b)).toBe('nˈaɪnti');
    expect(fixPhonemes('pərro', KOKORO_LANGUAGES.e)).toBe('pəɹɹo');
    expect(fixPhonemes('wʌnhˈʌndɹɪd', KOKORO_LANGUAGES.a)).toBe('wʌn hˈʌndɹɪd');
    expect(fixPhonemes('kæts z.', KOKORO_LANGUAGES.a)).toBe('kætsz.');
  });
});
