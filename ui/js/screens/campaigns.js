// The campaign list: what is offered, how much is left, a countdown to the next instant
// (pre-queue, draw, opening), and one button per campaign that arms the claim.

import { api } from '../api.js';
import { h, setText } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatDuration, formatMoney, formatDateTime } from '../format.js';
import { isResult } from '../claims.js';
import { state, setCampaigns, recordProgress, subscribe, serverNow } from '../store.js';
import { heading, errorBox, busy, fact, termsList, icon } from '../ui.js';
import { meter, calendarButton } from './line.js';
import { takeJustRegistered } from './register.js';
import { movedSentence } from './verify.js';

const ORDER = ['upcoming', 'pre_queue', 'drawn', 'open', 'closed'];

/**
 * The campaign's phase now, moved on from the listed one by its own instants (on the server's
 * clock), so the list stays right past an opening without asking the server again: a list
 * reload by every open app at the same second is exactly the herd the design avoids.
 */
export function effectivePhase(campaign, serverNowMs) {
  if (campaign.phase === 'sold_out' || campaign.phase === 'closed') return campaign.phase;
  const reached = (at) => Date.parse(at) <= serverNowMs;
  let derived = 'upcoming';
  if (reached(campaign.prequeue_opens_at)) derived = 'pre_queue';
  if (reached(campaign.draw_at)) derived = 'drawn';
  if (reached(campaign.opens_at)) derived = 'open';
  if (reached(campaign.closes_at)) derived = 'closed';
  const listed = ORDER.indexOf(campaign.phase);
  return ORDER.indexOf(derived) > listed ? derived : campaign.phase;
}

/** The next instant a person waits for in each campaign phase, and how to name it. */
export function countdownTarget(campaign, phase = campaign.phase) {
  switch (phase) {
    case 'upcoming':
      return { key: 'campaign.countdown.prequeue', at: campaign.prequeue_opens_at };
    case 'pre_queue':
      return { key: 'campaign.countdown.draw', at: campaign.draw_at };
    case 'drawn':
      return { key: 'campaign.countdown.open', at: campaign.opens_at };
    case 'open':
      return { key: 'campaign.countdown.close', at: campaign.closes_at };
    default:
      return null;
  }
}

function title(campaign) {
  return language() === 'en' && campaign.title_en ? campaign.title_en : campaign.title;
}

