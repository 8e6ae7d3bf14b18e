// Entry point: loads settings and identity, subscribes to backend events, and routes the
// hash (#/campaigns, #/claim/<id>, #/wallet[/<campaign>/<serial>], #/settings, #/register)
// to a screen module. A screen's render() returns a cleanup function, or { cleanup, onParams }
// when it can follow a change of its own route's parameters without a redraw.

import { api, onClaimProgress, onWalletChanged } from './js/api.js';
import { h, replaceChildren } from './js/dom.js';
import { setLanguage, t } from './js/i18n.js';
import { attach, announce } from './js/live.js';
import { state, recordProgress, setWallet, subscribe, campaignById } from './js/store.js';
import { isResult } from './js/claims.js';
import { errorBox } from './js/ui.js';
import { parseRoute } from './js/routes.js';
import * as register from './js/screens/register.js';
import * as campaigns from './js/screens/campaigns.js';
import * as claim from './js/screens/claim.js';
import * as wallet from './js/screens/wallet.js';
import * as settings from './js/screens/settings.js';
import * as help from './js/screens/help.js';

const SCREENS = { register, campaigns, claim, wallet, settings, help };
/** Screens that need a registered identity. */
const NEEDS_IDENTITY = new Set(['campaigns', 'claim']);

const main = document.getElementById('main');
/** The screen on show: { name, cleanup?, onParams? }. */
let current = null;
let booted = false;

const ctx = {
  navigate(hash, { replace = false } = {}) {
    if (location.hash === hash) {
      route();
    } else if (replace) {
      location.replace(hash);
    } else {
      location.hash = hash;
    }
  },
  setTitle(text) {
    document.title = text ? `${text} · Lineup` : 'Lineup';
  },
  /** Re-renders the current screen, e.g. after the language changed. */
  rerender() {
    translateShell();
    route({ keepFocus: true, force: true });
  },
  announce,
};

function translateShell() {
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  }
  const nav = document.querySelector('.app-nav');
  if (nav) nav.hidden = !(state.identity && state.identity.registered);
}

function route({ keepFocus = false, force = false } = {}) {
  if (!booted) return;
  const { name, params } = parseRoute(location.hash);
  const registered = Boolean(state.identity && state.identity.registered);
  if (!registered && NEEDS_IDENTITY.has(name)) {
    location.replace('#/register');
    return;
  }
  if (registered && name === 'register') {
    location.replace('#/campaigns');
    return;
  }
  if (!force && current && current.name === name && current.onParams) {
    // Same screen, new parameters (e.g. the wallet's QR opened or closed): no redraw.
    current.onParams(params);
    return;
  }
  if (current && current.cleanup) current.cleanup();
  current = null;
  replaceChildren(main);
  for (const link of document.querySelectorAll('.app-nav a')) {
    const current = link.dataset.route === name || (name === 'claim' && link.dataset.route === 'campaigns');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.querySelector('.app-nav').hidden = !registered;
  const handle = SCREENS[name].render(main, params, ctx);
  current = { name, ...(typeof handle === 'function' ? { cleanup: handle } : handle || {}) };
  if (!keepFocus || !main.contains(document.activeElement)) {
    const title = main.querySelector('h1');
    if (title) title.focus({ preventScroll: false });
  }
}

async function boot() {
  attach(document.getElementById('live'));
  const skip = document.querySelector('.skip-link');
  skip.addEventListener('click', (e) => {
    // The hash is the router's, so the skip link moves focus itself.
    e.preventDefault();
    const title = main.querySelector('h1') || main;
    title.focus();
  });

  try {
    state.settings = await api.getSettings();
  } catch (e) {
    setLanguage(navigatorLanguage());
    translateShell();
    showFatal(e);
    return;
  }
  setLanguage(state.settings.language);
  try {
    state.identity = await api.identityStatus();
  } catch (e) {
    translateShell();
    showFatal(e);
    return;
  }
  translateShell();

  await onClaimProgress(recordProgress);
  await onWalletChanged((entries) => {
    state.walletError = null;
    setWallet(entries);
  });

  subscribe('claim', showResultBanner);
  window.addEventListener('lineup:register-again', registerAgain);
  booted = true;
  window.addEventListener('hashchange', () => {
    clearBannerFor(parseRoute(location.hash));
    route();
  });
  route();
  document.documentElement.dataset.ready = 'true';
}

/**
 * A claim that reaches its result while the person is elsewhere in the app gets a banner with
 * a link to it (the system notification may have been missed or turned off).
 */
function showResultBanner({ campaignId, tracked, prev }) {
  const phase = tracked.progress.phase;
  if (!isResult(phase) || (prev && prev.progress.phase === phase)) return;
  const here = parseRoute(location.hash);
  // A place that moved here from another device arrives with its result already known: the
  // registration note says what moved (during the move the route is still registration).
  if (!prev && (here.name === 'register' || state.movedPlaces.has(campaignId))) return;
  if (here.name === 'claim' && here.params.id === campaignId) return;
  const c = campaignById(campaignId);
  const result = t(phase === 'returned' && tracked.progress.voucher ? 'result.returned.title.voucher' : `result.${phase}.title`);
  // The campaign list may not have been loaded on this run (e.g. straight to the wallet).
  const text = c ? `${document.documentElement.lang === 'en' && c.title_en ? c.title_en : c.title} · ${result}` : result;
  const banner = document.getElementById('banner');
  const dismiss = h('button', { type: 'button', class: 'button secondary banner-dismiss', text: t('action.close') });
  const item = h(
    'div',
    { class: `banner banner-${phase}`, 'data-campaign': campaignId },
    h('p', { text }),
    h('a', { class: 'button primary', href: `#/claim/${encodeURIComponent(campaignId)}`, text: t('banner.open') }),
    dismiss,
  );
  dismiss.addEventListener('click', () => {
    item.remove();
    main.querySelector('h1')?.focus();
  });
  banner.querySelector(`[data-campaign="${CSS.escape(campaignId)}"]`)?.remove();
  banner.append(item);
  announce(text, { urgent: true });
}

/**
 * This device's registration moved to another device (`key_revoked`): registration again. The
 * backend has usually replaced the key already; if it has not heard yet, `register` does it.
 */
async function registerAgain() {
  try {
    state.identity = await api.identityStatus();
  } catch {
    // The local view below is enough to show registration.
  }
  state.identity = { ...(state.identity || {}), registered: false };
  translateShell();
  location.hash = '#/register';
}

function clearBannerFor(next) {
  if (next.name !== 'claim') return;
  document.querySelector(`#banner [data-campaign="${CSS.escape(next.params.id)}"]`)?.remove();
}

function navigatorLanguage() {
  return (navigator.language || 'ko').toLowerCase().startsWith('en') ? 'en' : 'ko';
}

function showFatal(error) {
  replaceChildren(
    main,
    h('h1', { tabindex: '-1', class: 'page-title', text: t('fatal.title') }),
    errorBox(error, { onRetry: () => location.reload() }),
  );
  document.documentElement.dataset.ready = 'true';
}

boot();
