// Translations: Korean by default, English on request. `t(key, params)` looks a key up in the
// current language (falling back to Korean), picks a plural form when the entry has
// `one`/`other`, and fills `{name}` placeholders; numeric params are formatted for the language.

import ko from '../i18n/ko.js';
import en from '../i18n/en.js';
import { formatNumber } from './format.js';

export const LANGUAGES = { ko, en };
let current = 'ko';

export function setLanguage(lang) {
  current = Object.hasOwn(LANGUAGES, lang) ? lang : 'ko';
  document.documentElement.lang = current;
  return current;
}

export function language() {
  return current;
}

export function translate(lang, key, params = {}) {
  let entry = LANGUAGES[lang]?.[key] ?? LANGUAGES.ko[key];
  if (entry === undefined) return key;
  if (typeof entry === 'object') {
    const count = typeof params.count === 'number' ? params.count : 0;
    const category = new Intl.PluralRules(lang === 'en' ? 'en-US' : 'ko-KR').select(count);
    entry = entry[category] ?? entry.other;
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.hasOwn(params, name)) return whole;
    const v = params[name];
    return typeof v === 'number' ? formatNumber(lang, v) : String(v);
  });
}

export function t(key, params) {
  return translate(current, key, params);
}
