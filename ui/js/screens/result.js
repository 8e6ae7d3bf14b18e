// The final word on a claim, fate first: the voucher received (number large, where and how
// to use it, a way to its QR), not this time (your draw number and how far the line got),
// the issuing time passed (the window, without blame), the offer ended, given back, or a
// problem with what to do next (a lost connection keeps the place and issues nothing twice).

import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatMoney, formatDateTime, formatTime } from '../format.js';
import { canRetry } from '../claims.js';
import { fate, reachOf, timeline, giveBackKind, isConnectionProblem } from '../fate.js';
import { walletEntryHash } from '../routes.js';
import { heading, errorAdvice, busy, fact, fateBlock, confirmStep, termsList, icon, registerAgainButton } from '../ui.js';

export function create({ id, tracked, campaign, title, ctx, retry, giveBack }) {
  const el = h('section', { class: 'result-view', 'aria-labelledby': 'result-title' });
  let current = tracked;

  function headline(p) {
    const f = fate(p, campaign, language(), t);
    const block = fateBlock(f, { asHeading: true, id: 'result-title' });
    return block;
  }

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
        drawOutcome(p);
    }
  }

  function miniTimeline(p) {
    const items = timeline(p, campaign, language(), t).map((s) =>
      h(
        'li',
        { class: `step step-${s.state}`, 'data-state': s.state },
        h('span', { class: 'step-dot', 'aria-hidden': 'true' }, s.state === 'done' ? icon('check', 'step-icon') : s.state === 'missed' ? icon('cross', 'step-icon') : null),
        h('span', { class: 'step-body' }, h('span', { class: 'step-label', text: s.label }), h('span', { class: 'visually-hidden', text: ` (${t(`timeline.state.${s.state}`)})` }), s.detail ? h('span', { class: 'step-detail', text: s.detail }) : null),
      ),
    );
    return h('ol', { class: 'timeline timeline-compact', 'aria-label': t('timeline.title'), 'data-testid': 'timeline' }, items);
  }

  function outcomeBody(p) {
    const lang = language();
    switch (p.phase) {
      case 'sold_out': {
        const reach = reachOf(p);
        return p.position != null && reach != null
          ? t('result.sold_out.body', { position: p.position, reach })
          : t('result.sold_out.body.unknown');
      }
      case 'expired': {
        const windowS = campaign?.admission_window_s;
        if (p.admit_at && typeof windowS === 'number') {
          const from = Date.parse(p.admit_at);
          return t('result.expired.body', { from: formatTime(lang, p.admit_at), until: formatTime(lang, new Date(from + windowS * 1000).toISOString()) });
        }
        return t('result.expired.body.unknown');
      }
      case 'closed':
        return campaign ? t('result.closed.body', { date: formatDateTime(lang, campaign.closes_at) }) : t('result.closed.body.unknown');
      case 'returned':
        return t(p.voucher ? 'result.returned.body.voucher' : 'result.returned.body');
      default:
        return '';
    }
  }

  function drawOutcome(p) {
    el.append(
      headline(p),
      h('p', { class: 'lead', 'data-testid': 'result-body', text: outcomeBody(p) }),
      miniTimeline(p),
      h('p', { class: 'next-step', text: t(`result.${p.phase}.next`) }),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/campaigns', text: t('action.to_campaigns') })),
    );
  }

  function drawHolding(p) {
    const v = p.voucher;
    el.append(headline(p));
    if (!v) {
      el.append(h('p', { class: 'lead', text: t('result.holding.no_voucher') }));
    } else {
      const lang = language();
      const amount = formatMoney(lang, v.amount, v.currency);
      el.append(
        h('p', { class: 'lead', text: t('result.holding.body', { amount }) }),
        h(
          'div',
          { class: 'voucher-code-box' },
          h('p', { class: 'code-label', id: 'result-code-label', text: t('voucher.code') }),
          h('p', { class: 'voucher-code', 'aria-labelledby': 'result-code-label', 'data-testid': 'voucher-code', text: v.code }),
        ),
        h('div', { class: 'actions' }, h('a', { class: 'button primary with-icon', href: walletEntryHash(v.campaign_id, v.serial) }, icon('qr'), h('span', { text: t('result.holding.wallet') }))),
        h(
          'section',
          { class: 'terms-box', 'aria-labelledby': 'result-terms' },
          h('h2', { id: 'result-terms', text: t('terms.title') }),
          termsList({ brands: campaign?.brands, amount, expires: v.expires_at }, lang, { formatDateTime }),
        ),
        h(
          'dl',
          { class: 'facts' },
          fact(t('voucher.amount'), h('span', { text: amount })),
          fact(t('voucher.expires'), h('span', { text: formatDateTime(lang, v.expires_at) })),
        ),
      );
    }
    if (giveBack && giveBackKind(p) === 'voucher') {
      el.append(
        confirmStep({
          label: t('give_back.voucher'),
          question: t('give_back.confirm.voucher'),
          yes: t('give_back.confirm.yes.voucher'),
          testid: 'give-back',
          onConfirm: () => giveBack(id),
        }),
      );
    }
    el.append(h('p', { class: 'back' }, h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') })));
  }

  function drawFailed(p) {
    const error = p.error || { code: 'unknown', message: t('error.unknown') };
    el.append(headline(p));
    el.append(
      h(
        'div',
        { class: 'notice notice-error' },
        h('p', { class: 'notice-title', 'data-testid': 'error-message', text: error.message || t('error.unknown') }),
        isConnectionProblem(p) ? null : h('p', { text: errorAdvice(error.code) }),
      ),
    );
    if (isConnectionProblem(p)) el.append(miniTimeline(p));
    const actions = h('div', { class: 'actions' });
    if (error.code === 'key_revoked') {
      actions.append(registerAgainButton());
    } else if (error.code === 'not_registered' || error.code === 'unknown_identity') {
      actions.append(h('a', { class: 'button primary', href: '#/register', text: t('result.failed.register') }));
    } else if (canRetry(error)) {
      const button = h('button', { type: 'button', class: 'button primary', text: t('action.retry') });
      button.addEventListener('click', () => busy(button, retry));
      actions.append(button);
    }
    actions.append(h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') }));
    el.append(actions);
  }

  const titleOf = (p) => fate(p, campaign, language(), t).text;
  draw();
  return {
    el,
    title: titleOf(tracked.progress),
    update(next) {
      const samePhase = next.progress.phase === current.progress.phase;
      current = next;
      if (!samePhase) {
        draw();
        ctx.setTitle(titleOf(next.progress));
        el.querySelector('h1')?.focus();
      }
    },
    phaseAnnouncement() {
      const p = current.progress;
      if (p.phase === 'holding' && p.voucher) return t('result.holding.announce', { code: p.voucher.code });
      if (p.phase === 'failed') return `${titleOf(p)} ${p.error?.message ?? ''}`.trim();
      return `${titleOf(p)} ${outcomeBody(p)}`.trim();
    },
    routineAnnouncement: () => '',
    destroy() {},
    id,
  };
}
