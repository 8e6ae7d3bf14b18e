// Every screen and state the UI has, as (scenario, route, optional action, text that must be
// visible). The matrix test opens each at phone and desktop sizes in Korean and English.

import { translate } from '../../../ui/js/i18n.js';
import { scenario, NOT_REGISTERED, PHASES, WALLET, qrSvg } from '../lib/fixtures.mjs';

const withLang = (lang, overrides = {}) =>
  scenario({ ...overrides, settings: { server_url: 'https://lineup.example.kr', language: lang, notifications: false } });
const claim = (id, p) => ({ claims: { [id]: p } });

export const STATES = [
  {
    name: 'register',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED }),
    hash: '#/register',
    expect: (tr) => [tr('register.title'), tr('register.contact.label'), tr('register.consent.label'), tr('register.submit')],
  },
  {
    name: 'register-errors',
    scenario: (lang) => withLang(lang, { identity: NOT_REGISTERED }),
    hash: '#/register',
    act: async (page, tr) => page.getByRole('button', { name: tr('register.submit') }).click(),
    expect: (tr) => [tr('register.contact.required'), tr('register.consent.required')],
  },
  {
    name: 'campaigns',
    scenario: (lang) => withLang(lang),
    hash: '#/campaigns',
    expect: (tr, lang) => [
      lang === 'en' ? 'CGV weekend 6,000-won discount' : 'CGV 주말 관람 6,000원 할인권',
      tr('campaign.action.arm'),
      tr('campaign.remaining.value', { remaining: 7312, supply: 20000 }),
      tr('campaign.help.pre_queue'),
      tr('campaign.action.sold_out'),
      tr('campaign.countdown.draw'),
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
    expect: (tr) => [tr('line.no_refresh'), tr('line.draw.before'), tr('line.position.pending')],
  },
  {
    name: 'line-pre-queue',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.pre_queue)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('line.no_refresh'), tr('line.draw.before'), tr('line.progress.before_draw'), tr('line.next_check')],
  },
  {
    name: 'line-in-line',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.in_line)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [
      tr('line.position.value', { n: 12345 }),
      tr('line.ahead.value', { count: 12344, n: 12344 }),
      tr('line.progress.label', { done: 0, total: 12344 }),
      tr('line.draw.joined'),
      tr('line.no_refresh'),
    ],
  },
  {
    name: 'line-waitlisted',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.waitlisted)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('line.phase.waitlisted', { waitlist: 3456 }), tr('line.waitlist'), tr('line.eta.waitlist_unknown')],
  },
  {
    name: 'line-claiming',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.claiming)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('line.phase.claiming'), tr('line.progress.front'), tr('line.draw.late')],
  },
  {
    name: 'result-holding',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.holding)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('result.holding.title'), PHASES.holding.voucher.code, tr('result.holding.wallet')],
  },
  {
    name: 'result-sold-out',
    scenario: (lang) => withLang(lang, claim('cgv-1120', PHASES.sold_out)),
    hash: '#/claim/cgv-1120',
    expect: (tr) => [tr('result.sold_out.title'), tr('result.sold_out.body'), tr('result.sold_out.next')],
  },
  {
    name: 'result-expired',
    scenario: (lang) => withLang(lang, claim('lotte-1125', PHASES.expired)),
    hash: '#/claim/lotte-1125',
    expect: (tr) => [tr('result.expired.title'), tr('result.expired.next')],
  },
  {
    name: 'result-failed',
    scenario: (lang) => withLang(lang, claim('mega-1125', PHASES.failed)),
    hash: '#/claim/mega-1125',
    expect: (tr) => [tr('result.failed.title'), PHASES.failed.error.message, tr('error.advice.offline'), tr('action.retry')],
  },
  {
    name: 'wallet',
    scenario: (lang) => withLang(lang),
    hash: '#/wallet',
    expect: (tr) => [tr('wallet.title'), WALLET[1].voucher.code, tr('voucher.status.redeemed'), tr('voucher.unverified')],
  },
  {
    name: 'wallet-qr',
    scenario: (lang) => withLang(lang),
    hash: '#/wallet',
    act: async (page) => page.locator('.wallet-item', { hasText: WALLET[1].voucher.code }).click(),
    expect: (tr) => [WALLET[1].voucher.code, tr('voucher.verified'), tr('qr.show_staff'), tr('action.close')],
  },
  {
    name: 'wallet-offline',
    scenario: (lang) => withLang(lang, { offline: true }),
    hash: '#/wallet',
    expect: (tr) => [tr('wallet.offline'), WALLET[1].voucher.code],
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
    expect: (tr) => [tr('settings.language'), tr('settings.server'), tr('settings.notifications'), '+82 10-****-5678'],
  },
];

export function trFor(lang) {
  return (key, params) => translate(lang, key, params);
}

export { qrSvg };
