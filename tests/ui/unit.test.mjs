// Unit tests of the UI's pure modules (no browser): formatting, translations, routes, claim
// progress tracking (ETA deadlines, growth reasons, progress fraction) and input parsing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMoney, formatDuration, formatNumber, formatTime } from '../../ui/js/format.js';
import { translate, LANGUAGES } from '../../ui/js/i18n.js';
import { parseRoute, walletEntryHash } from '../../ui/js/routes.js';
import { track, lineProgress, growthReason, remaining, isResult, canRetry, GROWTH_TOLERANCE_MS } from '../../ui/js/claims.js';
import { effectivePhase } from '../../ui/js/screens/campaigns.js';
import { progress, campaign } from './lib/fixtures.mjs';

describe('format', () => {
  it('writes won the Korean way and money in minor units otherwise', () => {
    assert.equal(formatMoney('ko', 6000, 'KRW'), '6,000원');
    assert.equal(formatMoney('en', 6000, 'KRW'), '₩6,000');
    assert.equal(formatMoney('en', 1250, 'USD'), '$12.50');
    assert.equal(formatMoney('ko', 5, 'won!'), '5 won!', 'an invalid code is shown, not thrown');
  });

  it('says durations coarsely, with seconds only under ten minutes', () => {
    assert.equal(formatDuration('ko', 12_000), '12초');
    assert.equal(formatDuration('ko', 125_000), '2분 5초');
    assert.equal(formatDuration('ko', 4_830_000), '1시간 20분');
    assert.equal(formatDuration('en', 1_000), '1 second');
    assert.equal(formatDuration('en', 601_000), '10 minutes');
    assert.equal(formatDuration('en', 0), '0 seconds');
    assert.equal(formatDuration('ko', 1_001), '2초', 'rounds up: never promises sooner than the truth');
    assert.equal(formatDuration('ko', -5), '0초');
  });

  it('formats numbers and times in the chosen language', () => {
    assert.equal(formatNumber('ko', 1234567), '1,234,567');
    assert.equal(formatNumber('en', 1234567), '1,234,567');
    assert.equal(formatTime('en', 'not a time'), '');
  });
});

describe('i18n', () => {
  it('has the same keys and placeholders in Korean and English', () => {
    const ko = LANGUAGES.ko;
    const en = LANGUAGES.en;
    assert.deepEqual(Object.keys(en).sort(), Object.keys(ko).sort());
    const holes = (v) => JSON.stringify(v).match(/\{\w+\}/g)?.filter((x, i, a) => a.indexOf(x) === i).sort() ?? [];
    for (const key of Object.keys(ko)) assert.deepEqual(holes(en[key]), holes(ko[key]), key);
  });

  it('fills placeholders, formats numbers and picks plural forms', () => {
    assert.equal(translate('ko', 'line.ahead.value', { count: 1, n: 1 }), '1명');
    assert.equal(translate('en', 'line.ahead.value', { count: 1, n: 1 }), '1 person');
    assert.equal(translate('en', 'line.ahead.value', { count: 12000, n: 12000 }), '12,000 people');
    assert.equal(translate('ko', 'time.in', { duration: '12초' }), '12초 후');
    assert.equal(translate('en', 'no.such.key'), 'no.such.key');
    assert.equal(translate('ko', 'line.position.value', {}), '{n}번', 'a missing param stays visible');
  });

  it('uses the phrases people expect in Korean', () => {
    const text = Object.values(LANGUAGES.ko).join('\n');
    for (const phrase of ['줄 서기', '대기 순번', '새로고침하지 않아도 됩니다', '추첨 전 줄 선 모든 분은 같은 추첨에 참여합니다: 먼저 누른다고 유리하지 않습니다']) {
      assert.ok(text.includes(phrase), phrase);
    }
  });
});

describe('routes', () => {
  it('parses every route and falls back to the campaigns', () => {
    assert.deepEqual(parseRoute(''), { name: 'campaigns', params: {} });
    assert.deepEqual(parseRoute('#/claim/lotte-1125'), { name: 'claim', params: { id: 'lotte-1125' } });
    assert.deepEqual(parseRoute('#/claim'), { name: 'campaigns', params: {} });
    assert.deepEqual(parseRoute('#/wallet/mega-1125/12688'), { name: 'wallet', params: { campaign: 'mega-1125', serial: '12688' } });
    assert.deepEqual(parseRoute('#/wallet'), { name: 'wallet', params: {} });
    assert.deepEqual(parseRoute('#/settings'), { name: 'settings', params: {} });
    assert.deepEqual(parseRoute('#main'), { name: 'campaigns', params: {} });
    assert.deepEqual(parseRoute('#/claim/%E0%A4%A'), { name: 'claim', params: { id: '%E0%A4%A' } });
    assert.equal(walletEntryHash('a b', 7), '#/wallet/a%20b/7');
  });
});

