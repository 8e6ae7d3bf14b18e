// The wallet: every voucher held, from disk first (works offline), then refreshed from the
// server when it can be. Activating one opens a full-screen, black-on-white QR with the
// grouped code for the box office; Escape or back closes it.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatMoney, formatDateTime, formatClock } from '../format.js';
import { sanitizeSvg } from '../qr.js';
import { walletEntryHash } from '../routes.js';
import { state, setWallet, setCampaigns, subscribe, campaignById } from '../store.js';
import { heading, errorBox, fact, icon, termsList, busy } from '../ui.js';

const STATUS_ORDER = { unused: 0, redeemed: 1, returned: 2, expired: 3 };
const CHECKED_KEY = 'lineup.wallet.checked_at';

/** When the wallet's statuses were last confirmed by the server (kept across restarts). */
function lastChecked() {
  try {
    return localStorage.getItem(CHECKED_KEY);
  } catch {
    return null;
  }
}

function markChecked() {
  try {
    localStorage.setItem(CHECKED_KEY, new Date().toISOString());
  } catch {
    // Private mode or no storage: the note then says less.
  }
}

function statusText(entry, lang) {
  const v = entry.voucher;
  if (entry.status === 'redeemed' && v.redeemed_at) return t('voucher.redeemed_at', { date: formatDateTime(lang, v.redeemed_at) });
  if (entry.status === 'expired') return t('voucher.expired_on', { date: formatDateTime(lang, v.expires_at) });
  return t('voucher.expires_on', { date: formatDateTime(lang, v.expires_at) });
}

export function sortEntries(entries) {
  return [...entries].sort(
    (a, b) =>
      (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) ||
      Date.parse(a.voucher.expires_at) - Date.parse(b.voucher.expires_at) ||
      a.voucher.serial - b.voucher.serial,
  );
}

function entryTitle(entry) {
  return entry.campaign_title || entry.voucher.campaign_id;
}

function findEntry(campaign, serial) {
  return (state.wallet || []).find((e) => e.voucher.campaign_id === campaign && String(e.voucher.serial) === String(serial)) || null;
}

