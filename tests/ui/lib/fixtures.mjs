// Test data shaped exactly like docs/app-ipc.md and crates/protocol/src/api.rs: campaigns,
// claim progress in every phase, wallet entries whose vouchers are real signed tokens
// (lib/voucher-token.mjs, docs/protocol.md "Vouchers") with real QR codes of those tokens, and
// the scenarios the browser tests load into the mocked backend.

import { keyFromSeed, signVoucher, holderBinding, fromB64u, qrSvg, verifyToken } from './voucher-token.mjs';

export const NOW = '2026-11-25T10:00:00.000Z'; // 19:00 in Seoul
const now = Date.parse(NOW);
export const at = (ms) => new Date(now + ms).toISOString().replace('.000Z', 'Z');

export const REGISTERED = {
  registered: true,
  contact_hint: '+82 10-****-5678',
  server_url: 'https://lineup.example.kr',
  identity: 'p7Kx3vQm9TzL2cW8nB4sY6dF1gH5jR0aE3uI7oP2qXk',
};

/** The issuer key of the fixtures (a fixed seed): every voucher below is really signed. */
export const ISSUER_SEED = Buffer.alloc(32, 0x4c);
export const ISSUER_PUBLIC_KEY = keyFromSeed(ISSUER_SEED).publicKey;

export { qrSvg, verifyToken };

export function campaign(id, fields = {}) {
  return {
    id,
    title: '영화 관람 6,000원 할인권',
    title_en: 'Cinema ticket 6,000-won discount',
    issuer: '문화체육관광부',
    brands: ['CGV', '롯데시네마', '메가박스'],
    amount: 6000,
    currency: 'KRW',
    supply: 20000,
    remaining: 20000,
    issued: 0,
    phase: 'upcoming',
    prequeue_opens_at: at(10 * 60_000),
    draw_at: at(20 * 60_000),
    opens_at: at(21 * 60_000),
    closes_at: at(24 * 3600_000),
    voucher_expires_at: at(37 * 24 * 3600_000),
    admission_rate_per_s: 1940,
    admission_window_s: 300,
    entrants: 31234,
    server_time: NOW,
    ...fields,
  };
}

export const CAMPAIGNS = [
  campaign('cgv-1125', {
    title: 'CGV 주말 관람 6,000원 할인권',
    title_en: 'CGV weekend 6,000-won discount',
    brands: ['CGV'],
    phase: 'upcoming',
    entrants: 0,
  }),
  campaign('lotte-1125', {
    title: '롯데시네마 6,000원 할인권',
    title_en: 'Lotte Cinema 6,000-won discount',
    brands: ['롯데시네마'],
    phase: 'pre_queue',
    prequeue_opens_at: at(-5 * 60_000),
    draw_at: at(45_000),
    opens_at: at(105_000),
  }),
  campaign('mega-1125', {
    title: '메가박스 6,000원 할인권',
    title_en: 'Megabox 6,000-won discount',
    brands: ['메가박스'],
    phase: 'open',
    prequeue_opens_at: at(-30 * 60_000),
    draw_at: at(-20 * 60_000),
    opens_at: at(-19 * 60_000),
    remaining: 7312,
    issued: 12688,
  }),
  campaign('cgv-1120', {
    title: '지난주 CGV 할인권',
    title_en: "Last week's CGV discount",
    brands: ['CGV'],
    phase: 'sold_out',
    prequeue_opens_at: at(-5 * 24 * 3600_000),
    draw_at: at(-5 * 24 * 3600_000 + 600_000),
    opens_at: at(-5 * 24 * 3600_000 + 660_000),
    remaining: 0,
    issued: 20000,
  }),
];

/** A voucher signed by the fixtures' issuer key for the registered identity. */
export function voucher(seed, fields = {}) {
  const v = {
    campaign_id: 'mega-1125',
    serial: seed,
    amount: 6000,
    currency: 'KRW',
    kid: 1,
    issued_at: at(-60_000),
    expires_at: at(37 * 24 * 3600_000),
    status: 'unused',
    redeemed_at: null,
    ...fields,
  };
  const signed = signVoucher(
    {
      kid: v.kid,
      campaign: v.campaign_id,
      serial: v.serial,
      amount: v.amount,
      currency: v.currency,
      expires: Math.floor(Date.parse(v.expires_at) / 1000),
      holder: holderBinding(fromB64u(REGISTERED.identity)),
    },
    ISSUER_SEED,
  );
  return { ...v, code: fields.code ?? signed.code, token: fields.token ?? signed.token };
}

export function walletEntry(seed, fields = {}, voucherFields = {}) {
  const v = voucher(seed, voucherFields);
  return {
    voucher: v,
    verified: true,
    status: voucherFields.status || 'unused',
    qr_svg: qrSvg(v.token),
    campaign_title: '메가박스 6,000원 할인권',
    server_url: 'https://lineup.example.kr',
    ...fields,
  };
}

export const WALLET = [
  walletEntry(3, { campaign_title: '지난달 롯데시네마 할인권' }, {
    campaign_id: 'lotte-1025',
    status: 'redeemed',
    redeemed_at: at(-3 * 24 * 3600_000),
    expires_at: at(5 * 24 * 3600_000),
  }),
  walletEntry(12688),
  walletEntry(41, { campaign_title: '여름 CGV 할인권', verified: false }, {
    campaign_id: 'cgv-0801',
    status: 'expired',
    expires_at: at(-10 * 24 * 3600_000),
  }),
];

