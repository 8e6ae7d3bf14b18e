// Small building blocks shared by the screens: the focusable page heading, error boxes with a
// next step, and busy buttons.

import { h } from './dom.js';
import { t } from './i18n.js';

/** The page's h1; focused on navigation so screen readers start at the new content. */
export function heading(text, id) {
  return h('h1', { tabindex: '-1', id, text, class: 'page-title' });
}

/** What the person can do about an error code, in plain words. */
export function errorAdvice(code) {
  const key = `error.advice.${code}`;
  const advice = t(key);
  return advice === key ? t('error.advice.default') : advice;
}

/**
 * An error box: the backend's message (for people), what to do next, and an optional retry.
 * role=alert because it appears in response to an action the person just took.
 */
export function errorBox(error, { onRetry, retryLabel } = {}) {
  if (error.code === 'key_revoked') {
    // Not an error to explain but a fact to state, in the person's language (the server's
    // detail is English and names keys).
    return h(
      'div',
      { class: 'notice notice-error', role: 'alert' },
      h('p', { class: 'notice-title', text: t('error.advice.key_revoked') }),
      registerAgainButton(),
    );
  }
  const box = h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    h('p', { class: 'notice-title', text: error.message || t('error.unknown') }),
    h('p', { text: errorAdvice(error.code) }),
  );
  if (onRetry) {
    box.append(h('button', { type: 'button', class: 'button secondary', onclick: onRetry, text: retryLabel || t('action.retry') }));
  }
  return box;
}

/**
 * This device's key was replaced by another device's (the person moved): the way back is to
 * register again. app.js takes the event (it owns the identity and the routes).
 */
export function registerAgainButton() {
  return h('button', {
    type: 'button',
    class: 'button primary',
    'data-testid': 'register-again',
    text: t('register.again'),
    onclick: () => window.dispatchEvent(new CustomEvent('lineup:register-again')),
  });
}

/** Runs `work` with the button disabled and marked busy; restores it afterwards. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** A definition-list row. */
export function fact(label, valueEl, extraClass = '') {
  return h('div', { class: `fact ${extraClass}`.trim() }, h('dt', { text: label }), h('dd', {}, valueEl));
}

const ICONS = {
  check: [['path', { d: 'M5.5 12.5l4.5 4.5 8.5-9.5' }]],
  cross: [['path', { d: 'M7 7l10 10M17 7L7 17' }]],
  clock: [
    ['circle', { cx: '12', cy: '12', r: '8' }],
    ['path', { d: 'M12 7.5V12l3.2 2.2' }],
  ],
  alert: [
    ['path', { d: 'M12 6.5v7' }],
    ['circle', { cx: '12', cy: '17.3', r: '0.6' }],
  ],
  return: [['path', { d: 'M9.5 6.5L5.5 10.5l4 4M5.5 10.5H14a4.5 4.5 0 0 1 0 9h-3' }]],
  qr: [['path', { d: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 18h2v2h-2zM14 18h2M18 14h2' }]],
};

/** A small line icon (decorative: the words beside it carry the meaning). */
export function icon(name, className = 'icon') {
  const parts = ICONS[name] || ICONS.clock;
  return h(
    'svg:svg',
    { class: className, viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false', 'data-icon': name },
    parts.map(([tag, attrs]) => h(`svg:${tag}`, attrs)),
  );
}

/**
 * The fate headline: a glyph in a ring (✓, ✕, clock, !, ↩: not colour alone) and the sentence.
 * `headingId` makes the sentence the page's h1.
 */
export function fateBlock(f, { asHeading = false, id } = {}) {
  const text = asHeading ? heading(f.text, id) : h('p', { id, text: f.text });
  text.classList.add('fate-text');
  text.dataset.testid = 'fate';
  return h('div', { class: `fate fate-${f.tone}`, 'data-tone': f.tone, 'data-icon': f.icon }, h('span', { class: 'fate-icon' }, icon(f.icon)), text);
}

/**
 * An inline two-step control (nothing modal): the button, then a question with a confirm and a
 * cancel button; `onConfirm` runs with the confirm button busy.
 */
export function confirmStep({ label, question, yes, onConfirm, testid }) {
  const open = h('button', { type: 'button', class: 'button danger-secondary', text: label, 'data-testid': testid });
  const confirm = h('button', { type: 'button', class: 'button danger', text: yes });
  const cancel = h('button', { type: 'button', class: 'button secondary', text: t('action.cancel') });
  const ask = h('div', { class: 'confirm-box', role: 'group', 'aria-label': label, hidden: true }, h('p', { text: question }), h('div', { class: 'actions' }, confirm, cancel));
  const error = h('div');
  open.addEventListener('click', () => {
    open.hidden = true;
    ask.hidden = false;
    cancel.focus();
  });
  cancel.addEventListener('click', () => {
    ask.hidden = true;
    open.hidden = false;
    open.focus();
  });
  confirm.addEventListener('click', () =>
    busy(confirm, async () => {
      error.replaceChildren();
      try {
        await onConfirm();
      } catch (e) {
        error.replaceChildren(errorBox(e));
      }
    }),
  );
  return h('div', { class: 'give-back' }, open, ask, error);
}

const BRANDS_EN = { 롯데시네마: 'Lotte Cinema', 메가박스: 'Megabox', 씨지브이: 'CGV' };

/** The campaign's terms of use: where, how much, until when, once. */
export function termsList({ brands, amount, expires }, lang, { formatDateTime }) {
  const items = [];
  const names = (brands || []).filter(Boolean).map((b) => (lang === 'en' ? BRANDS_EN[b] || b : b));
  const joined = lang === 'en' ? names.join(', ') : names.join('·');
  items.push(names.length ? t('terms.where', { brands: joined, amount }) : t('terms.where.any', { amount }));
  if (expires) items.push(t('terms.until', { date: formatDateTime(lang, expires) }));
  items.push(t('terms.once'));
  return h('ul', { class: 'terms' }, items.map((text) => h('li', { text })));
}
