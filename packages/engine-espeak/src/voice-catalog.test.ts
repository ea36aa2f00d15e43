import { describe, expect, it } from 'vitest';
import { parseVoiceTable, VoiceCatalog } from './voice-catalog.js';

// Trimmed from `espeak-ng --voices` and `--voices=variant` of Debian's espeak-ng 1.51.
const VOICES = `Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  chr-US-Qaaa-x-west --/M      Cherokee_          iro/chr
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  fr-fr           --/M      French_(France)    roa/fr               (fr 5)
 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)
 5  yue             --/M      Chinese_(Cantonese,_latin_as_Jyutping) sit/yue-Latn-jyutping (zh-yue 5)(zh 8)
`;
const VARIANTS = `Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/M      Alex               !v/Alex
 5  variant         --/F      female3            !v/f3
 5  variant         --/M      male3              !v/m3
 5  variant         --/F      female2            !v/f2
 5  variant         --/M      male4              !v/m4
 5  variant         --/M      male2              !v/m2
`;

describe('parseVoiceTable', () => {
  it('reads the language, name and file of each row, also when columns overflow', () => {
    const voices = parseVoiceTable(VOICES);
    expect(voices).toHaveLength(6);
    expect(voices[0]).toEqual({ language: 'chr-US-Qaaa-x-west', name: 'Cherokee ', file: 'iro/chr' });
    expect(voices[2]).toEqual({ language: 'en-us', name: 'English (America)', file: 'gmw/en-US' });
    expect(voices[5]).toEqual({ language: 'yue', name: 'Chinese (Cantonese, latin as Jyutping)', file: 'sit/yue-Latn-jyutping' });
  });
});

describe('VoiceCatalog', () => {
  const catalog = new VoiceCatalog(parseVoiceTable(VOICES), parseVoiceTable(VARIANTS));

  it('resolves language codes to voice files, the first of a language winning', () => {
    expect(catalog.resolve('en-us')).toBe('gmw/en-US');
    expect(catalog.resolve('yue')).toBe('sit/yue');
    expect(catalog.resolve('chr-us-qaaa-x-west')).toBe('iro/chr');
  });

  it('resolves voice+variant and the aliases whose targets exist', () => {
    expect(catalog.resolve('en-us+alex')).toBe('gmw/en-US+Alex');
    expect(catalog.resolve('alloy')).toBe('gmw/en-US+f3');
    expect(catalog.resolve('Fable')).toBe('gmw/en+m2');
    // nova needs the f4 variant, which this trimmed table lacks.
    expect(catalog.resolve('nova')).toBeUndefined();
    expect(catalog.resolve('en-us+f9')).toBeUndefined();
    expect(catalog.resolve('de')).toBeUndefined();
  });

  it('lists aliases first and each language once', () => {
    const ids = catalog.list().map((voice) => voice.id);
    expect(ids.slice(0, 2)).toEqual(['alloy', 'ash']);
    expect(ids.filter((id) => id === 'yue')).toHaveLength(1);
    expect(ids).not.toContain('nova');
  });

  it('suggests a short list', () => {
    expect(catalog.suggestions(2)).toMatch(/^alloy, ash, .*chr-US-Qaaa-x-west, en-gb \(and 3 more\); .*see GET \/v1\/audio\/voices$/);
  });
});
