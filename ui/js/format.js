// Locale-aware formatting of numbers, money, instants and durations. Pure functions of
// (language, value) so they can be unit-tested outside a browser.

const cache = new Map();
function cached(kind, lang, options, make) {
  const key = `${kind}|${lang}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    f = make();
    cache.set(key, f);
  }
  return f;
}

function locale(lang) {
  return lang === 'en' ? 'en-US' : 'ko-KR';
}

export function formatNumber(lang, n) {
  return cached('n', lang, {}, () => new Intl.NumberFormat(locale(lang))).format(n);
}

/** `amount` is in minor units of `currency` (KRW has none, so 6000 is 6,000 won). */
export function formatMoney(lang, amount, currency) {
  let digits = 0;
  let nf;
  try {
    nf = cached('c', lang, { currency }, () => new Intl.NumberFormat(locale(lang), { style: 'currency', currency }));
    digits = nf.resolvedOptions().maximumFractionDigits;
  } catch {
    // An unknown currency code: show the number with the code rather than fail the screen.
    return `${formatNumber(lang, amount)} ${currency}`;
  }
  const major = amount / 10 ** digits;
  // Korean readers write won after the number ("6,000원"), not as a ₩ prefix.
  if (lang !== 'en' && currency === 'KRW') return `${formatNumber(lang, major)}원`;
  return nf.format(major);
}

/** A clock time, e.g. "오후 7:00:05" or "7:00:05 PM". */
export function formatTime(lang, instant) {
  const d = toDate(instant);
  if (!d) return '';
  return cached('t', lang, {}, () =>
    new Intl.DateTimeFormat(locale(lang), { hour: 'numeric', minute: '2-digit', second: '2-digit' }),
  ).format(d);
}

/** A clock time to the minute, e.g. "오후 7:00" or "7:00 PM", for the timeline. */
export function formatClock(lang, instant) {
  const d = toDate(instant);
  if (!d) return '';
  return cached('hm', lang, {}, () => new Intl.DateTimeFormat(locale(lang), { hour: 'numeric', minute: '2-digit' })).format(d);
}

/** A date with time, e.g. for an expiry: "2026년 12월 31일 오후 11:59". */
export function formatDateTime(lang, instant) {
  const d = toDate(instant);
  if (!d) return '';
  return cached('dt', lang, {}, () =>
    new Intl.DateTimeFormat(locale(lang), { dateStyle: 'long', timeStyle: 'short' }),
  ).format(d);
}

/**
 * A duration in words, coarse enough to read at a glance: seconds are shown only under
 * ten minutes ("2분 5초", "1시간 20분", "12 seconds").
 */
export function formatDuration(lang, ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const parts = [];
  if (h > 0) parts.push(unit(lang, 'hour', h));
  if (m > 0) parts.push(unit(lang, 'minute', m));
  if (s > 0 && h === 0 && m < 10) parts.push(unit(lang, 'second', s));
  if (parts.length === 0) parts.push(unit(lang, 'second', 0));
  return parts.join(' ');
}

function unit(lang, name, value) {
  return cached('u', lang, { name }, () =>
    new Intl.NumberFormat(locale(lang), { style: 'unit', unit: name, unitDisplay: 'long' }),
  ).format(value);
}

export function toDate(instant) {
  if (instant === null || instant === undefined) return null;
  const d = instant instanceof Date ? instant : new Date(instant);
  return Number.isNaN(d.getTime()) ? null : d;
}
