// What a claim means for the person, in one sentence and five steps: the fate headline
// ("won, issued automatically at 7:01:51 PM, you may close the app"; "not this time, waitlist
// #3,456"; "offline, your place is kept"), its icon (a glyph, never colour alone), and the
// timeline 신청 완료 → 추첨 → 결과 → 발급 → 종료 with the instants that can count down.
// Pure functions of (progress, campaign, language, translate) so node can unit-test them.

import { formatClock, formatDateTime, formatDuration, formatTime } from './format.js';

/** Error codes that mean "the connection is the problem": the place is kept, the app goes on. */
export const CONNECTION_CODES = new Set(['offline', 'network', 'timeout', 'overloaded']);

const BEFORE_DRAW = new Set(['armed', 'waiting_open', 'slot_requested', 'pre_queue']);
const WON = new Set(['in_line', 'admitted', 'claiming', 'holding', 'expired']);

export function isConnectionProblem(p) {
  return Boolean(p && p.error && CONNECTION_CODES.has(p.error.code));
}

/** Where the line got to: positions up to `reach` were offered a voucher (supply + returns). */
export function reachOf(p) {
  if (isNum(p.position) && isNum(p.waitlist) && p.waitlist > 0) return p.position - p.waitlist;
  return isNum(p.supply) ? p.supply : null;
}

/**
 * The headline of a claim: { tone, icon, text }. tone: win | lose | wait | warn | info;
 * icon: check | cross | clock | alert | return.
 */
export function fate(p, campaign, lang, tr) {
  const c = campaign || null;
  const supply = p.supply ?? c?.supply ?? null;
  const num = (n) => (n === null || n === undefined ? '—' : n);
  if (p.phase === 'failed' || (p.error && !isFinal(p.phase))) {
    if (isConnectionProblem(p)) return { tone: 'warn', icon: 'alert', text: tr('fate.offline') };
    if (p.phase === 'failed') return { tone: 'warn', icon: 'alert', text: tr('result.failed.title') };
  }
  switch (p.phase) {
    case 'armed':
      return { tone: 'wait', icon: 'clock', text: tr('fate.armed') };
    case 'waiting_open':
      return {
        tone: 'wait',
        icon: 'clock',
        text: c ? tr('fate.waiting_open', { time: formatDateTime(lang, c.prequeue_opens_at) }) : tr('fate.waiting_open.unknown'),
      };
    case 'slot_requested':
      return { tone: 'wait', icon: 'clock', text: tr('fate.slot_requested') };
    case 'pre_queue':
      return {
        tone: 'wait',
        icon: 'clock',
        text: c ? tr('fate.pre_queue', { time: formatTime(lang, c.draw_at) }) : tr('fate.pre_queue.unknown'),
      };
    case 'in_line': {
      const params = { supply: num(supply), position: num(p.position) };
      const kind = p.in_draw === false ? 'late' : 'win';
      if (p.auto_issue) {
        const text = p.admit_at
          ? tr(`fate.${kind}.auto`, { ...params, time: formatTime(lang, p.admit_at) })
          : tr('fate.win.auto_soon', params);
        return { tone: 'win', icon: 'check', text };
      }
      const text =
        p.admit_at && c && isNum(c.admission_window_s)
          ? tr(`fate.${kind}.manual`, {
              ...params,
              time: formatTime(lang, p.admit_at),
              window: formatDuration(lang, c.admission_window_s * 1000),
            })
          : tr('fate.win.manual_soon', params);
      return { tone: 'win', icon: 'check', text };
    }
    case 'admitted':
      return { tone: 'win', icon: 'check', text: tr('fate.turn') };
    case 'claiming':
      return { tone: 'win', icon: 'check', text: tr('fate.claiming') };
    case 'waitlisted':
      return {
        tone: 'lose',
        icon: 'cross',
        text: tr(p.auto_issue ? 'fate.lose.auto' : 'fate.lose.manual', { waitlist: num(p.waitlist) }),
      };
    case 'holding':
      return { tone: 'win', icon: 'check', text: tr('result.holding.title') };
    case 'sold_out':
      return { tone: 'lose', icon: 'cross', text: tr('result.sold_out.title') };
    case 'expired':
      return { tone: 'lose', icon: 'clock', text: tr('result.expired.title') };
    case 'closed':
      return { tone: 'info', icon: 'cross', text: tr('result.closed.title') };
    case 'returned':
      return { tone: 'info', icon: 'return', text: tr(p.voucher ? 'result.returned.title.voucher' : 'result.returned.title') };
    default:
      return { tone: 'info', icon: 'clock', text: tr(`fate.${p.phase}`) };
  }
}

export function isFinal(phase) {
  return ['holding', 'sold_out', 'expired', 'closed', 'failed', 'returned'].includes(phase);
}

