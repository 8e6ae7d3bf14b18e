// The wallet: every voucher held, from disk first (works offline), then refreshed from the
// server when it can be. Activating one opens a full-screen, black-on-white QR with the
// grouped code for the box office; Escape or back closes it.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatMoney, formatDateTime } from '../format.js';
import { sanitizeSvg } from '../qr.js';
import { walletEntryHash } from '../routes.js';
import { state, setWallet, subscribe } from '../store.js';
import { heading, errorBox, fact } from '../ui.js';

const STATUS_ORDER = { unused: 0, redeemed: 1, expired: 2 };

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

  function draw() {
    list.replaceChildren();
    const entries = sortEntries(state.wallet || []);
    const notes = [];
    if (offline) notes.push(h('p', { class: 'notice notice-info', 'data-testid': 'offline-note', text: t('wallet.offline') }));
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
        h('span', { text: t('voucher.expires_on', { date: formatDateTime(lang, v.expires_at) }) }),
      ),
      entry.verified ? null : h('span', { class: 'wallet-item-warning', text: t('voucher.unverified') }),
    );
    button.addEventListener('click', () => {
      openedFromList = true;
      ctx.navigate(walletEntryHash(v.campaign_id, v.serial));
    });
    return h('li', {}, button);
  }

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
    try {
      setWallet(await api.refreshWallet());
      offline = false;
    } catch (e) {
      offline = e.code === 'offline';
      if (!offline && alive) status.append(errorBox(e));
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
  const svg = sanitizeSvg(entry.qr_svg);
  const qr = svg
    ? h('div', { class: 'qr-image', role: 'img', 'aria-label': t('qr.image_label', { code: v.code }) }, svg)
    : h('p', { class: 'qr-missing', text: t('qr.unavailable') });
  const close = h('button', { type: 'button', class: 'button secondary qr-close', text: t('action.close') });
  dialog.setAttribute('aria-labelledby', 'qr-title');
  dialog.replaceChildren(
    h(
      'div',
      { class: 'qr-sheet' },
      h('h2', { id: 'qr-title', text: entryTitle(entry) }),
      qr,
      h('p', { class: 'qr-code', 'data-testid': 'qr-code', text: v.code }),
      h(
        'dl',
        { class: 'facts qr-facts' },
        fact(t('voucher.amount'), h('span', { text: formatMoney(lang, v.amount, v.currency) })),
        fact(t('voucher.expires'), h('span', { text: formatDateTime(lang, v.expires_at) })),
        fact(t('voucher.status'), h('span', { text: t(`voucher.status.${entry.status}`) })),
      ),
      entry.verified
        ? h('p', { class: 'qr-verified', text: t('voucher.verified') })
        : h(
            'div',
            {},
            h('p', { class: 'qr-warning', text: t('voucher.unverified') }),
            // lineup-core adds why, when it knows (an optional field beyond the contract).
            typeof entry.verify_error === 'string' ? h('p', { class: 'hint', text: entry.verify_error }) : null,
          ),
      h('p', { class: 'hint', text: t('qr.show_staff') }),
      close,
    ),
  );
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
  close.focus();
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