describe('claim progress', () => {
  const line = (fields) => progress('demo', { phase: 'in_line', position: 100, ahead: 40, ...fields });

  it('keeps deadlines on the local clock and counts down to zero, not below', () => {
    const t = track(null, line({ eta_ms: 30_000, next_check_in_ms: 12_000 }), 1_000);
    assert.equal(t.etaDeadline, 31_000);
    assert.equal(t.checkDeadline, 13_000);
    assert.equal(remaining(t.etaDeadline, 11_000), 20_000);
    assert.equal(remaining(t.checkDeadline, 20_000), 0);
    assert.equal(remaining(null, 0), null);
  });

  it('notices an ETA that grew and says why; small wobbles are not growth', () => {
    const a = track(null, line({ eta_ms: 60_000 }), 0);
    const wobble = track(a, line({ eta_ms: 60_000 + GROWTH_TOLERANCE_MS }), 0);
    assert.equal(wobble.etaGrowth, null);
    const grew = track(a, line({ eta_ms: 90_000 }), 0);
    assert.deepEqual(grew.etaGrowth, { byMs: 30_000, reason: 'schedule' });
    // The reason stays while the estimate stays up, and clears when it comes down.
    const still = track(grew, line({ eta_ms: 85_000 }), 5_000);
    assert.deepEqual(still.etaGrowth, grew.etaGrowth);
    const down = track(still, line({ eta_ms: 40_000 }), 10_000);
    assert.equal(down.etaGrowth, null);
  });

  it('names the reason from what changed', () => {
    const base = line({});
    assert.equal(growthReason(progress('d', { phase: 'pre_queue' }), base), 'phase');
    assert.equal(growthReason(base, line({ position: 120 })), 'position');
    assert.equal(growthReason(base, line({ ahead: 41 })), 'ahead');
    assert.equal(growthReason(progress('d', { phase: 'waitlisted' }), progress('d', { phase: 'waitlisted' })), 'waitlist');
    assert.equal(growthReason(base, line({})), 'schedule');
  });

  it('computes the bar from people ahead, and none before the draw or on the waitlist', () => {
    assert.deepEqual(lineProgress(line({})), { value: 59, max: 99, front: false });
    assert.deepEqual(lineProgress(line({ position: 1, ahead: 0 })), { value: 1, max: 1, front: true });
    assert.deepEqual(lineProgress(line({ ahead: 500 })), { value: 0, max: 99, front: false });
    assert.equal(lineProgress(progress('d', { phase: 'pre_queue' })), null);
    assert.equal(lineProgress(progress('d', { phase: 'waitlisted', waitlist: 3 })), null);
    assert.equal(lineProgress(line({ position: null })), null);
    assert.deepEqual(lineProgress(progress('d', { phase: 'claiming' })), { value: 1, max: 1, front: true });
  });

  it('knows results and which errors are worth retrying', () => {
    assert.equal(isResult('holding'), true);
    assert.equal(isResult('in_line'), false);
    assert.equal(canRetry({ code: 'offline' }), true);
    assert.equal(canRetry({ code: 'sold_out' }), false);
    assert.equal(canRetry(null), false);
  });
});

describe('campaign phase', () => {
  it('moves on with its own instants, never backwards, and keeps sold out and closed', () => {
    const c = campaign('x', {
      phase: 'upcoming',
      prequeue_opens_at: '2026-11-25T10:00:00Z',
      draw_at: '2026-11-25T10:10:00Z',
      opens_at: '2026-11-25T10:11:00Z',
      closes_at: '2026-11-25T12:00:00Z',
    });
    const t = (iso) => Date.parse(iso);
    assert.equal(effectivePhase(c, t('2026-11-25T09:59:59Z')), 'upcoming');
    assert.equal(effectivePhase(c, t('2026-11-25T10:00:00Z')), 'pre_queue');
    assert.equal(effectivePhase(c, t('2026-11-25T10:10:30Z')), 'drawn');
    assert.equal(effectivePhase(c, t('2026-11-25T10:11:00Z')), 'open');
    assert.equal(effectivePhase(c, t('2026-11-25T12:00:01Z')), 'closed');
    assert.equal(effectivePhase({ ...c, phase: 'open' }, t('2026-11-25T09:00:00Z')), 'open', 'the server knows better');
    assert.equal(effectivePhase({ ...c, phase: 'sold_out' }, t('2026-11-25T10:30:00Z')), 'sold_out');
  });
});