/**
 * The five steps. Each: { id, label, state: done | current | next | missed, detail, at }
 * where `at` (ms since the epoch, or null) is an instant the step counts down to.
 */
export function timeline(p, campaign, lang, tr) {
  const c = campaign || null;
  const phase = p.phase;
  const beforeDraw = BEFORE_DRAW.has(phase);
  const waitingToApply = phase === 'armed' || phase === 'waiting_open' || phase === 'slot_requested';
  const ms = (iso) => (iso ? Date.parse(iso) : null);
  const steps = [];

  steps.push({
    id: 'applied',
    label: tr(waitingToApply ? 'timeline.applied.pending' : 'timeline.applied'),
    state: waitingToApply ? 'current' : 'done',
    detail: phase === 'waiting_open' && c ? formatClock(lang, c.prequeue_opens_at) : null,
    at: phase === 'waiting_open' && c ? ms(c.prequeue_opens_at) : null,
  });

  const late = !beforeDraw && p.in_draw === false;
  steps.push({
    id: 'draw',
    label: late ? tr('timeline.draw.late') : c ? tr('timeline.draw', { time: formatClock(lang, c.draw_at) }) : tr('timeline.draw.plain'),
    state: beforeDraw ? (phase === 'pre_queue' ? 'current' : 'next') : 'done',
    detail: null,
    at: beforeDraw && c ? ms(c.draw_at) : null,
  });

  let result = { state: 'next', detail: tr('timeline.result.after_draw') };
  // A failed claim (e.g. offline) still knows the result it had before the connection went.
  const wonBeforeFailing = phase === 'failed' && isNum(p.position) && isNum(p.supply) && p.position <= p.supply && !isNum(p.waitlist);
  if ((WON.has(phase) || wonBeforeFailing) && isNum(p.position)) {
    result = { state: 'done', detail: tr(p.in_draw === false ? 'timeline.result.in' : 'timeline.result.win', { position: p.position }) };
  } else if (phase === 'waitlisted' || (phase === 'failed' && isNum(p.waitlist))) {
    result = { state: 'current', detail: tr('timeline.result.lose', { waitlist: p.waitlist ?? '—' }) };
  } else if (phase === 'sold_out') {
    result = { state: 'missed', detail: isNum(p.waitlist) ? tr('timeline.result.lose', { waitlist: p.waitlist }) : null };
  } else if (phase === 'closed' || phase === 'returned') {
    result = { state: 'done', detail: null };
  } else if (!beforeDraw && phase !== 'failed') {
    result = { state: 'done', detail: null };
  }
  steps.push({ id: 'result', label: tr('timeline.result'), ...result, at: null });

  let issue = { state: 'next', detail: null, at: null };
  const opens = c ? ms(c.opens_at) : null;
  const issueLabel = c ? tr('timeline.issue.opens', { time: formatClock(lang, c.opens_at) }) : tr('timeline.issue');
  if (phase === 'holding') issue = { state: 'done', detail: tr('timeline.issue.done'), at: null };
  else if (phase === 'admitted' || phase === 'claiming') issue = { state: 'current', detail: null, at: null };
  else if (phase === 'expired' || phase === 'sold_out' || phase === 'closed') issue = { state: 'missed', detail: tr('timeline.state.missed'), at: null };
  else if (phase === 'returned') issue = { state: 'missed', detail: tr('timeline.issue.returned'), at: null };
  else if (p.admit_at) issue = { state: 'next', detail: tr('timeline.issue.at', { time: formatTime(lang, p.admit_at) }), at: ms(p.admit_at) };
  else issue = { state: 'next', detail: null, at: opens };
  steps.push({ id: 'issue', label: issueLabel, ...issue });

  const ended = ['sold_out', 'closed', 'expired', 'returned'].includes(phase);
  steps.push({
    id: 'end',
    label: tr('timeline.end'),
    state: ended ? 'done' : 'next',
    detail: c ? tr('timeline.end.at', { date: formatDateTime(lang, c.closes_at) }) : null,
    at: null,
  });
  return steps;
}

/** "준비 20,000장 · 신청 31,234명": the supply next to the number of people in the draw. */
export function supplyLine(p, campaign, tr) {
  const supply = p.supply ?? campaign?.supply ?? null;
  const entrants = p.entrants ?? campaign?.entrants ?? null;
  if (!isNum(supply)) return null;
  return isNum(entrants) ? tr('line.supply_line', { supply, entrants }) : tr('line.supply_line.no_entrants', { supply });
}

/** Whether the person can give back their place (before the voucher) or the voucher. */
export function giveBackKind(p) {
  if (['pre_queue', 'in_line', 'waitlisted', 'admitted', 'waiting_open', 'armed'].includes(p.phase)) return 'line';
  if (p.phase === 'holding' && p.voucher && (p.voucher.status ?? 'unused') === 'unused') return 'voucher';
  return null;
}

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}