export function render(main, params, ctx) {
  ctx.setTitle(t('wallet.title'));
  const status = h('div', { class: 'status-area' });
  const list = h('ul', { class: 'card-list wallet-list', 'aria-label': t('wallet.title') });
  main.append(heading(t('wallet.title')), h('p', { class: 'lead', text: t('wallet.intro') }), status, list);
  let alive = true;
  let offline = false;
  /** A refresh refused for a reason other than the connection (e.g. key_revoked): kept on redraws. */
  let refreshError = null;

  function draw() {
    list.replaceChildren();
    const entries = sortEntries(state.wallet || []);
    const notes = [];
    if (offline) {
      const checked = lastChecked();
      const text = checked ? t('wallet.offline.checked', { time: formatClock(language(), checked) }) : t('wallet.offline');
      notes.push(h('p', { class: 'notice notice-info', 'data-testid': 'offline-note', text }));
    }
    if (refreshError) notes.push(errorBox(refreshError));
    if (state.wallet && entries.length === 0) notes.push(h('p', { class: 'notice', text: t('wallet.empty') }));
    status.replaceChildren(...notes);
    for (const entry of entries) list.append(item(entry));
  }

  function item(entry) {
    const v = entry.voucher;
    const lang = language();
    const button = h(
      'button',
      { type: 'button', class: `wallet-item status-${entry.status}`, 'data-serial': String(v.serial) },
      h('span', { class: 'wallet-item-title', text: entryTitle(entry) }),
      h('span', { class: 'wallet-item-amount', text: formatMoney(lang, v.amount, v.currency) }),
      h('span', { class: 'wallet-item-code', text: v.code }),
      h(
        'span',
        { class: 'wallet-item-meta' },
        h('span', { class: `badge badge-${entry.status}`, text: t(`voucher.status.${entry.status}`) }),
        ' ',
        h('span', { 'data-testid': 'wallet-status', text: statusText(entry, lang) }),
      ),
      entry.verified ? null : h('span', { class: 'wallet-item-warning', text: t('voucher.unverified') }),
      entry.status === 'unused'
        ? h('span', { class: 'wallet-item-open' }, icon('qr'), h('span', { text: t('voucher.open_qr') }))
        : h('span', { class: 'wallet-item-open' }, h('span', { text: t('details.summary') })),
    );
    button.addEventListener('click', () => {
      openedFromList = true;
      ctx.navigate(walletEntryHash(v.campaign_id, v.serial));
    });
    return h('li', {}, button);
  }

  /** Asks the server again (statuses, issuer keys); used by the unverified warning's button. */
  async function recheck(button) {
    await busy(button, async () => {
      try {
        setWallet(await api.refreshWallet());
        markChecked();
        offline = false;
      } catch (e) {
        offline = e.code === 'offline';
      }
    });
  }
  ctx.recheckWallet = recheck;

  async function load() {
    if (!state.wallet) status.replaceChildren(h('p', { class: 'loading', role: 'status', text: t('shell.loading') }));
    try {
      setWallet(await api.wallet());
    } catch (e) {
      if (!alive) return;
      status.replaceChildren(errorBox(e, { onRetry: load }));
      return;
    }
    if (!alive) return;
    openFromRoute();
    if (!state.campaigns) {
      // For the terms of use (which cinemas): optional, and never in the way offline.
      api.listCampaigns().then((list) => setCampaigns(list), () => {});
    }
    try {
      setWallet(await api.refreshWallet());
      markChecked();
      offline = false;
      refreshError = null;
    } catch (e) {
      offline = e.code === 'offline';
      refreshError = offline ? null : e;
    }
    if (alive) draw();
  }

  function openFromRoute() {
    if (!params.campaign) return;
    const entry = findEntry(params.campaign, params.serial);
    if (entry) openQr(entry, ctx);
    else status.replaceChildren(h('p', { class: 'notice', role: 'status', text: t('wallet.not_found') }));
  }

  const unsub = subscribe('wallet', () => {
    if (alive) draw();
  });
  if (state.wallet) {
    draw();
    openFromRoute();
  }
  load();
  return {
    cleanup() {
      alive = false;
      unsub();
      closeQr({ fromRoute: true });
    },
    onParams(next) {
      params = next;
      if (params.campaign) openFromRoute();
      else closeQr({ fromRoute: true });
    },
  };
}

let dialogCleanup = null;
/** Whether the open QR was pushed onto history from the list (then closing goes back). */
let openedFromList = false;

