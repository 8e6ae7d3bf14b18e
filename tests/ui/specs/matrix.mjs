// Every screen and state at phone (360x740) and desktop (1280x800), in Korean and English:
// the expected text is visible, the language attribute is right, nothing overflows sideways,
// touch targets are >= 44 px, and a screenshot is kept. axe (about 2 s a page on 2 cores) runs
// on every state twice: Korean on the phone and English on the desktop.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, screenshot, assertClean, assertAccessible, assertLayout } from '../lib/harness.mjs';
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

const AXE_ON = new Set(['ko-phone', 'en-desktop']);

export function matrix() {
  // Two combinations at a time: most of a page's time is waiting on chromium.
  describe('every screen and state', { concurrency: 2 }, () => {
    for (const lang of ['ko', 'en']) {
      for (const viewport of ['phone', 'desktop']) {
        describe(`${lang}, ${viewport}`, () => {
          for (const state of STATES) {
            it(state.name, () => checkState(state, lang, viewport));
          }
        });
      }
    }
  });
}

async function checkState(state, lang, viewport) {
  const tr = trFor(lang);
  const app = await openApp(state.scenario(lang), { viewport, hash: state.hash });
  try {
    const label = `${state.name} (${lang}, ${viewport})`;
    if (state.act) await state.act(app.page, tr);
    await waitForTexts(app.page, state.expect(tr, lang), label);
    assert.equal(await app.page.getAttribute('html', 'lang'), lang);
    await assertLayout(app.page, label);
    await screenshot(app.page, `${lang}-${viewport}-${state.name}`);
    if (AXE_ON.has(`${lang}-${viewport}`)) await assertAccessible(app.page, label);
    await assertClean(app);
  } finally {
    await app.close();
  }
}
