// The "my place" view while a claim is not final: the fate in one sentence first (won and
// when it is issued, waitlisted, waiting for the draw, offline with the place kept), the
// supply next to the number of people in the draw, the person's numbers, a timeline
// 신청 완료 → 추첨 → 결과 → 발급 → 종료 with local countdowns, why an estimate grew, and the
// engineer's details (next check, requests sent) folded away. Events redraw it in place.

import { h, setText, replaceChildren } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatDuration, formatTime } from '../format.js';
import { lineProgress, remaining } from '../claims.js';
import { fate, timeline, supplyLine, giveBackKind } from '../fate.js';
import { campaignEvents, icsFile } from '../calendar.js';
import { serverNow } from '../store.js';
import { heading, fact, fateBlock, confirmStep, icon } from '../ui.js';

/** A determinate meter drawn with boxes (styled track with >= 3:1 contrast, no animation). */
export function meter({ value, max, label, testid }) {
  const fill = h('span', { class: 'meter-fill' });
  const el = h('div', {
    class: 'meter',
    role: 'progressbar',
    'aria-valuemin': '0',
    'aria-valuemax': String(max),
    'aria-valuenow': String(value),
    'aria-valuetext': label,
    'aria-label': label,
    'data-testid': testid,
  }, h('span', { class: 'meter-track' }, fill));
  fill.dataset.value = String(value);
  // Width without an inline style attribute (the CSP forbids them): a CSS custom property set
  // through CSSOM is allowed.
  fill.style.setProperty('--fill', `${max > 0 ? Math.max(0, Math.min(1, value / max)) * 100 : 0}%`);
  return el;
}

