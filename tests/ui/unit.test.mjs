// Unit tests of the UI's pure modules (no browser): formatting, translations, routes, claim
// progress tracking (ETA deadlines, growth reasons, progress fraction) and input parsing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMoney, formatDuration, formatNumber, formatTime } from '../../ui/js/format.js';
import { translate, LANGUAGES } from '../../ui/js/i18n.js';
import { parseRoute, walletEntryHash } from '../../ui/js/routes.js';
import { track, lineProgress, growthReason, remaining, isResult, canRetry, GROWTH_TOLERANCE_MS } from '../../ui/js/claims.js';
import { effectivePhase } from '../../ui/js/screens/campaigns.js';
import { progress, campaign, PHASES, CAMPAIGNS } from './lib/fixtures.mjs';
import { fate, timeline, reachOf, supplyLine, giveBackKind } from '../../ui/js/fate.js';
import { icsFile, campaignEvents } from '../../ui/js/calendar.js';
import { signVoucher, holderBinding, fromB64u, keyFromSeed, verifyToken, qrSvg } from './lib/voucher-token.mjs';
import { uiCharsSorted } from './lib/font-subset.mjs';
import { readFileSync } from 'node:fs';

process.env.TZ = 'Asia/Seoul';

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
    for (const phrase of ['줄 서기', '내 순번', '새로고침하지 않아도 됩니다', '추첨 전에 신청한 사람은 모두 같은 추첨에 들어갑니다. 먼저 누른다고 유리하지 않습니다.']) {
      assert.ok(text.includes(phrase), phrase);
    }
  });

  it('keeps words people stumbled on out of the Korean copy', () => {
    // 쿠폰 (one word: 할인권), 입장 (reads as entering the theatre), 캠페인 (할인권/이벤트),
    // crypto words, "N분 후까지"-style pairs, and English-style "label: value" colons (the fate
    // headline's "당첨:" is the one deliberate exception).
    for (const [key, value] of Object.entries(LANGUAGES.ko)) {
      const text = JSON.stringify(value);
      assert.doesNotMatch(text, /쿠폰|입장|캠페인|열쇠|요약값|공개 키|후까지/, key);
      assert.doesNotMatch(text.replace(/^"당첨: /, '"').replace(/https?:\/\//g, ''), /[가-힣0-9)]: /, key);
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

describe('fate', () => {
  const en = (key, params) => translate('en', key, params);
  const c = CAMPAIGNS[1];

  it('puts the fate first: won and when, not this time, offline with the place kept', () => {
    assert.deepEqual(
      { ...fate(PHASES.in_line_auto, c, 'en', en), text: undefined },
      { tone: 'win', icon: 'check', text: undefined },
    );
    assert.match(fate(PHASES.in_line_auto, c, 'en', en).text, /^You won: you are within the 20,000 vouchers offered \(#12,345\)\. It will be issued automatically at .+\. You may close the app\.$/);
    assert.match(fate(PHASES.in_line, c, 'en', en).text, /You can receive it from .+, within 5 minutes\./);
    assert.equal(fate(PHASES.waitlisted_auto, c, 'en', en).text, en('fate.lose.auto', { waitlist: 3456 }));
    assert.equal(fate(PHASES.waitlisted_auto, c, 'en', en).icon, 'cross');
    assert.equal(fate(PHASES.offline, c, 'en', en).text, en('fate.offline'));
    assert.equal(fate(PHASES.expired, c, 'en', en).icon, 'clock');
    assert.equal(fate(PHASES.returned, c, 'en', en).icon, 'return');
    assert.equal(fate(progress('x', { phase: 'in_line', position: 9, supply: 10, in_draw: false, auto_issue: true, admit_at: c.opens_at }), c, 'en', en).text.startsWith('You are within'), true);
  });

  it('knows how far the line got and what can be given back', () => {
    assert.equal(reachOf(PHASES.sold_out), 20000);
    assert.equal(reachOf(progress('x', { phase: 'sold_out', position: 23456, waitlist: 3000 })), 20456);
    assert.equal(reachOf(progress('x', { phase: 'sold_out' })), null);
    assert.equal(giveBackKind(PHASES.in_line_auto), 'line');
    assert.equal(giveBackKind(PHASES.holding), 'voucher');
    assert.equal(giveBackKind(PHASES.sold_out), null);
    assert.equal(supplyLine(PHASES.pre_queue, { ...c, entrants: 31234 }, en), '20,000 vouchers · 31,234 people applied');
    assert.equal(supplyLine(progress('x', {}), null, en), null);
  });

  it('lays out the five steps with what is done, current and missed', () => {
    const states = (p) => timeline(p, c, 'en', en).map((s) => `${s.id}:${s.state}`).join(' ');
    assert.equal(states(PHASES.pre_queue), 'applied:done draw:current result:next issue:next end:next');
    assert.equal(states(PHASES.in_line_auto), 'applied:done draw:done result:done issue:next end:next');
    assert.equal(states(PHASES.waitlisted_auto), 'applied:done draw:done result:current issue:next end:next');
    assert.equal(states(PHASES.sold_out), 'applied:done draw:done result:missed issue:missed end:done');
    assert.equal(states(PHASES.holding), 'applied:done draw:done result:done issue:done end:next');
    const draw = timeline(PHASES.pre_queue, c, 'en', en)[1];
    assert.equal(draw.at, Date.parse(c.draw_at));
  });
});

describe('calendar', () => {
  it('writes an RFC 5545 file with the draw and the opening, escaped and folded', () => {
    const tr = (key, params) => translate('ko', key, params);
    const body = icsFile(campaignEvents(CAMPAIGNS[1], '롯데시네마 6,000원 할인권', tr), Date.parse('2026-11-25T10:00:00Z'));
    const lines = body.split('\r\n');
    assert.equal(lines[0], 'BEGIN:VCALENDAR');
    assert.equal(lines.at(-2), 'END:VCALENDAR');
    assert.ok(lines.includes('DTSTART:20261125T100045Z'));
    assert.ok(lines.includes('UID:lotte-1125-open@lineup'));
    assert.ok(body.includes('SUMMARY:롯데시네마 6\\,000원 할인권 추첨'));
    for (const line of lines) assert.ok(new TextEncoder().encode(line).length <= 75, `folded: ${line}`);
  });
});

describe('voucher tokens of the fixtures', () => {
  it('match the protocol test vectors byte for byte (token, code, key, holder)', () => {
    const vectors = JSON.parse(readFileSync(new URL('../../crates/protocol/tests/vectors/v1.json', import.meta.url))).vouchers;
    for (const v of vectors) {
      const holder = holderBinding(fromB64u(v.holder_key));
      assert.equal(holder.toString('hex'), v.holder_binding_hex);
      const seed = fromB64u(v.signing_key_seed);
      assert.equal(keyFromSeed(seed).publicKey, v.public_key);
      const signed = signVoucher({ kid: v.kid, campaign: v.campaign, serial: v.serial, amount: v.amount, currency: v.currency, expires: v.expires, holder }, seed);
      assert.equal(signed.token, v.token);
      assert.equal(signed.code, v.code);
      assert.equal(verifyToken(v.token, v.public_key), v.code);
      const altered = v.token.slice(0, 10) + (v.token[10] === 'A' ? 'B' : 'A') + v.token.slice(11);
      assert.equal(verifyToken(altered, v.public_key), null, 'an altered token fails');
    }
  });

  it('draws real QR codes (level M, version 7 for a 120-character token)', () => {
    const svg = qrSvg('A'.repeat(120));
    const size = Number(svg.match(/viewBox="0 0 (\d+)/)[1]);
    assert.equal(size, 45 + 8, '45 modules (version 7) plus the quiet zone');
  });
});

describe('bundled font', () => {
  it('covers every character of the UI (run tests/ui/lib/font-subset.mjs after copy changes)', () => {
    const have = readFileSync(new URL('../../ui/fonts/lineup-sans-ui.txt', import.meta.url), 'utf8');
    const missing = [...uiCharsSorted()].filter((ch) => !have.includes(ch));
    assert.deepEqual(missing, []);
  });
});

describe('one-time code and moving here', async () => {
  const { parseCode, movedSentence } = await import('../../ui/js/screens/verify.js');

  it('takes six digits with spaces or dashes, and nothing else', () => {
    assert.equal(parseCode('123456'), '123456');
    assert.equal(parseCode(' 123-456 '), '123456');
    assert.equal(parseCode('12345'), null);
    assert.equal(parseCode('1234567'), null);
    assert.equal(parseCode('12345a'), null);
    assert.equal(parseCode('١٢٣٤٥٦'), null, 'ASCII digits only, as the server takes them');
  });

  it('says what moved in natural Korean, with the right particles', () => {
    assert.equal(movedSentence({ tickets: 1, vouchers: 1 }), '자리 1개와 할인권 1장을 이 기기로 옮겼습니다.');
    assert.equal(movedSentence({ tickets: 2, vouchers: 0 }), '자리 2개를 이 기기로 옮겼습니다.');
    assert.equal(movedSentence({ tickets: 0, vouchers: 3 }), '할인권 3장을 이 기기로 옮겼습니다.');
    assert.match(movedSentence({ tickets: 0, vouchers: 0 }), /옮겨 올 자리나 할인권은 없었습니다/);
  });

  it('counts in English', () => {
    assert.equal(translate('en', 'register.moved.both', {
      places: translate('en', 'register.moved.places', { n: 1, count: 1 }),
      vouchers: translate('en', 'register.moved.vouchers', { n: 2, count: 2 }),
    }), 'Moved 1 place in line and 2 vouchers to this device.');
    assert.equal(translate('en', 'code.wrong', { n: 1, count: 1 }), 'That code is not right. You can try 1 more time.');
  });
});
