/**
 * Whisper's languages in token order: `<|en|>` is the first language token, `<|su|>` the
 * 99th; large-v3 adds `<|yue|>` as the 100th. The order is the model's, not alphabetical.
 */
export const WHISPER_LANGUAGES: ReadonlyArray<readonly [code: string, name: string]> = [
  ['en', 'english'], ['zh', 'chinese'], ['de', 'german'], ['es', 'spanish'], ['ru', 'russian'],
  ['ko', 'korean'], ['fr', 'french'], ['ja', 'japanese'], ['pt', 'portuguese'], ['tr', 'turkish'],
  ['pl', 'polish'], ['ca', 'catalan'], ['nl', 'dutch'], ['ar', 'arabic'], ['sv', 'swedish'],
  ['it', 'italian'], ['id', 'indonesian'], ['hi', 'hindi'], ['fi', 'finnish'], ['vi', 'vietnamese'],
  ['he', 'hebrew'], ['uk', 'ukrainian'], ['el', 'greek'], ['ms', 'malay'], ['cs', 'czech'],
  ['ro', 'romanian'], ['da', 'danish'], ['hu', 'hungarian'], ['ta', 'tamil'], ['no', 'norwegian'],
  ['th', 'thai'], ['ur', 'urdu'], ['hr', 'croatian'], ['bg', 'bulgarian'], ['lt', 'lithuanian'],
  ['la', 'latin'], ['mi', 'maori'], ['ml', 'malayalam'], ['cy', 'welsh'], ['sk', 'slovak'],
  ['te', 'telugu'], ['fa', 'persian'], ['lv', 'latvian'], ['bn', 'bengali'], ['sr', 'serbian'],
  ['az', 'azerbaijani'], ['sl', 'slovenian'], ['kn', 'kannada'], ['et', 'estonian'], ['mk', 'macedonian'],
  ['br', 'breton'], ['eu', 'basque'], ['is', 'icelandic'], ['hy', 'armenian'], ['ne', 'nepali'],
  ['mn', 'mongolian'], ['bs', 'bosnian'], ['kk', 'kazakh'], ['sq', 'albanian'], ['sw', 'swahili'],
  ['gl', 'galician'], ['mr', 'marathi'], ['pa', 'punjabi'], ['si', 'sinhala'], ['km', 'khmer'],
  ['sn', 'shona'], ['yo', 'yoruba'], ['so', 'somali'], ['af', 'afrikaans'], ['oc', 'occitan'],
  ['ka', 'georgian'], ['be', 'belarusian'], ['tg', 'tajik'], ['sd', 'sindhi'], ['gu', 'gujarati'],
  ['am', 'amharic'], ['yi', 'yiddish'], ['lo', 'lao'], ['uz', 'uzbek'], ['fo', 'faroese'],
  ['ht', 'haitian creole'], ['ps', 'pashto'], ['tk', 'turkmen'], ['nn', 'nynorsk'], ['mt', 'maltese'],
  ['sa', 'sanskrit'], ['lb', 'luxembourgish'], ['my', 'myanmar'], ['bo', 'tibetan'], ['tl', 'tagalog'],
  ['mg', 'malagasy'], ['as', 'assamese'], ['tt', 'tatar'], ['haw', 'hawaiian'], ['ln', 'lingala'],
  ['ha', 'hausa'], ['ba', 'bashkir'], ['jw', 'javanese'], ['su', 'sundanese'], ['yue', 'cantonese'],
];

const ALIASES: Record<string, string> = {
  burmese: 'my', valencian: 'ca', flemish: 'nl', haitian: 'ht', letzeburgesch: 'lb', pushto: 'ps',
  panjabi: 'pa', moldavian: 'ro', moldovan: 'ro', sinhalese: 'si', castilian: 'es', mandarin: 'zh',
  // ISO 639-1 codes that Whisper spells differently.
  jv: 'jw', nb: 'no',
};

const BY_NAME = new Map(WHISPER_LANGUAGES.map(([code, name]) => [name, code]));
const CODES = new Set(WHISPER_LANGUAGES.map(([code]) => code));

/** A language code or English name (any case, `en-US` style tags too) → Whisper's code, or undefined. */
export function toWhisperLanguageCode(language: string): string | undefined {
  const lowered = language.trim().toLowerCase();
  if (CODES.has(lowered)) return lowered;
  const primary = lowered.split(/[-_]/)[0]!;
  if (CODES.has(primary)) return primary;
  return ALIASES[lowered] ?? ALIASES[primary] ?? BY_NAME.get(lowered);
}

/** Whisper's English name of a code ("en" → "english"). */
export function whisperLanguageName(code: string): string | undefined {
  return WHISPER_LANGUAGES.find(([candidate]) => candidate === code)?.[1];
}