/** Offers the draw and the opening as an .ics download. */
export function calendarButton(campaign, title) {
  const button = h('button', { type: 'button', class: 'button secondary with-icon', 'data-testid': 'add-calendar' }, icon('clock'), h('span', { text: t('campaign.calendar') }));
  button.addEventListener('click', () => {
    const body = icsFile(campaignEvents(campaign, title, t));
    const url = URL.createObjectURL(new Blob([body], { type: 'text/calendar;charset=utf-8' }));
    const a = h('a', { href: url, download: `lineup-${campaign.id}.ics`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  return button;
}

export function create({ id, tracked, campaign, title, giveBack }) {
  let current = tracked;

  const fateEl = fateBlock({ tone: 'wait', icon: 'clock', text: '' });
  const sentence = fateEl.querySelector('.fate-text');
  sentence.dataset.testid = 'phase-sentence';
  const supply = h('p', { class: 'supply-line', 'data-testid': 'supply-line' });
  const numbers = h('div', { class: 'numbers' });
  const growth = h('p', { class: 'notice notice-info', 'data-testid': 'eta-growth', hidden: true });
  const steps = h('ol', { class: 'timeline', 'aria-label': t('timeline.title'), 'data-testid': 'timeline' });
  const calm = h('p', { class: 'calm' });
  const calendar = campaign ? calendarButton(campaign, title) : null;
  const checkValue = h('span', { 'data-testid': 'next-check' });
  const drawNote = h('li', { 'data-testid': 'draw-note' });
  const autoNote = h('li', { 'data-testid': 'auto-note' });
  const attempts = h('li', { 'data-testid': 'attempts' });
  const details = h(
    'details',
    { class: 'details' },
    h('summary', { text: t('details.summary') }),
    h(
      'ul',
      { class: 'details-list' },
      h('li', {}, `${t('details.next_check')} · `, checkValue),
      autoNote,
      drawNote,
      h('li', { text: t('details.once') }),
      attempts,
    ),
  );
  const giveBackBox = h('div');

  const el = h(
    'section',
    { class: 'line-view', 'aria-labelledby': 'line-title' },
    heading(title, 'line-title'),
    fateEl,
    supply,
    numbers,
    growth,
    steps,
    calm,
    calendar ? h('div', { class: 'actions calendar-actions' }, calendar) : null,
    details,
    giveBackBox,
    h('p', { class: 'back' }, h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') })),
  );

  /** Live values that tick every second: [{ el, deadline (monotonic) | at (server ms), format }]. */
  let ticking = [];
  let shownGiveBack = null;

  function drawNumbers(p) {
    const lang = language();
    ticking = ticking.filter((x) => !x.numbers);
    const box = [];
    if (p.phase === 'waitlisted') {
      box.push(fact(t('line.waitlist'), h('span', { 'data-testid': 'position', text: p.waitlist != null ? t('line.waitlist.value', { n: p.waitlist }) : '—' }), 'fact-big'));
    } else if (p.position != null) {
      box.push(fact(t('line.position'), h('span', { 'data-testid': 'position', text: t('line.position.value', { n: p.position }) }), 'fact-big'));
      if (p.ahead != null) {
        box.push(fact(t('line.ahead'), h('span', { 'data-testid': 'ahead', text: t('line.ahead.value', { count: p.ahead, n: p.ahead }) }), 'fact-big'));
      }
      const eta = h('span', { 'data-testid': 'eta' });
      box.push(fact(t('line.eta'), h('span', {}, eta, p.admit_at ? h('span', { class: 'fact-sub', text: formatTime(lang, p.admit_at) }) : null), 'fact-big'));
      ticking.push({ numbers: true, el: eta, kind: 'eta' });
    }
    const frac = lineProgress(p);
    const children = [];
    if (box.length) children.push(h('dl', { class: 'facts facts-line' }, box));
    if (frac && p.position != null) {
      const words = frac.front ? t('line.progress.front') : t('line.progress.label', { done: frac.value, total: frac.max });
      children.push(h('div', { class: 'progress-box' }, h('p', { class: 'progress-label', text: words }), meter({ value: frac.value, max: frac.max, label: words, testid: 'line-progress' })));
    }
    replaceChildren(numbers, ...children);
    numbers.hidden = children.length === 0;
  }

  function drawTimeline(p) {
    const lang = language();
    ticking = ticking.filter((x) => !x.timeline);
    const items = timeline(p, campaign, lang, t).map((s) => {
      const left = h('span', { class: 'step-countdown' });
      if (s.at !== null && s.state !== 'done') ticking.push({ timeline: true, el: left, at: s.at });
      return h(
        'li',
        { class: `step step-${s.state}`, 'data-step': s.id, 'data-state': s.state },
        h('span', { class: 'step-dot', 'aria-hidden': 'true' }, s.state === 'done' ? icon('check', 'step-icon') : s.state === 'missed' ? icon('cross', 'step-icon') : null),
        h(
          'span',
          { class: 'step-body' },
          h('span', { class: 'step-label', text: s.label }),
          h('span', { class: 'visually-hidden', text: ` (${t(`timeline.state.${s.state}`)})` }),
          s.detail ? h('span', { class: 'step-detail', text: s.detail }) : null,
          left,
        ),
      );
    });
    replaceChildren(steps, ...items);
  }

  function drawGiveBack(p) {
    const kind = giveBack ? giveBackKind(p) : null;
    if (kind === shownGiveBack) return;
    shownGiveBack = kind;
    if (!kind) {
      replaceChildren(giveBackBox);
      return;
    }
    replaceChildren(
      giveBackBox,
      confirmStep({
        label: t(`give_back.${kind}`),
        question: t(`give_back.confirm.${kind}`),
        yes: t(`give_back.confirm.yes.${kind}`),
        testid: 'give-back',
        onConfirm: () => giveBack(id),
      }),
    );
  }

  function update(next) {
    current = next;
    const p = next.progress;
    const f = fate(p, campaign, language(), t);
    setText(sentence, f.text);
    fateEl.className = `fate fate-${f.tone}`;
    fateEl.dataset.tone = f.tone;
    if (fateEl.dataset.icon !== f.icon) {
      fateEl.dataset.icon = f.icon;
      fateEl.querySelector('.fate-icon').replaceChildren(icon(f.icon));
    }
    el.dataset.phase = p.phase;
    const line = supplyLine(p, campaign, t);
    setText(supply, line || '');
    supply.hidden = !line;
    drawNumbers(p);
    drawTimeline(p);

    if (next.etaGrowth) {
      setText(growth, t(`line.growth.${next.etaGrowth.reason}`, { by: formatDuration(language(), Math.floor(next.etaGrowth.byMs / 1000) * 1000) }));
      growth.hidden = false;
    } else {
      growth.hidden = true;
    }
    setText(calm, t(p.auto_issue ? 'line.no_refresh.auto' : 'line.no_refresh'));
    if (calendar) calendar.hidden = !(campaign && Date.parse(campaign.opens_at) > serverNow());
    const beforeDraw = ['waiting_open', 'armed', 'slot_requested', 'pre_queue'].includes(p.phase);
    setText(drawNote, beforeDraw ? t('details.draw.before') : p.in_draw ? t('details.draw.joined') : t('details.draw.late'));
    setText(autoNote, t(p.auto_issue ? 'details.auto_issue.on' : 'details.auto_issue.off'));
    setText(attempts, t('details.attempts', { count: p.attempts ?? 0, n: p.attempts ?? 0 }));
    drawGiveBack(p);
    tick();
  }

  function tick() {
    const now = performance.now();
    const p = current.progress;
    const lang = language();
    for (const x of ticking) {
      if (x.kind === 'eta') {
        const eta = remaining(current.etaDeadline, now);
        if (p.phase === 'admitted' || p.phase === 'claiming') setText(x.el, t('line.eta.now'));
        else if (eta === null) setText(x.el, '—');
        else if (eta === 0) setText(x.el, t('line.eta.any_moment'));
        else setText(x.el, formatDuration(lang, eta));
      } else {
        const left = x.at - serverNow();
        setText(x.el, left > 0 ? t('time.left', { duration: formatDuration(lang, left) }) : '');
      }
    }
    const check = remaining(current.checkDeadline, now);
    if (check === null) setText(checkValue, t('details.next_check.none'));
    else if (check === 0) setText(checkValue, t('details.next_check.now'));
    else setText(checkValue, t('time.in', { duration: formatDuration(lang, check) }) + (p.next_check_at ? ` (${formatTime(lang, p.next_check_at)})` : ''));
  }

  function routineAnnouncement() {
    const p = current.progress;
    if (p.position == null || p.phase === 'waitlisted') return sentence.textContent;
    return t('line.announce', { position: p.position, ahead: p.ahead ?? 0 });
  }

  update(tracked);
  const timer = setInterval(tick, 1000);
  return {
    el,
    title,
    update,
    phaseAnnouncement: () => sentence.textContent,
    routineAnnouncement,
    destroy: () => clearInterval(timer),
  };
}
