// In line: events update the numbers in place, the ETA and next check count down locally
// between events, a grown ETA is explained, and the live region is throttled.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, assertClean } from '../lib/harness.mjs';
import { scenario, PHASES } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const ko = trFor('ko');
const en = trFor('en');
const inLine = (fields) => ({ ...PHASES.in_line, ...fields });

function liveLog(page) {
  // Records every message the live region is given (it clears itself before each message).
  return page.evaluate(() => {
    window.__live = [];
    new MutationObserver(() => {
      const text = document.getElementById('live').textContent;
      if (text) window.__live.push(text);
    }).observe(document.getElementById('live'), { childList: true, characterData: true, subtree: true });
  });
}

export function lineSpecs() {
  describe('in line', () => {
    it('updates position in place, keeps focus, and counts down between events', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.in_line } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        await page.getByTestId('position').getByText('12,345번').waitFor();
        const seconds = async (id) => {
          const [m, s] = (await page.getByTestId(id).innerText()).match(/\d+/g).map(Number);
          return m * 60 + s;
        };
        const eta0 = await seconds('eta');
        assert.ok(eta0 <= 111 && eta0 >= 108, `ETA at first: ${eta0}`);
        await page.clock.runFor(3000);
        await page.waitForTimeout(50);
        const eta1 = await seconds('eta');
        assert.ok(eta0 - eta1 >= 3 && eta0 - eta1 <= 5, `ETA counted down locally: ${eta0} -> ${eta1}`);
        assert.equal(await seconds('next-check'), eta1);

        await page.getByRole('link', { name: '캠페인 목록으로' }).focus();
        await page.evaluate(() => {
          window.__focused = document.activeElement;
        });
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead: 10000, eta_ms: 90_000, next_check_in_ms: 90_000 }));
        await page.getByTestId('ahead').getByText('10,000명').waitFor();
        assert.match(await page.getByTestId('eta').innerText(), /^1분 (30|29|28)초$/);
        assert.equal(await page.locator('progress.line-progress').getAttribute('value'), '2344');
        // Redrawn in place: the focused control is the same element, still in the page.
        assert.equal(await page.evaluate(() => document.activeElement === window.__focused && window.__focused.isConnected), true);
        assert.equal(await page.getByTestId('eta-growth').isHidden(), true);

        // The estimate reaching zero without news says so rather than showing a negative time.
        await page.clock.runFor(91_000);
        await page.getByTestId('eta').getByText(ko('line.eta.any_moment')).waitFor();
        assert.equal(await page.getByTestId('next-check').innerText(), ko('line.next_check.now'));
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('never lets the ETA grow without saying why', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.in_line } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        await page.getByTestId('position').waitFor();
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ eta_ms: 171_000 }));
        const note = page.getByTestId('eta-growth');
        await note.waitFor();
        // 60 s later than before (plus the moment that passed between the events).
        assert.match(await note.innerText(), /^예상 시간이 1분( [1-3]초)? 늘었습니다: 서버가 입장 속도를 조절해 일정이 늦춰졌습니다\.$/);
        // The reason stays while the estimate stays up, and goes once it is back.
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ eta_ms: 170_000 }));
        assert.equal(await note.isVisible(), true);
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ eta_ms: 60_000 }));
        await note.waitFor({ state: 'hidden' });

        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ position: 12400, ahead: 12399, eta_ms: 200_000 }));
        await note.waitFor();
        assert.match(await note.innerText(), /대기 순번이 바뀌었습니다/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('announces phase changes at once and routine progress at most every 15 s', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.pre_queue } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        await page.getByTestId('phase-sentence').waitFor();
        assert.equal(await page.getAttribute('#live', 'aria-live'), 'polite');
        await liveLog(page);
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead: 12000 }));
        await page.clock.runFor(100);
        for (const ahead of [11900, 11800, 11700, 11600]) {
          await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead }));
          await page.clock.runFor(1000);
        }
        let said = await page.evaluate(() => window.__live);
        assert.equal(said.length, 1, `one message so far, got ${JSON.stringify(said)}`);
        assert.match(said[0], /대기 순번이 정해졌습니다/);
        await page.clock.runFor(15_000);
        said = await page.evaluate(() => window.__live);
        assert.deepEqual(said.slice(1), [ko('line.announce', { position: 12345, ahead: 11600 })]);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('tells a waitlisted person plainly, in English too', async () => {
      const settings = { server_url: 'https://lineup.example.kr', language: 'en', notifications: true };
      const app = await openApp(scenario({ settings, claims: { 'lotte-1125': PHASES.waitlisted } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        await page.locator('main').getByText(en('line.phase.waitlisted', { waitlist: 3456 })).waitFor();
        assert.match(await page.getByTestId('phase-sentence').innerText(), /most likely not reach you/);
        assert.equal(await page.locator('.progress-box').isHidden(), true);
        assert.equal(await page.getByTestId('position').innerText(), '#3,456');
        assert.match(await page.getByTestId('next-check').innerText(), /^in 6 minutes 4[2-5] seconds$/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('retries a failed claim when that can help, and not when it cannot', async () => {
      const app = await openApp(scenario({ claims: { 'mega-1125': PHASES.failed }, arm_result: { 'mega-1125': { phase: 'in_line', position: 9, ahead: 8 } } }), {
        hash: '#/claim/mega-1125',
      });
      const { page } = app;
      try {
        await page.getByTestId('error-message').getByText(PHASES.failed.error.message).waitFor();
        await page.getByRole('button', { name: '다시 시도' }).click();
        await page.getByTestId('position').getByText('9번').waitFor();
        const armCalls = await page.evaluate(() => window.__mock.calls.filter((c) => c.cmd === 'arm_claim'));
        assert.deepEqual(armCalls, [{ cmd: 'arm_claim', args: { campaign_id: 'mega-1125' } }]);

        await page.evaluate(() =>
          window.__mock.progress('mega-1125', { phase: 'failed', error: { code: 'contact_taken', message: 'taken' } }),
        );
        await page.getByTestId('error-message').getByText('taken').waitFor();
        assert.equal(await page.getByRole('button', { name: '다시 시도' }).count(), 0);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
