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
