// In line: events update the numbers in place, the ETA and next check count down locally
// between events, a grown ETA is explained, and the live region is throttled.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { openApp, assertClean, calls } from '../lib/harness.mjs';
import { scenario, PHASES, CAMPAIGNS } from '../lib/fixtures.mjs';
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
          const [m, s] = (await page.getByTestId(id).textContent()).match(/\d+/g).map(Number);
          return m * 60 + s;
        };
        const eta0 = await seconds('eta');
        assert.ok(eta0 <= 111 && eta0 >= 108, `ETA at first: ${eta0}`);
        await page.clock.runFor(3000);
        await page.waitForTimeout(50);
        const eta1 = await seconds('eta');
        assert.ok(eta0 - eta1 >= 3 && eta0 - eta1 <= 5, `ETA counted down locally: ${eta0} -> ${eta1}`);
        assert.equal(await seconds('next-check'), eta1);

        await page.getByRole('link', { name: '할인권 신청 목록으로' }).focus();
        await page.evaluate(() => {
          window.__focused = document.activeElement;
        });
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead: 10000, eta_ms: 90_000, next_check_in_ms: 90_000 }));
        await page.getByTestId('ahead').getByText('10,000명').waitFor();
        assert.match(await page.getByTestId('eta').innerText(), /^1분 (30|29|28)초$/);
        assert.equal(await page.getByTestId('line-progress').getAttribute('aria-valuenow'), '2344');
        // Redrawn in place: the focused control is the same element, still in the page.
        assert.equal(await page.evaluate(() => document.activeElement === window.__focused && window.__focused.isConnected), true);
        assert.equal(await page.getByTestId('eta-growth').isHidden(), true);

        // The estimate reaching zero without news says so rather than showing a negative time.
        await page.clock.runFor(91_000);
        await page.getByTestId('eta').getByText(ko('line.eta.any_moment')).waitFor();
        assert.equal(await page.getByTestId('next-check').textContent(), ko('details.next_check.now'));
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
        assert.match(await note.innerText(), /^발급 예정 시각이 1분( [1-3]초)? 늦어졌습니다\. 서버가 발급 속도를 조절해 일정이 늦춰졌습니다\.$/);
        // The reason stays while the estimate stays up, and goes once it is back.
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ eta_ms: 170_000 }));
        assert.equal(await note.isVisible(), true);
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ eta_ms: 60_000 }));
        await note.waitFor({ state: 'hidden' });

        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ position: 12400, ahead: 12399, eta_ms: 200_000 }));
        await note.waitFor();
        assert.match(await note.innerText(), /순번이 바뀌었습니다/);
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
        // The first routine message of the screen (sent 50 ms after arrival) is out of the way.
        await page.clock.runFor(100);
        await page.waitForFunction(() => document.getElementById('live').textContent !== '');
        await liveLog(page);
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead: 12000 }));
        await page.clock.runFor(100);
        for (const ahead of [11900, 11800, 11700, 11600]) {
          await page.evaluate((p) => window.__mock.progress('lotte-1125', p), inLine({ ahead }));
          await page.clock.runFor(1000);
        }
        let said = await page.evaluate(() => window.__live);
        assert.equal(said.length, 1, `one message so far, got ${JSON.stringify(said)}`);
        assert.match(said[0], /^당첨: 준비된 20,000장 안에 들었습니다 \(12,345번째\)/);
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
        await page.locator('main').getByText(en('fate.lose.manual', { waitlist: 3456 })).waitFor();
        assert.match(await page.getByTestId('phase-sentence').innerText(), /^Not this time: you are #3,456 on the waitlist/);
        assert.equal(await page.getByTestId('line-progress').count(), 0);
        assert.equal(await page.getByTestId('position').innerText(), '#3,456');
        assert.match(await page.getByTestId('next-check').textContent(), /^in 6 minutes 4[2-5] seconds \(7:06:45 PM\)$/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('says the fate first when the server issues automatically, and tells the app may close', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.pre_queue } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        const sentence = page.getByTestId('phase-sentence');
        await sentence.getByText(/추첨합니다/).waitFor();
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), PHASES.in_line_auto);
        await sentence.getByText(ko('fate.win.auto', { supply: 20000, position: 12345, time: '오후 7:01:51' })).waitFor();
        assert.equal(await page.locator('.fate').getAttribute('data-icon'), 'check');
        assert.equal(await page.getByTestId('supply-line').innerText(), '준비 20,000장 · 신청 31,234명');
        const steps = await page.locator('[data-step]').evaluateAll((els) => els.map((e) => `${e.dataset.step}:${e.dataset.state}`));
        assert.deepEqual(steps, ['applied:done', 'draw:done', 'result:done', 'issue:next', 'end:next']);
        // The engineer's words are folded away until asked for.
        assert.equal(await page.getByTestId('attempts').isVisible(), false);
        await page.getByText(ko('details.summary')).click();
        assert.equal(await page.getByTestId('attempts').innerText(), ko('details.attempts', { count: 2, n: 2 }));

        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), PHASES.waitlisted_auto);
        await sentence.getByText(ko('fate.lose.auto', { waitlist: 3456 })).waitFor();
        assert.equal(await page.locator('.fate').getAttribute('data-icon'), 'cross');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('gives the place back after a confirmation, once', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.in_line_auto } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        await page.getByRole('button', { name: '자리 양보하기' }).click();
        // Nothing is sent until it is confirmed; cancel goes back.
        await page.getByText(ko('give_back.confirm.line')).waitFor();
        await page.getByRole('button', { name: '취소' }).click();
        assert.deepEqual(await calls(page, 'give_back'), []);
        assert.equal(await page.evaluate(() => document.activeElement.textContent), '자리 양보하기');
        await page.getByRole('button', { name: '자리 양보하기' }).click();
        await page.getByRole('button', { name: '네, 양보합니다' }).click();
        await page.getByRole('heading', { level: 1, name: '양보했습니다' }).waitFor();
        assert.deepEqual(await calls(page, 'give_back'), [{ cmd: 'give_back', args: { campaign_id: 'lotte-1125' } }]);
        assert.equal(await page.locator('.fate').getAttribute('data-icon'), 'return');
        assert.equal(await page.getByRole('button', { name: '자리 양보하기' }).count(), 0);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('gives a received voucher back and the wallet follows', async () => {
      const app = await openApp(scenario({ claims: { 'mega-1125': PHASES.holding } }), { hash: '#/claim/mega-1125' });
      const { page } = app;
      try {
        await page.getByRole('button', { name: '할인권 반납하기' }).click();
        await page.getByRole('button', { name: '네, 반납합니다' }).click();
        await page.getByRole('heading', { level: 1, name: '할인권을 반납했습니다' }).waitFor();
        await page.getByRole('navigation').getByRole('link', { name: '지갑' }).click();
        const item = page.locator('.wallet-item[data-serial="12688"]');
        await item.getByText('반납함').waitFor();
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('offers the draw and the opening as a calendar file', async () => {
      const app = await openApp(scenario({ claims: { 'lotte-1125': PHASES.pre_queue } }), { hash: '#/claim/lotte-1125' });
      const { page } = app;
      try {
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('add-calendar').click()]);
        assert.equal(download.suggestedFilename(), 'lineup-lotte-1125.ics');
        const body = await readFile(await download.path(), 'utf8');
        assert.match(body, /^BEGIN:VCALENDAR\r\n/);
        assert.equal((body.match(/BEGIN:VEVENT/g) || []).length, 2);
        const stamp = (iso) => iso.replace(/[-:]/g, '').replace(/\.\d{3}/, '');
        assert.match(body, new RegExp(`DTSTART:${stamp(CAMPAIGNS[1].draw_at)}\r\n`));
        assert.match(body, new RegExp(`DTSTART:${stamp(CAMPAIGNS[1].opens_at)}\r\n`));
        assert.match(body, /SUMMARY:롯데시네마 6\\,000원 할인권 추첨/);
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
