// Every screen and state at phone (360x740) and desktop (1280x800), in Korean and English:
// the expected text is visible, the language attribute is right, nothing overflows sideways,
// touch targets are >= 44 px, and a screenshot is kept. axe (about 2 s a page on 2 cores) runs
// on every state twice: Korean on the phone and English on the desktop.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSession, screenshot, assertClean, assertAccessible, assertLayout } from '../lib/harness.mjs';
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

const AXE_ON = new Set((process.env.LINEUP_UI_AXE ?? 'ko-phone,en-desktop').split(','));

export function matrix() {
  // Two combinations at a time: most of a page's time is waiting on chromium.
  describe('every screen and state', { concurrency: 2 }, () => {
    for (const lang of ['ko', 'en']) {
      for (const viewport of ['phone', 'desktop']) {
        describe(`${lang}, ${viewport}`, { concurrency: 1 }, () => {
          let session;
          before(async () => {
            session = await openSession(viewport, lang);
          });
          after(() => session.close());
          for (const state of STATES) {
            it(state.name, () => checkState(session, state, lang, viewport));
          }
        });
      }
    }
  });
}

async function checkState(session, state, lang, viewport) {
  const tr = trFor(lang);
  const { page } = session;
  await session.load(state.scenario(lang), state.hash);
  const label = `${state.name} (${lang}, ${viewport})`;
  if (state.act) await state.act(page, tr);
  await waitForTexts(page, state.expect(tr, lang), label);
  assert.equal(await page.getAttribute('html', 'lang'), lang);
  await assertLayout(page, label);
  await screenshot(page, `${lang}-${viewport}-${state.name}`);
  if (AXE_ON.has(`${lang}-${viewport}`)) await assertAccessible(page, label);
  await assertClean(session);
}
