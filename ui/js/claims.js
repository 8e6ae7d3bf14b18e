// What a ClaimProgress means for the screen: which phases are still waiting and which are a
// result, local countdowns between events, the progress fraction, and why an ETA grew.
// Pure functions of their inputs (the caller passes a monotonic `now`), unit-tested in node.

export const WAITING_PHASES = Object.freeze([
  'armed',
  'waiting_open',
  'slot_requested',
  'pre_queue',
  'in_line',
  'admitted',
  'claiming',
  'waitlisted',
]);
export const RESULT_PHASES = Object.freeze(['holding', 'sold_out', 'expired', 'closed', 'failed', 'returned']);

export function isResult(phase) {
  return RESULT_PHASES.includes(phase);
}

/** Error codes where trying again can help (the rest need the person to change something). */
const RETRYABLE = new Set([
  'offline',
  'network',
  'overloaded',
  'timeout',
  'internal',
  'rate_limited',
  'request_in_flight',
  'stale_signature',
  'keyring',
  'unknown',
]);

export function canRetry(error) {
  return Boolean(error) && RETRYABLE.has(error.code);
}

/** An ETA may wobble by a moment between events (rounding, jitter); more than this is growth. */
export const GROWTH_TOLERANCE_MS = 2000;

/**
 * Folds a new progress event into the tracked state. Deadlines are kept on the caller's
 * monotonic clock (`now`, e.g. `performance.now()`), because the server's delays are relative
 * to the response and the device clock may be wrong.
 */
export function track(prev, progress, now) {
  const etaDeadline = isNum(progress.eta_ms) ? now + progress.eta_ms : null;
  const checkDeadline = isNum(progress.next_check_in_ms) ? now + progress.next_check_in_ms : null;
  let etaGrowth = null;
  if (prev && prev.progress.phase === progress.phase && prev.etaGrowth && etaDeadline !== null) {
    // Keep explaining an earlier growth until the estimate comes back down.
    etaGrowth = etaDeadline > prev.etaDeadline - GROWTH_TOLERANCE_MS ? prev.etaGrowth : null;
  }
  if (prev && prev.etaDeadline !== null && etaDeadline !== null) {
    const grew = etaDeadline - prev.etaDeadline;
    if (grew > GROWTH_TOLERANCE_MS) {
      etaGrowth = { byMs: grew, reason: growthReason(prev.progress, progress) };
    }
  }
  return { progress, etaDeadline, checkDeadline, etaGrowth, receivedAt: now };
}

/** Why the estimate moved later, in the terms the person can see on screen. */
export function growthReason(before, after) {
  if (before.phase !== after.phase) return 'phase';
  if (isNum(before.position) && isNum(after.position) && after.position > before.position) return 'position';
  if (isNum(before.ahead) && isNum(after.ahead) && after.ahead > before.ahead) return 'ahead';
  if (after.phase === 'waitlisted') return 'waitlist';
  return 'schedule';
}

export function remaining(deadline, now) {
  return deadline === null ? null : Math.max(0, deadline - now);
}

/**
 * The progress bar: how many of the people ahead of me have been admitted
 * (`position - 1 - ahead` of `position - 1`); full when nobody is ahead. Null when there is no
 * position yet (before the draw) or when a bar would mislead (the waitlist depends on others
 * not claiming).
 */
export function lineProgress(progress) {
  if (progress.phase === 'admitted' || progress.phase === 'claiming') {
    return { value: 1, max: 1, front: true };
  }
  if (progress.phase !== 'in_line') return null;
  if (!isNum(progress.position) || !isNum(progress.ahead) || progress.position < 1) return null;
  const max = progress.position - 1;
  if (max === 0 || progress.ahead <= 0) return { value: 1, max: 1, front: true };
  const value = Math.min(max, Math.max(0, max - progress.ahead));
  return { value, max, front: false };
}

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}
