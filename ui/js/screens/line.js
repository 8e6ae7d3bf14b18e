// The "in line" view: phase in a plain sentence, position, people ahead, an ETA counting down
// locally between events, a progress bar, when the next check happens, that there is no need
// to refresh, how the draw works, and why an ETA grew when it did.

import { h, setText } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatDuration, formatTime, formatDateTime } from '../format.js';
import { lineProgress, remaining } from '../claims.js';
import { heading, fact } from '../ui.js';

export function create({ tracked, campaign, title, ctx }) {
  let current = tracked;

  const sentence = h('p', { class: 'phase-sentence', 'data-testid': 'phase-sentence' });
  const positionValue = h('span', { 'data-testid': 'position' });
  const aheadValue = h('span', { 'data-testid': 'ahead' });
  const etaValue = h('span', { 'data-testid': 'eta' });
  const etaAt = h('span', { class: 'subtle' });
  const checkValue = h('span', { 'data-testid': 'next-check' });
  const checkAt = h('span', { class: 'subtle' });
  const positionFact = fact(t('line.position'), positionValue, 'fact-big');
  const aheadFact = fact(t('line.ahead'), aheadValue, 'fact-big');
  const etaFact = fact(t('line.eta'), h('span', {}, etaValue, h('br'), etaAt));
  const checkFact = fact(t('line.next_check'), h('span', {}, checkValue, h('br'), checkAt));
  const facts = h('dl', { class: 'facts facts-line' }, positionFact, aheadFact, etaFact, checkFact);

  const progressLabel = h('p', { id: 'line-progress-label', class: 'progress-label' });
  const bar = h('progress', { class: 'line-progress', 'aria-labelledby': 'line-progress-label' });
  const progressBox = h('div', { class: 'progress-box' }, progressLabel, bar);

  const growth = h('p', { class: 'notice notice-info', 'data-testid': 'eta-growth', hidden: true });
  const draw = h('p', { class: 'draw-note', 'data-testid': 'draw-note' });
  const attempts = h('p', { class: 'subtle', 'data-testid': 'attempts' });
  const calm = h('p', { class: 'calm', text: t('line.no_refresh') });

  const el = h(
    'section',
    { class: 'line-view', 'aria-labelledby': 'line-title' },
    h('p', { class: 'eyebrow', text: t('line.eyebrow') }),
    heading(title, 'line-title'),
    sentence,
    facts,
    progressBox,
    growth,
    calm,
    draw,
    attempts,
    h('p', {}, h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') })),
  );

  function phaseSentence(p) {
    const lang = language();
    switch (p.phase) {
      case 'waiting_open':
        return campaign
          ? t('line.phase.waiting_open_at', { time: formatDateTime(lang, campaign.prequeue_opens_at) })
          : t('line.phase.waiting_open');
      case 'pre_queue':
        return campaign ? t('line.phase.pre_queue_at', { time: formatTime(lang, campaign.draw_at) }) : t('line.phase.pre_queue');
      case 'in_line':
        return p.admit_at ? t('line.phase.in_line_at', { time: formatTime(lang, p.admit_at) }) : t('line.phase.in_line');
      case 'waitlisted':
        return t('line.phase.waitlisted', { waitlist: p.waitlist ?? 0 });
      default:
        return t(`line.phase.${p.phase}`);
    }
  }

  function update(next) {
    current = next;
    const p = next.progress;
    const waitlisted = p.phase === 'waitlisted';
    setText(sentence, phaseSentence(p));
    el.dataset.phase = p.phase;

    // Words ("not known yet") are set smaller than numbers in the big figures.
    const known = (el, value) => {
      el.dataset.known = String(value != null);
    };
    known(positionValue, waitlisted ? p.waitlist : p.position);
    known(aheadValue, waitlisted ? p.supply : p.ahead);
    if (waitlisted) {
      positionFact.querySelector('dt').textContent = t('line.waitlist');
      setText(positionValue, p.waitlist != null ? t('line.waitlist.value', { n: p.waitlist }) : t('line.unknown'));
      aheadFact.querySelector('dt').textContent = t('line.supply');
      setText(aheadValue, p.supply != null ? t('line.supply.value', { n: p.supply }) : t('line.unknown'));
    } else {
      positionFact.querySelector('dt').textContent = t('line.position');
      setText(positionValue, p.position != null ? t('line.position.value', { n: p.position }) : t('line.position.pending'));
      aheadFact.querySelector('dt').textContent = t('line.ahead');
      setText(aheadValue, p.ahead != null ? t('line.ahead.value', { count: p.ahead, n: p.ahead }) : t('line.unknown'));
    }
    etaFact.querySelector('dt').textContent = waitlisted ? t('line.eta.waitlist') : t('line.eta');
    setText(etaAt, p.admit_at ? t('line.at', { time: formatTime(language(), p.admit_at) }) : '');
    setText(checkAt, p.next_check_at ? t('line.at', { time: formatTime(language(), p.next_check_at) }) : '');

    const frac = lineProgress(p);
    if (frac) {
      bar.max = frac.max;
      bar.value = frac.value;
      const words = frac.front
        ? t('line.progress.front')
        : t('line.progress.label', { done: frac.value, total: frac.max });
      bar.setAttribute('aria-valuetext', words);
      setText(progressLabel, words);
      progressBox.hidden = false;
    } else if (waitlisted) {
      progressBox.hidden = true;
    } else {
      // Before the draw nobody has a position: an indeterminate bar, said in words.
      bar.removeAttribute('value');
      bar.removeAttribute('aria-valuetext');
      setText(progressLabel, t('line.progress.before_draw'));
      progressBox.hidden = false;
    }

    if (next.etaGrowth) {
      setText(
        growth,
        t(`line.growth.${next.etaGrowth.reason}`, {
          by: formatDuration(language(), Math.floor(next.etaGrowth.byMs / 1000) * 1000),
        }),
      );
      growth.hidden = false;
    } else {
      growth.hidden = true;
    }

    const drawText =
      p.phase === 'waiting_open' || p.phase === 'armed' || p.phase === 'slot_requested' || p.phase === 'pre_queue'
        ? t('line.draw.before')
        : p.in_draw
          ? t('line.draw.joined')
          : t('line.draw.late');
    setText(draw, drawText);
    setText(attempts, t('line.attempts', { count: p.attempts ?? 0, n: p.attempts ?? 0 }));
    tick();
  }

  function tick() {
    const now = performance.now();
    const p = current.progress;
    const eta = remaining(current.etaDeadline, now);
    if (p.phase === 'admitted' || p.phase === 'claiming') setText(etaValue, t('line.eta.now'));
    else if (eta === null) setText(etaValue, p.phase === 'waitlisted' ? t('line.eta.waitlist_unknown') : t('line.unknown'));
    else if (eta === 0) setText(etaValue, t('line.eta.any_moment'));
    else setText(etaValue, formatDuration(language(), eta));

    const check = remaining(current.checkDeadline, now);
    if (check === null) setText(checkValue, t('line.next_check.none'));
    else if (check === 0) setText(checkValue, t('line.next_check.now'));
    else setText(checkValue, t('time.in', { duration: formatDuration(language(), check) }));
  }

  function routineAnnouncement() {
    const p = current.progress;
    if (p.phase === 'waitlisted') return phaseSentence(p);
    if (p.position == null) return phaseSentence(p);
    return t('line.announce', { position: p.position, ahead: p.ahead ?? 0 });
  }

  update(tracked);
  const timer = setInterval(tick, 1000);
  return {
    el,
    title,
    update,
    phaseAnnouncement: () => phaseSentence(current.progress),
    routineAnnouncement,
    destroy: () => clearInterval(timer),
  };
}

