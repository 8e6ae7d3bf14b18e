// Every screen and state at phone (360x740) and desktop (1280x800), in Korean and English:
// the expected text is visible, the language attribute is right, nothing overflows sideways,
// touch targets are >= 44 px, the non-text parts that carry state reach 3:1, every QR on
// screen decodes (zbarimg) to its voucher's token and that token's signature verifies, and a
// screenshot is kept. axe (about 2 s a page on 2 cores) runs on every state twice: Korean on
// the phone and English on the desktop. The dark theme gets the same checks on the phone in
// Korean and on the desktop in English.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  openSession,
  screenshot,
  assertClean,
  assertAccessible,
  assertLayout,
  assertNonTextContrast,
  decodeQr,
} from '../lib/harness.mjs';
import { ISSUER_PUBLIC_KEY, verifyToken } from '../lib/fixtures.mjs';
import { STATES, trFor } from './states.mjs';

async function waitForTexts(page, texts, label) {
  try {
    await page.waitForFunction((want) => want.every((t) => document.body.innerText.includes(t)), texts, { timeout: 5000 });
  } catch {
    const body = await page.evaluate(() => document.body.innerText);
    const missing = texts.filter((t) => !body.includes(t));
    assert.fail(`${label}: missing visible text ${JSON.stringify(missing)}\n--- page text ---\n${body}`);
  }
}

const AXE_ON = new Set((process.env.LINEUP_UI_AXE ?? 'ko-phone,en-desktop,ko-phone-dark,en-desktop-dark').split(','));
const COMBOS = [
  ['ko', 'phone', 'light'],
  ['ko', 'desktop', 'light'],
  ['en', 'phone', 'light'],
  ['en', 'desktop', 'light'],
  ['ko', 'phone', 'dark'],
  ['en', 'desktop', 'dark'],
];

/**
 * The state's expected texts. Dates and times are formatted by the UI's own format.js inside
 * the browser (node's ICU may format Korean differently): `f.time(iso)` etc. return markers
 * that are filled in from one page.evaluate.
 */
async function expected(page, state, tr, lang) {
  const asks = [];
  const mark = (kind) => (arg) => {
    asks.push([kind, arg]);
    return `\u0000${asks.length - 1}\u0000`;
  };
  const f = { time: mark('formatTime'), dateTime: mark('formatDateTime'), duration: mark('formatDuration'), clock: mark('formatClock') };
  const texts = state.expect(tr, lang, f);
  if (asks.length === 0) return texts;
  const answers = await page.evaluate(
    async ({ asks, lang }) => {
      const m = await import('/js/format.js');
      return asks.map(([kind, arg]) => m[kind](lang, arg));
    },
    { asks, lang },
  );
  return texts.map((t) => t.replace(/\u0000(\d+)\u0000/g, (_, i) => answers[Number(i)]));
}

export function matrix() {
  // Two combinations at a time: most of a page's time is waiting on chromium.
  describe('every screen and state', { concurrency: 2 }, () => {
    for (const [lang, viewport, scheme] of COMBOS) {
      const suffix = scheme === 'dark' ? '-dark' : '';
      describe(`${lang}, ${viewport}${scheme === 'dark' ? ', dark' : ''}`, { concurrency: 1 }, () => {
        let session;
        before(async () => {
          session = await openSession(viewport, lang, { colorScheme: scheme });
        });
        after(() => session.close());
        for (const state of STATES) {
          it(state.name, () => checkState(session, state, lang, viewport, suffix));
        }
      });
    }
  });
}

async function checkState(session, state, lang, viewport, suffix) {
  const tr = trFor(lang);
  const { page } = session;
  await session.load(state.scenario(lang), state.hash);
  const label = `${state.name} (${lang}, ${viewport}${suffix})`;
  if (state.act) await state.act(page, tr);
  await waitForTexts(page, await expected(page, state, tr, lang), label);
  assert.equal(await page.getAttribute('html', 'lang'), lang);
  await assertLayout(page, label);
  await assertNonTextContrast(page, label);
  // The bundled font is the one in use (both engines then render alike).
  await page.evaluate(() => document.fonts.ready);
  const font = await page.evaluate(() =>
    [...document.fonts].some((f) => f.family.replace(/["']/g, '') === 'Lineup Sans' && f.status === 'loaded' && f.unicodeRange === 'U+0-10FFFF'),
  );
  assert.equal(font, true, `${label}: the UI face of Lineup Sans is loaded`);
  const shot = await screenshot(page, `${lang}-${viewport}${suffix}-${state.name}`);
  if (state.qrToken) {
    const decoded = decodeQr(shot);
    assert.deepEqual(decoded, [state.qrToken], `${label}: the QR in ${shot} decodes to the voucher's token`);
    assert.ok(verifyToken(decoded[0], ISSUER_PUBLIC_KEY), `${label}: the decoded token's signature verifies`);
  }
  if (AXE_ON.has(`${lang}-${viewport}${suffix}`)) await assertAccessible(page, label);
  await assertClean(session);
}