export function progress(campaignId, fields) {
  return {
    campaign_id: campaignId,
    phase: 'armed',
    position: null,
    ahead: null,
    waitlist: null,
    supply: null,
    admit_at: null,
    eta_ms: null,
    next_check_at: null,
    next_check_in_ms: null,
    attempts: 0,
    in_draw: false,
    auto_issue: false,
    entrants: null,
    voucher: null,
    error: null,
    ...fields,
  };
}

/** Claim progress in each phase the line and result screens show. */
export const PHASES = {
  waiting_open: progress('cgv-1125', { phase: 'waiting_open', next_check_at: at(600_000), next_check_in_ms: 600_000 }),
  pre_queue: progress('lotte-1125', {
    phase: 'pre_queue',
    in_draw: true,
    supply: 20000,
    attempts: 1,
    next_check_at: at(57_000),
    next_check_in_ms: 57_000,
  }),
  in_line_auto: progress('lotte-1125', {
    phase: 'in_line',
    auto_issue: true,
    in_draw: true,
    position: 12345,
    ahead: 12344,
    supply: 20000,
    entrants: 31234,
    admit_at: at(111_000),
    eta_ms: 111_000,
    next_check_at: at(111_000),
    next_check_in_ms: 111_000,
    attempts: 2,
  }),
  waitlisted_auto: progress('lotte-1125', {
    phase: 'waitlisted',
    auto_issue: true,
    in_draw: true,
    position: 23456,
    waitlist: 3456,
    supply: 20000,
    entrants: 31234,
    attempts: 2,
  }),
  in_line: progress('lotte-1125', {
    phase: 'in_line',
    in_draw: true,
    position: 12345,
    ahead: 12344,
    supply: 20000,
    admit_at: at(111_000),
    eta_ms: 111_000,
    next_check_at: at(111_000),
    next_check_in_ms: 111_000,
    attempts: 2,
  }),
  waitlisted: progress('lotte-1125', {
    phase: 'waitlisted',
    in_draw: true,
    position: 23456,
    waitlist: 3456,
    supply: 20000,
    next_check_at: at(405_000),
    next_check_in_ms: 405_000,
    attempts: 2,
  }),
  claiming: progress('mega-1125', {
    phase: 'claiming',
    in_draw: false,
    position: 12688,
    ahead: 0,
    supply: 20000,
    admit_at: at(0),
    eta_ms: 0,
    attempts: 3,
  }),
  holding: progress('mega-1125', {
    phase: 'holding',
    position: 12688,
    ahead: 0,
    attempts: 3,
    voucher: voucher(12688),
  }),
  sold_out: progress('cgv-1120', { phase: 'sold_out', position: 23456, waitlist: 3456, supply: 20000, attempts: 3, in_draw: true }),
  expired: progress('lotte-1125', { phase: 'expired', position: 812, supply: 20000, admit_at: at(-10 * 60_000), attempts: 2, in_draw: true }),
  closed: progress('mega-1125', { phase: 'closed', position: 25000, waitlist: 5000, supply: 20000, attempts: 3, in_draw: false }),
  returned: progress('lotte-1125', { phase: 'returned', position: 12345, supply: 20000, attempts: 3, in_draw: true, auto_issue: true }),
  returned_voucher: progress('mega-1125', { phase: 'returned', position: 12688, attempts: 4, voucher: voucher(12688, { status: 'returned' }) }),
  offline: progress('lotte-1125', {
    phase: 'failed',
    position: 12345,
    supply: 20000,
    in_draw: true,
    attempts: 3,
    error: { code: 'offline', message: '서버에 연결할 수 없습니다 (네트워크 오류).' },
  }),
  failed: progress('mega-1125', {
    phase: 'failed',
    attempts: 4,
    error: { code: 'offline', message: '서버에 연결할 수 없습니다 (네트워크 오류).' },
  }),
};


/** A backend state for the mock; `overrides` replace top-level fields. */
export function scenario(overrides = {}) {
  return {
    settings: { server_url: 'https://lineup.example.kr', language: 'ko', notifications: false, hide_code_on_lock_screen: true },
    identity: REGISTERED,
    campaigns: CAMPAIGNS,
    claims: {},
    wallet: WALLET,
    permission: 'prompt',
    ...overrides,
  };
}

export const NOT_REGISTERED = {
  registered: false,
  contact_hint: null,
  server_url: 'https://lineup.example.kr',
  identity: null,
};

/** A server that verifies contacts (the mock's `verify`): the code it "sent", five tries. */
export const VERIFY = { code: '482913', attempts: 5 };

/** The same, with the contact held by the person's other device; the move brings a place and a voucher. */
export const VERIFY_TAKEN = {
  ...VERIFY,
  taken: true,
  moved: { revoked_at: '2026-11-25T09:00:00Z', tickets: 1, vouchers: 1, vouchers_reissued: 1 },
  places: ['mega-1125'],
  // What the backend's claim of the moved place reports (claim-progress) as it is followed.
  place_progress: { 'mega-1125': PHASES.holding },
};
