/**
 * OpenAI's stock voice names, each mapped to an English espeak-ng voice with a variant
 * (`voice+variant`), so that a client written for OpenAI with `voice: 'alloy'` gets
 * speech, and the thirteen names sound different from one another.
 */
export const OPENAI_VOICE_ALIASES: Readonly<Record<string, string>> = {
  alloy: 'en-us+f3',
  ash: 'en-us+m3',
  ballad: 'en-gb+m4',
  coral: 'en-us+f2',
  echo: 'en-us+m1',
  fable: 'en-gb+m2',
  nova: 'en-us+f4',
  onyx: 'en-us+m7',
  sage: 'en-gb+f3',
  shimmer: 'en-us+f5',
  verse: 'en-us+m2',
  marin: 'en-gb+f2',
  cedar: 'en-gb+m3',
};
