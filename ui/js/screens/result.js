// The result of a claim: voucher received (the code large and grouped, a way to the wallet),
// sold out, admission expired, campaign closed, or an error with what to do next.

import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatMoney, formatDateTime } from '../format.js';
import { canRetry } from '../claims.js';
import { walletEntryHash } from '../routes.js';
import { heading, errorAdvice, busy, fact } from '../ui.js';

export function create({ id, tracked, title, ctx, retry }) {
  const el = h('section', { class: 'result-view', 'aria-labelledby': 'result-title' });
  let current = tracked;

  function draw() {
    const p = current.progress;
    el.dataset.phase = p.phase;
    el.replaceChildren(h('p', { class: 'eyebrow', text: title }));
    switch (p.phase) {
      case 'holding':
        drawHolding(p);
        break;
      case 'failed':
        drawFailed(p);
        break;
      default:
        el.append(
          h('div', { class: `result-icon result-${p.phase}`, 'aria-hidden': 'true' }),
          heading(t(`result.${p.phase}.title`), 'result-title'),
          h('p', { class: 'lead', text: t(`result.${p.phase}.body`) }),
          h('p', { text: t(`result.${p.phase}.next`) }),
          h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/campaigns', text: t('action.to_campaigns') })),
        );
    }
  }

  function drawHolding(p) {
    const v = p.voucher;
    el.append(h('div', { class: 'result-icon result-holding', 'aria-hidden': 'true' }), heading(t('result.holding.title'), 'result-title'));
    if (!v) {
      el.append(h('p', { class: 'lead', text: t('result.holding.no_voucher') }));
    } else {
      const lang = language();
      el.append(
        h('p', { class: 'lead', text: t('result.holding.body', { amount: formatMoney(lang, v.amount, v.currency) }) }),
        h(
          'div',
          { class: 'voucher-code-box' },
          h('p', { class: 'code-label', id: 'result-code-label', text: t('voucher.code') }),
          h('p', { class: 'voucher-code', 'aria-labelledby': 'result-code-label', 'data-testid': 'voucher-code', text: v.code }),
        ),
        h(
          'dl',
          { class: 'facts' },
          fact(t('voucher.amount'), h('span', { text: formatMoney(lang, v.amount, v.currency) })),
          fact(t('voucher.expires'), h('span', { text: formatDateTime(lang, v.expires_at) })),
        ),
        h('p', { text: t('result.holding.next') }),
      );
    }
    const actions = h('div', { class: 'actions' });
    if (v) actions.append(h('a', { class: 'button primary', href: walletEntryHash(v.campaign_id, v.serial), text: t('result.holding.wallet') }));
    actions.append(h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') }));
    el.append(actions);
  }

  function drawFailed(p) {
    const error = p.error || { code: 'unknown', message: t('error.unknown') };
    el.append(
      h('div', { class: 'result-icon result-failed', 'aria-hidden': 'true' }),
      heading(t('result.failed.title'), 'result-title'),
      h('div', { class: 'notice notice-error' }, h('p', { class: 'notice-title', 'data-testid': 'error-message', text: error.message || t('error.unknown') }), h('p', { text: errorAdvice(error.code) })),
    );
    const actions = h('div', { class: 'actions' });
    if (error.code === 'not_registered' || error.code === 'unknown_identity') {
      actions.append(h('a', { class: 'button primary', href: '#/register', text: t('result.failed.register') }));
    } else if (canRetry(error)) {
      const button = h('button', { type: 'button', class: 'button primary', text: t('action.retry') });
      button.addEventListener('click', () => busy(button, retry));
      actions.append(button);
    }
    actions.append(h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') }));
    el.append(actions);
  }

  draw();
  return {
    el,
    title: t(`result.${tracked.progress.phase}.title`),
    update(next) {
      const samePhase = next.progress.phase === current.progress.phase;
      current = next;
      if (!samePhase) {
        draw();
        ctx.setTitle(t(`result.${next.progress.phase}.title`));
        el.querySelector('h1')?.focus();
      }
    },
    phaseAnnouncement() {
      const p = current.progress;
      if (p.phase === 'holding' && p.voucher) return t('result.holding.announce', { code: p.voucher.code });
      if (p.phase === 'failed') return `${t('result.failed.title')}: ${p.error?.message ?? ''}`;
      return t(`result.${p.phase}.title`);
    },
    routineAnnouncement: () => '',
    destroy() {},
    id,
  };
}
