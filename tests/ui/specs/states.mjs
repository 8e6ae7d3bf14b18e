// Every screen and state the UI has, as (scenario, route, optional action, text that must be
// visible, optional QR token the screenshot must decode to). The matrix test opens each at
// phone and desktop sizes in Korean and English.

import { translate } from '../../../ui/js/i18n.js';
import { scenario, NOT_REGISTERED, PHASES, WALLET, CAMPAIGNS, walletEntry, at, VERIFY, VERIFY_TAKEN } from '../lib/fixtures.mjs';

const withLang = (lang, overrides = {}) =>
  scenario({
    ...overrides,
    settings: { server_url: 'https://lineup.example.kr', language: lang, notifications: false, hide_code_on_lock_screen: true },
  });
const claim = (id, p) => ({ claims: { [id]: p } });
const lotte = CAMPAIGNS[1];
const unverified = walletEntry(77, { campaign_title: '메가박스 6,000원 할인권', verified: false });

export const STATES = [
  {
    name: 'register',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED }),
    hash: '#/register',
    expect: (tr) => [
      tr('register.title'),
      tr('register.kind.phone'),
      tr('register.kind.email'),
      tr('register.kept.how_long'),
      tr('register.consent.label'),
      tr('register.notify.label'),
      tr('lang.switch'),
      tr('register.submit'),
    ],
  },
  {
    name: 'register-errors',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED }),
    hash: '#/register',
    act: async (page, tr) => page.getByRole('button', { name: tr('register.submit') }).click(),
    expect: (tr) => [tr('register.contact.required'), tr('register.consent.required')],
  },
  {
    name: 'register-done',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED }),
    hash: '#/register',
    act: async (page, tr) => {
      await page.locator('#contact').fill('010-1234-5678');
      await page.locator('#consent').check();
      await page.getByRole('button', { name: tr('register.submit') }).click();
      await page.getByTestId('registered').waitFor();
    },
    expect: (tr) => [tr('register.done'), tr('register.done.body', { contact: '+82 10-****-5678' }), tr('campaigns.title')],
  },
  {
    name: 'register-code-wrong',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED, verify: VERIFY }),
    hash: '#/register',
    act: async (page, tr) => {
      await askForCode(page, tr);
      await page.locator('#code').fill('111111');
      await page.getByRole('button', { name: tr('code.submit') }).click();
      await page.locator('#code-error').waitFor();
    },
    expect: (tr) => [
      tr('code.title'),
      tr('code.sent', { contact: '+82 10-****-5678', length: 6 }),
      tr('code.hint', { length: 6 }),
      tr('code.wrong', { n: 4, count: 4 }),
      tr('code.resend'),
      tr('code.back'),
    ],
  },
  {
    name: 'register-move-mode',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED, verify: VERIFY }),
    hash: '#/register',
    act: async (page, tr) => page.getByRole('button', { name: tr('move.entry.button') }).click(),
    expect: (tr) => [tr('move.mode.title'), tr('move.mode.lead'), tr('move.what.other'), tr('move.what.codes'), tr('move.submit')],
  },
  {
    name: 'register-contact-taken',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED, verify: VERIFY_TAKEN }),
    hash: '#/register',
    act: async (page, tr) => {
      await askForCode(page, tr);
      await page.locator('#code').fill(VERIFY.code);
      await page.getByRole('button', { name: tr('code.submit') }).click();
      await page.getByTestId('contact-taken').waitFor();
    },
    expect: (tr) => [tr('move.taken.title'), tr('move.taken.body'), tr('move.what.title'), tr('move.what.places'), tr('move.confirm'), tr('action.cancel')],
  },
  {
    name: 'register-moved',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED, verify: VERIFY_TAKEN }),
    hash: '#/register',
    act: async (page, tr) => {
      await page.getByRole('button', { name: tr('move.entry.button') }).click();
      await askForCode(page, tr, tr('move.submit'));
      await page.locator('#code').fill(VERIFY.code);
      await page.getByRole('button', { name: tr('code.submit') }).click();
      await page.getByTestId('moved').waitFor();
    },
    expect: (tr) => [
      tr('register.moved.title'),
      tr('register.moved.both', { places: tr('register.moved.places', { n: 1, count: 1 }), vouchers: tr('register.moved.vouchers', { n: 1, count: 1 }) }),
      tr('register.moved.reissued'),
      tr('campaign.action.view_line'),
    ],
  },
  {
    name: 'key-revoked',
    scenario: (lang) =>
      withLang(lang, { fail: { refresh_wallet: { code: 'key_revoked', message: lang === 'en' ? 'This key was replaced.' : '이 기기의 키가 바뀌었습니다.' } } }),
    hash: '#/wallet',
    expect: (tr) => [tr('error.advice.key_revoked'), tr('register.again')],
  },
  {
    name: 'help',
    scenario: (lang) => withLang(lang),
    hash: '#/help',
    expect: (tr) => [tr('help.title'), tr('help.use.title'), tr('help.offline.body'), tr('help.give_back.title')],
  },
  {
    name: 'campaigns',
    scenario: (lang) => withLang(lang),
    hash: '#/campaigns',
    expect: (tr, lang, f) => [
      lang === 'en' ? 'CGV weekend 6,000-won discount' : 'CGV 주말 관람 6,000원 할인권',
      tr('campaign.action.arm'),
      tr('campaign.remaining.value', { remaining: 7312, supply: 20000 }),
      tr('campaign.entrants.value', { n: 31234 }),
      tr('campaign.help.pre_queue'),
      tr('campaign.action.sold_out'),
      tr('campaign.countdown.draw'),
      tr('campaign.calendar'),
      tr('terms.title'),
    ],
  },
  {
    name: 'campaigns-offline',
    scenario: (lang) => withLang(lang, { offline: true }),
    hash: '#/campaigns',
    expect: (tr) => [tr('error.advice.offline'), tr('action.retry'), tr('campaigns.offline.wallet')],
  },
  {
    name: 'line-waiting-open',
    scenario: (lang) => withLang(lang, claim('cgv-1125', PHASES.waiting_open)),
    hash: '#/claim/cgv-1125',
    expect: (tr) => [tr('timeline.applied.pending'), tr('line.no_refresh'), tr('details.summary')],
  },
  {
    name: 'line-pre-queue',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.pre_queue)),
    hash: '#/claim/lotte-1125',
    expect: (tr, lang, f) => [
      tr('fate.pre_queue', { time: f.time(lotte.draw_at) }),
      tr('line.supply_line', { supply: 20000, entrants: 31234 }),
      tr('timeline.applied'),
      tr('time.left', { duration: '' }).trim(),
      tr('campaign.calendar'),
      tr('give_back.line'),
    ],
  },
  {
    name: 'line-in-line-auto',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.in_line_auto)),
    hash: '#/claim/lotte-1125',
    expect: (tr, lang, f) => [
      tr('fate.win.auto', { supply: 20000, position: 12345, time: f.time(PHASES.in_line_auto.admit_at) }),
      tr('line.supply_line', { supply: 20000, entrants: 31234 }),
      tr('line.position.value', { n: 12345 }),
      tr('timeline.result.win', { position: 12345 }),
      tr('line.no_refresh.auto'),
    ],
  },
  {
    name: 'line-in-line-manual',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.in_line)),
    hash: '#/claim/lotte-1125',
    expect: (tr, lang, f) => [
      tr('fate.win.manual', {
        supply: 20000,
        position: 12345,
        time: f.time(PHASES.in_line.admit_at),
        window: f.duration(300_000),
      }),
      tr('line.ahead.value', { count: 12344, n: 12344 }),
      tr('line.progress.label', { done: 0, total: 12344 }),
      tr('line.no_refresh'),
    ],
  },
  {
    name: 'line-details-open',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.in_line)),
    hash: '#/claim/lotte-1125',
    act: async (page, tr) => page.getByText(tr('details.summary')).click(),
    expect: (tr) => [tr('details.next_check'), tr('details.attempts', { count: 2, n: 2 }), tr('details.draw.joined'), tr('details.once')],
  },
  {
    name: 'line-waitlisted-auto',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.waitlisted_auto)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('fate.lose.auto', { waitlist: 3456 }), tr('line.supply_line', { supply: 20000, entrants: 31234 }), tr('line.waitlist')],
  },
  {
    name: 'line-waitlisted-manual',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.waitlisted)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('fate.lose.manual', { waitlist: 3456 }), tr('timeline.result.lose', { waitlist: 3456 })],
  },
  {
    name: 'line-give-back-confirm',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.waitlisted_auto)),
    hash: '#/claim/lotte-1125',
    act: async (page, tr) => page.getByRole('button', { name: tr('give_back.line') }).click(),
    expect: (tr) => [tr('give_back.confirm.line'), tr('give_back.confirm.yes.line'), tr('action.cancel')],
  },
  {
    name: 'line-claiming',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.claiming)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('fate.claiming'), tr('line.progress.front'), tr('timeline.draw.late')],
  },
  {
    name: 'result-holding',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.holding)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('result.holding.title'), PHASES.holding.voucher.code, tr('result.holding.wallet'), tr('terms.title'), tr('terms.once'), tr('give_back.voucher')],
  },
  {
    name: 'result-sold-out',
    scenario: (lang) => withLang(lang, claim('cgv-1120', PHASES.sold_out)),
    hash: '#/claim/cgv-1120',
    expect: (tr) => [tr('result.sold_out.title'), tr('result.sold_out.body', { position: 23456, reach: 20000 }), tr('result.sold_out.next')],
  },
  {
    name: 'result-expired',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.expired)),
    hash: '#/claim/lotte-1125',
    expect: (tr, lang, f) => [
      tr('result.expired.title'),
      tr('result.expired.body', { from: f.time(PHASES.expired.admit_at), until: f.time(at(-5 * 60_000)) }),
      tr('result.expired.next'),
    ],
  },
  {
    name: 'result-closed',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.closed)),
    hash: '#/claim/mega-1125',
    expect: (tr, lang, f) => [tr('result.closed.title'), tr('result.closed.body', { date: f.dateTime(CAMPAIGNS[2].closes_at) })],
  },
  {
    name: 'result-returned',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.returned)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('result.returned.title'), tr('result.returned.body'), tr('timeline.issue.returned')],
  },
  {
    name: 'result-offline',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.offline)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('fate.offline'), PHASES.offline.error.message, tr('action.retry')],
  },
  {
    name: 'result-failed',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.failed)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('fate.offline'), PHASES.failed.error.message, tr('action.retry')],
  },
  {
    name: 'wallet',
    scenario: (lang) => withLang(lang),
    hash: '#/wallet',
    expect: (tr, lang, f) => [
      tr('wallet.title'),
      WALLET[1].voucher.code,
      tr('voucher.status.redeemed'),
      tr('voucher.redeemed_at', { date: f.dateTime(WALLET[0].voucher.redeemed_at) }),
      tr('voucher.unverified'),
      tr('voucher.open_qr'),
    ],
  },
  {
    name: 'wallet-qr',
    scenario: (lang) => withLang(lang),
    hash: '#/wallet',
    act: async (page) => page.locator('.wallet-item', { hasText: WALLET[1].voucher.code }).click(),
    expect: (tr) => [WALLET[1].voucher.code, tr('voucher.verified'), tr('qr.show_staff'), tr('action.close'), tr('terms.once')],
    qrToken: WALLET[1].voucher.token,
  },
  {
    name: 'wallet-qr-used',
    scenario: (lang) => withLang(lang),
    hash: '#/wallet',
    act: async (page) => page.locator('.wallet-item', { hasText: WALLET[0].voucher.code }).click(),
    expect: (tr, lang, f) => [tr('qr.used.title'), tr('qr.used.body', { date: f.dateTime(WALLET[0].voucher.redeemed_at) }), WALLET[0].voucher.code],
  },
  {
    name: 'wallet-qr-unverified',
    scenario: (lang) => withLang(lang, { wallet: [unverified] }),
    hash: '#/wallet',
    act: async (page) => page.locator('.wallet-item').first().click(),
    expect: (tr) => [tr('voucher.unverified'), tr('voucher.unverified.todo'), tr('voucher.recheck')],
    qrToken: unverified.voucher.token,
  },
  {
    name: 'wallet-offline',
    scenario: (lang) => withLang(lang, { offline: true, local_storage: { 'lineup.wallet.checked_at': at(-3 * 3600_000) } }),
    hash: '#/wallet',
    expect: (tr, lang, f) => [tr('wallet.offline.checked', { time: f.clock(at(-3 * 3600_000)) }), WALLET[1].voucher.code],
  },
  {
    name: 'wallet-empty',
    scenario: (lang) => withLang(lang, { wallet: [] }),
    hash: '#/wallet',
    expect: (tr) => [tr('wallet.empty')],
  },
  {
    name: 'result-banner',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.claiming)),
    hash: '#/wallet',
    act: async (page) => {
      await page.locator('.wallet-item').first().waitFor();
      await page.evaluate((p) => window.__mock.progress('mega-1125', p), PHASES.holding);
    },
    expect: (tr) => [tr('result.holding.title'), tr('banner.open'), tr('wallet.title')],
  },
  {
    name: 'settings',
    scenario: (lang) => withLang(lang),
    hash: '#/settings',
    expect: (tr) => [
      tr('settings.language'),
      tr('settings.server'),
      tr('settings.notifications'),
      tr('settings.hide_code'),
      tr('settings.identity.registered'),
      '+82 10-****-5678',
    ],
  },
];

export function trFor(lang) {
  return (key, params) => translate(lang, key, params);
}

/** Fills in the registration form and waits for the code step. */
async function askForCode(page, tr, submitLabel = tr('register.submit')) {
  await page.locator('#contact').fill('010-1234-5678');
  await page.locator('#consent').check();
  await page.getByRole('button', { name: submitLabel }).click();
  await page.locator('#code').waitFor();
}
