// Test data shaped exactly like docs/app-ipc.md and crates/protocol/src/api.rs: campaigns,
// claim progress in every phase, wallet entries with a QR-shaped SVG (as the backend's qrcode
// crate writes it), and the scenarios the browser tests load into the mocked backend.

export const NOW = '2026-11-25T10:00:00.000Z'; // 19:00 in Seoul
const now = Date.parse(NOW);
export const at = (ms) => new Date(now + ms).toISOString().replace('.000Z', 'Z');

const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A voucher code with a correct check symbol (the protocol's weighted mod-31 rule), grouped. */
export function voucherCode(seed) {
  const r = rng(seed);
  const data = Array.from({ length: 11 }, () => Math.floor(r() * 31));
  const sum = data.reduce((acc, d, i) => acc + (i + 2) * d, 0);
  const check = (31 - (sum % 31)) % 31;
  const s = [...data, check].map((i) => ALPHABET[i]).join('');
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}`;
}

function token(seed) {
  const r = rng(seed * 7 + 1);
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return Array.from({ length: 120 }, () => b64[Math.floor(r() * 64)]).join('');
}

/** A version-7-sized (45 modules) QR-shaped SVG: finder patterns plus seeded modules. */
export function qrSvg(seed) {
  const n = 45;
  const quiet = 4;
  const r = rng(seed * 13 + 5);
  const dark = [];
  const finder = (x0, y0) => {
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 7; x++) {
        const ring = x === 0 || y === 0 || x === 6 || y === 6;
        const core = x >= 2 && x <= 4 && y >= 2 && y <= 4;
        if (ring || core) dark.push([x0 + x, y0 + y]);
      }
    }
  };
  finder(0, 0);
  finder(n - 7, 0);
  finder(0, n - 7);
  const inFinder = (x, y) => (x < 8 && y < 8) || (x >= n - 8 && y < 8) || (x < 8 && y >= n - 8);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!inFinder(x, y) && r() < 0.5) dark.push([x, y]);
    }
  }
  const size = n + 2 * quiet;
  const d = dark.map(([x, y]) => `M${x + quiet} ${y + quiet}h1v1h-1z`).join('');
  return (
    `<?xml version="1.0" standalone="yes"?>` +
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${size * 8}" height="${size * 8}" ` +
    `viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges">` +
    `<rect x="0" y="0" width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
  );
}

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

export function voucher(seed, fields = {}) {
  return {
    campaign_id: 'mega-1125',
    serial: seed,
    code: voucherCode(seed),
    token: token(seed),
    amount: 6000,
    currency: 'KRW',
    kid: 1,
    issued_at: at(-60_000),
    expires_at: at(37 * 24 * 3600_000),
    status: 'unused',
    ...fields,
  };
}

export function walletEntry(seed, fields = {}, voucherFields = {}) {
  return {
    voucher: voucher(seed, voucherFields),
    verified: true,
    status: voucherFields.status || 'unused',
    qr_svg: qrSvg(seed),
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
  sold_out: progress('cgv-1120', { phase: 'sold_out', position: 23456, waitlist: 3456, attempts: 3, in_draw: true }),
  expired: progress('lotte-1125', { phase: 'expired', position: 812, attempts: 2, in_draw: true }),
  failed: progress('mega-1125', {
    phase: 'failed',
    attempts: 4,
    error: { code: 'offline', message: '서버에 연결할 수 없습니다 (네트워크 오류).' },
  }),
};

export const REGISTERED = {
  registered: true,
  contact_hint: '+82 10-****-5678',
  server_url: 'https://lineup.example.kr',
  identity: 'p7Kx3vQm9TzL2cW8nB4sY6dF1gH5jR0aE3uI7oP2qXk',
};

/** A backend state for the mock; `overrides` replace top-level fields. */
export function scenario(overrides = {}) {
  return {
    settings: { server_url: 'https://lineup.example.kr', language: 'ko', notifications: false },
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