/** The full-screen QR for the box office. */
function openQr(entry, ctx) {
  const dialog = document.getElementById('qr-dialog');
  if (dialog.open) return;
  const v = entry.voucher;
  const lang = language();
  const usable = entry.status === 'unused';
  const svg = usable ? sanitizeSvg(entry.qr_svg) : null;
  const amount = formatMoney(lang, v.amount, v.currency);
  let top;
  if (usable) {
    top = svg
      ? h('div', { class: 'qr-image', role: 'img', 'aria-label': t('qr.image_label', { code: v.code }) }, svg)
      : h('p', { class: 'qr-missing', text: t('qr.unavailable') });
  } else {
    const body =
      entry.status === 'redeemed'
        ? v.redeemed_at
          ? t('qr.used.body', { date: formatDateTime(lang, v.redeemed_at) })
          : t('qr.used.body.unknown')
        : entry.status === 'expired'
          ? t('qr.expired.body', { date: formatDateTime(lang, v.expires_at) })
          : t('qr.returned.body');
    const key = entry.status === 'redeemed' ? 'used' : entry.status === 'expired' ? 'expired' : 'returned';
    top = h(
      'div',
      { class: 'qr-stamp', 'data-testid': 'qr-stamp' },
      icon(entry.status === 'expired' ? 'clock' : entry.status === 'returned' ? 'return' : 'check', 'qr-stamp-icon'),
      h('p', { class: 'qr-stamp-title', text: t(`qr.${key}.title`) }),
      h('p', { text: body }),
    );
  }
  const close = h('button', { type: 'button', class: 'button secondary qr-close', text: t('action.close') });
  const recheckButton = entry.verified ? null : h('button', { type: 'button', class: 'button secondary qr-recheck', text: t('voucher.recheck') });
  const campaign = campaignById(v.campaign_id);
  dialog.setAttribute('aria-labelledby', 'qr-title');
  dialog.dataset.status = entry.status;
  dialog.replaceChildren(
    h(
      'div',
      { class: 'qr-sheet' },
      h(
        'div',
        { class: 'qr-inner' },
        h('h2', { id: 'qr-title', text: entryTitle(entry) }),
        top,
        h('p', { class: `qr-code${usable ? '' : ' qr-code-void'}`, 'data-testid': 'qr-code', text: v.code }),
        usable ? h('p', { class: 'hint qr-staff', text: t('qr.show_staff') }) : null,
        h(
          'dl',
          { class: 'facts qr-facts' },
          fact(t('voucher.amount'), h('span', { text: amount })),
          fact(t('voucher.expires'), h('span', { text: formatDateTime(lang, v.expires_at) })),
          fact(t('voucher.status'), h('span', { text: t(`voucher.status.${entry.status}`) })),
        ),
        usable ? termsList({ brands: campaign?.brands, amount, expires: v.expires_at }, lang, { formatDateTime }) : null,
        entry.verified
          ? h('p', { class: 'qr-verified' }, icon('check', 'inline-icon'), h('span', { text: t('voucher.verified') }))
          : h(
              'div',
              { class: 'qr-warning-box', role: 'note' },
              h('p', { class: 'qr-warning' }, icon('alert', 'inline-icon'), h('span', { text: t('voucher.unverified') })),
              // lineup-core adds why, when it knows (an optional field beyond the contract).
              typeof entry.verify_error === 'string' ? h('p', { class: 'hint', text: entry.verify_error }) : null,
              h('p', { class: 'hint', text: t('voucher.unverified.todo') }),
              recheckButton,
            ),
        usable ? h('p', { class: 'hint', text: t('qr.brightness') }) : null,
        close,
      ),
    ),
  );
  recheckButton?.addEventListener('click', () => ctx.recheckWallet?.(recheckButton));
  const opener = document.activeElement;
  const onClose = () => closeQr({ fromRoute: false });
  close.addEventListener('click', onClose);
  // Escape fires `cancel`; route the close through history so "back" and Escape agree.
  const onCancel = (e) => {
    e.preventDefault();
    onClose();
  };
  dialog.addEventListener('cancel', onCancel);
  dialog.showModal();
  // Focus the close button without scrolling to it: the sheet starts at its title and QR.
  close.focus({ preventScroll: true });
  dialog.scrollTop = 0;
  // WebKitGTK scrolls the focused button into view after this task, whatever preventScroll says
  // (a frame or two later when the machine is busy).
  requestAnimationFrame(() => {
    dialog.scrollTop = 0;
    requestAnimationFrame(() => {
      dialog.scrollTop = 0;
    });
  });
  // The screen stays on while the QR is open (Screen Wake Lock). Web content cannot raise the
  // screen's brightness; the sheet is plain white at full luminance instead, and says so.
  let wakeLock = null;
  navigator.wakeLock?.request?.('screen').then(
    (lock) => {
      wakeLock = lock;
    },
    () => {},
  );
  dialogCleanup = (fromRoute) => {
    close.removeEventListener('click', onClose);
    dialog.removeEventListener('cancel', onCancel);
    wakeLock?.release?.().catch?.(() => {});
    if (dialog.open) dialog.close();
    dialog.replaceChildren();
    if (!fromRoute && location.hash.split('/').length > 3) {
      // Escape, the close button and "back" all end on the list without piling up history.
      if (openedFromList) history.back();
      else location.replace('#/wallet');
    }
    openedFromList = false;
    const target = document.querySelector(`.wallet-item[data-serial="${CSS.escape(String(v.serial))}"]`);
    (target || opener)?.focus?.();
  };
  ctx.announce(t('qr.opened'), { urgent: true });
}

function closeQr({ fromRoute }) {
  if (!dialogCleanup) return;
  const c = dialogCleanup;
  dialogCleanup = null;
  c(fromRoute);
}
