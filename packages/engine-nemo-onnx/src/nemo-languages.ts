/** The 25 European languages of Parakeet TDT 0.6B v3 and Canary 1B v2 (ISO 639-1). */
export const EUROPEAN_LANGUAGES = [
  'bg', 'hr', 'cs', 'da', 'nl', 'en', 'et', 'fi', 'fr', 'de', 'el', 'hu', 'it',
  'lv', 'lt', 'mt', 'pl', 'pt', 'ro', 'sk', 'sl', 'es', 'sv', 'ru', 'uk',
] as const;

/** Canary 180M flash and 1B flash: English, German, Spanish, French. */
export const CANARY_FLASH_LANGUAGES = ['en', 'de', 'es', 'fr'] as const;

/** What a repository name says about its languages before its files are read. */
export function defaultLanguages(executor: string, repo: string): string[] {
  const name = (repo.split('/').pop() ?? repo).toLowerCase();
  if (executor === 'parakeet') return /v3|multilingual/.test(name) ? [...EUROPEAN_LANGUAGES] : ['en'];
  if (executor === 'canary_salm') return ['en'];
  return /1b-v2|canary-v2/.test(name) ? [...EUROPEAN_LANGUAGES] : [...CANARY_FLASH_LANGUAGES];
}