export function render(main, _params, ctx) {
  ctx.setTitle(t('campaigns.title'));
  const status = h('div', { class: 'status-area' });
  const list = h('ul', { class: 'card-list', 'aria-label': t('campaigns.title') });
  const registered = takeJustRegistered();
  const done = registered
    ? h(
        'div',
        { class: 'notice notice-ok', 'data-testid': 'registered' },
        h('p', { class: 'notice-title' }, icon('check', 'inline-icon'), h('span', { text: t(registered.moved ? 'register.moved.title' : 'register.done') })),
        registered.moved
          ? [
              h('p', { 'data-testid': 'moved', text: movedSentence(registered.moved) }),
              registered.moved.vouchers_reissued ? h('p', { text: t('register.moved.reissued') }) : null,
              registered.places.length === 1
                ? h('a', { class: 'button secondary', href: `#/claim/${encodeURIComponent(registered.places[0])}`, text: t('campaign.action.view_line') })
                : null,
            ]
          : h('p', { text: t('register.done.body', { contact: registered.contact }) }),
      )
    : null;
  main.append(...[heading(t('campaigns.title')), done, h('p', { class: 'lead', text: t('campaigns.intro') }), status, list].filter(Boolean));

  let alive = true;
  const countdowns = [];
  /** campaign id -> the phase its card shows, to redraw when an instant passes. */
  const shownPhases = new Map();

  function draw() {
    countdowns.length = 0;
    list.replaceChildren();
    const items = state.campaigns || [];
    if (state.campaigns && items.length === 0) {
      status.replaceChildren(h('p', { class: 'notice', text: t('campaigns.empty') }));
    }
    for (const c of items) list.append(card(c));
    tick();
  }

  function card(listed) {
    const c = { ...listed, phase: effectivePhase(listed, serverNow()) };
    shownPhases.set(c.id, c.phase);
    const titleId = `campaign-${c.id}-title`;
    const tracked = state.claims.get(c.id);
    const target = countdownTarget(c);
    const facts = h('dl', { class: 'facts' });
    const lang = language();
    const issuing = c.phase === 'open' || c.phase === 'sold_out' || c.phase === 'closed';
    if (issuing) {
      facts.append(fact(t('campaign.remaining'), h('span', { text: t('campaign.remaining.value', { remaining: c.remaining, supply: c.supply }) })));
    } else {
      facts.append(fact(t('campaign.supply'), h('span', { text: t('campaign.supply.value', { supply: c.supply }) })));
    }
    if (typeof c.entrants === 'number') {
      facts.append(fact(t('campaign.entrants'), h('span', { 'data-testid': 'entrants', text: t('campaign.entrants.value', { n: c.entrants }) })));
    }
    if (target) {
      const value = h('time', { datetime: target.at, class: 'countdown' });
      const when = h('span', { class: 'fact-sub', text: formatDateTime(lang, target.at) });
      facts.append(fact(t(target.key), h('span', {}, value, when)));
      countdowns.push({ el: value, at: Date.parse(target.at) });
    }
    const remainingWords = t('campaign.remaining.value', { remaining: c.remaining, supply: c.supply });
    const supplyMeter = issuing ? meter({ value: Math.max(0, c.remaining), max: Math.max(1, c.supply), label: `${t('campaign.remaining')} ${remainingWords}`, testid: 'supply-meter' }) : null;
    const amount = formatMoney(lang, c.amount, c.currency);
    const terms = h(
      'details',
      { class: 'terms-details' },
      h('summary', { text: t('terms.title') }),
      termsList({ brands: c.brands, amount, expires: c.voucher_expires_at }, lang, { formatDateTime }),
    );
    const calendar = ['upcoming', 'pre_queue', 'drawn'].includes(c.phase) ? calendarButton(c, title(c)) : null;

    const action = h('div', { class: 'card-action' });
    const help = h('p', { class: 'hint', id: `campaign-${c.id}-help` });
    const error = h('div');
    let button;
    const phase = tracked ? tracked.progress.phase : null;
    if (tracked && phase === 'holding') {
      button = h('button', { type: 'button', class: 'button primary', text: t('campaign.action.view_voucher') });
      button.addEventListener('click', () => ctx.navigate(`#/claim/${encodeURIComponent(c.id)}`));
      help.textContent = t('campaign.help.holding');
    } else if (tracked && !isResult(phase)) {
      button = h('button', { type: 'button', class: 'button primary', text: t('campaign.action.view_line') });
      button.addEventListener('click', () => ctx.navigate(`#/claim/${encodeURIComponent(c.id)}`));
      help.textContent = t('campaign.help.armed');
    } else if (tracked && isResult(phase) && phase !== 'failed') {
      button = h('button', { type: 'button', class: 'button primary', text: t('campaign.action.view_result') });
      button.addEventListener('click', () => ctx.navigate(`#/claim/${encodeURIComponent(c.id)}`));
      help.textContent = t('campaign.help.result');
    } else if (c.phase === 'closed' || c.phase === 'sold_out') {
      button = h('button', { type: 'button', class: 'button primary', disabled: true, text: t(`campaign.action.${c.phase}`) });
      help.textContent = t(`campaign.help.${c.phase}`);
    } else {
      button = h('button', { type: 'button', class: 'button primary', text: t('campaign.action.arm') });
      help.textContent = t(`campaign.help.${c.phase}`);
      button.addEventListener('click', () =>
        busy(button, async () => {
          error.replaceChildren();
          try {
            const progress = await api.armClaim(c.id);
            recordProgress(progress);
            ctx.announce(t('campaign.armed', { title: title(c) }), { urgent: true });
            ctx.navigate(`#/claim/${encodeURIComponent(c.id)}`);
          } catch (e) {
            error.replaceChildren(errorBox(e));
          }
        }),
      );
    }
    button.setAttribute('aria-describedby', `${titleId} campaign-${c.id}-help`);
    action.append(button, help);
    if (calendar) action.append(calendar);

    return h(
      'li',
      {},
      h(
        'article',
        { class: 'card campaign', 'aria-labelledby': titleId, 'data-campaign': c.id, 'data-phase': c.phase },
        h('p', { class: `badge badge-${c.phase}`, text: t(`campaign.phase.${c.phase}`) }),
        h('h2', { id: titleId, text: title(c) }),
        h('p', { class: 'meta', text: [c.issuer, (c.brands || []).join(' · ')].filter(Boolean).join(' — ') }),
        h('p', { class: 'amount', text: t('campaign.amount', { amount }) }),
        facts,
        supplyMeter,
        action,
        error,
        terms,
      ),
    );
  }

  function tick() {
    const now = serverNow();
    const moved = (state.campaigns || []).some((c) => shownPhases.has(c.id) && effectivePhase(c, now) !== shownPhases.get(c.id));
    if (moved) {
      redraw();
      return;
    }
    for (const cd of countdowns) {
      const left = cd.at - now;
      setText(cd.el, left > 0 ? t('time.left', { duration: formatDuration(language(), left) }) : t('time.now'));
    }
  }

  async function load() {
    status.replaceChildren(h('p', { class: 'loading', role: 'status', text: t('shell.loading') }));
    try {
      const list = await api.listCampaigns();
      if (!alive) return;
      setCampaigns(list);
      status.replaceChildren();
    } catch (e) {
      if (!alive) return;
      state.campaignsError = e;
      status.replaceChildren(
        errorBox(e, { onRetry: load }),
        e.code === 'offline' ? h('p', {}, h('a', { href: '#/wallet', text: t('campaigns.offline.wallet') })) : null,
      );
      if (!state.campaigns) return;
    }
    draw();
    // Learn about claims started earlier (e.g. before a restart) so the button says so.
    const missing = (state.campaigns || []).filter((c) => !state.claims.has(c.id));
    await Promise.all(
      missing.map(async (c) => {
        try {
          const p = await api.claimStatus(c.id);
          if (p) recordProgress(p);
        } catch {
          // The list still works without it; the button then offers to arm.
        }
      }),
    );
    if (alive && missing.length) draw();
  }

  /** Redraws the cards, keeping focus on the same campaign's button. */
  function redraw() {
    const focusedCampaign = document.activeElement?.closest?.('[data-campaign]')?.dataset.campaign;
    draw();
    if (focusedCampaign) list.querySelector(`[data-campaign="${CSS.escape(focusedCampaign)}"] button`)?.focus();
  }

  const unsub = subscribe('claim', () => {
    if (alive && state.campaigns) redraw();
  });
  const timer = setInterval(tick, 1000);
  if (state.campaigns) draw();
  load();
  return () => {
    alive = false;
    clearInterval(timer);
    unsub();
  };
}
