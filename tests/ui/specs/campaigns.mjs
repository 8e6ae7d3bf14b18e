// Campaigns: countdowns tick, the one button arms the claim for the right campaign, and the
// claim's progress events carry the person from the line to the result without a refresh.
// Keyboard: skip link, menu and buttons work without a mouse.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean } from '../lib/harness.mjs';
import { scenario, at, voucher, PHASES } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const tr = trFor('ko');

/** The pre-queue campaign's claim, as the backend would report it step by step. */
const TIMELINE = [
  { after_ms: 1000, progress: { phase: 'slot_requested', attempts: 1 } },
  { after_ms: 2000, progress: { phase: 'pre_queue', in_draw: true, attempts: 1, next_check_at: at(57_000), next_check_in_ms: 55_000 } },
  {
    after_ms: 57_000,
    progress: {
      phase: 'in_line', in_draw: true, position: 3, ahead: 2, supply: 20000, attempts: 2,
      admit_at: at(105_001), eta_ms: 48_000, next_check_at: at(105_001), next_check_in_ms: 48_000,
    },
  },
  { after_ms: 105_000, progress: { phase: 'admitted', in_draw: true, position: 3, ahead: 0, eta_ms: 0, attempts: 2 } },
  { after_ms: 105_500, progress: { phase: 'claiming', in_draw: true, position: 3, ahead: 0, eta_ms: 0, attempts: 3 } },
  {
    after_ms: 106_000,
    progress: { phase: 'holding', in_draw: true, position: 3, ahead: 0, attempts: 3, voucher: voucher(3, { campaign_id: 'lotte-1125' }) },
  },
];

export function campaignSpecs() {
  describe('campaigns and a claim from start to voucher', () => {
    it('counts down, arms the right campaign, and follows the events to the voucher', async () => {
      const app = await openApp(scenario({ timelines: { 'lotte-1125': TIMELINE } }), { hash: '#/campaigns' });
      const { page } = app;
      try {
        const card = page.locator('[data-campaign="lotte-1125"]');
        await card.getByText(/^4[3-5]초 남음$/).waitFor();
        await page.clock.runFor(5000);
        await page.waitForTimeout(50);
        const before = Number((await card.locator('time.countdown').innerText()).replace(/\D/g, ''));
        assert.ok(before <= 41 && before >= 37, `countdown after 5 s: ${before}`);

        await card.getByRole('button', { name: '줄 서기' }).click();
        await page.waitForFunction(() => location.hash === '#/claim/lotte-1125');
        assert.deepEqual(await calls(page, 'arm_claim'), [{ cmd: 'arm_claim', args: { campaign_id: 'lotte-1125' } }]);
        await page.getByText(tr('fate.armed')).waitFor();
        assert.equal(await page.evaluate(() => document.activeElement.textContent), '롯데시네마 6,000원 할인권');

        await page.clock.runFor(2100);
        await page.getByTestId('phase-sentence').getByText(/오후 7:00:45에 추첨합니다/).waitFor();
        await page.getByText(tr('line.no_refresh')).waitFor();
        // Before the draw there is no place to show: the timeline says what comes next.
        assert.equal(await page.getByTestId('position').count(), 0);
        assert.equal(await page.locator('[data-step="draw"]').getAttribute('data-state'), 'current');
        assert.match(await page.locator('[data-step="draw"]').innerText(), /추첨 오후 7:00\s+(\(진행 중\)\s+)?\d+초 남음/);

        await page.clock.runFor(55_000);
        await page.getByTestId('position').getByText('3번').waitFor();
        assert.equal(await page.getByTestId('ahead').innerText(), '2명');
        assert.match(await page.getByTestId('eta').innerText(), /^4[6-8]초$/);
        assert.match(await page.getByTestId('next-check').textContent(), /^4[6-8]초 후 \(오후 7:01:45\)$/);
        const bar = page.getByTestId('line-progress');
        assert.equal(await bar.getAttribute('aria-valuemax'), '2');
        assert.equal(await bar.getAttribute('aria-valuetext'), tr('line.progress.label', { done: 0, total: 2 }));

        await page.clock.runFor(49_500);
        await page.getByRole('heading', { level: 1, name: '할인권을 받았습니다' }).waitFor();
        const code = voucher(3, { campaign_id: 'lotte-1125' }).code;
        assert.equal(await page.getByTestId('voucher-code').innerText(), code);
        assert.equal(await page.evaluate(() => document.activeElement.textContent), '할인권을 받았습니다');
        assert.equal(await page.title(), '할인권을 받았습니다 · Lineup');
        await page.waitForFunction((c) => document.getElementById('live').textContent.includes(c), code);
        await page.getByRole('link', { name: 'QR 열기' }).waitFor();
        // The claim was armed once; everything after came as events.
        assert.equal((await calls(page, 'arm_claim')).length, 1);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('moves a card on when its instant passes, without asking the server again', async () => {
      const app = await openApp(scenario(), { hash: '#/campaigns' });
      const { page } = app;
      try {
        const card = page.locator('[data-campaign="lotte-1125"]');
        await card.getByText('신청 중').waitFor();
        await page.clock.runFor(46_000);
        await card.getByText('추첨 완료').waitFor();
        assert.equal(await card.getByText(tr('campaign.help.drawn')).count(), 1);
        assert.equal(await card.locator('.facts dt').last().innerText(), tr('campaign.countdown.open'));
        assert.equal((await calls(page, 'list_campaigns')).length, 1);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('shows a banner when a claim finishes while the person is elsewhere', async () => {
      const app = await openApp(scenario({ claims: { 'mega-1125': PHASES.claiming } }), { hash: '#/settings' });
      const { page } = app;
      try {
        await page.getByRole('heading', { level: 1, name: '설정' }).waitFor();
        await page.evaluate((p) => window.__mock.progress('mega-1125', p), PHASES.holding);
        const banner = page.getByRole('banner').locator('.banner');
        await banner.getByText('할인권을 받았습니다').waitFor();
        await page.waitForFunction(() => document.getElementById('live').textContent.includes('할인권을 받았습니다'));
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'focus is not taken away');
        await banner.getByRole('link', { name: '결과 보기' }).click();
        await page.getByRole('heading', { level: 1, name: '할인권을 받았습니다' }).waitFor();
        assert.equal(await banner.count(), 0, 'the banner goes once its result is on screen');

        // With the list known, the banner names the campaign.
        await page.getByRole('navigation').getByRole('link', { name: '신청', exact: true }).click();
        await page.locator('[data-campaign="lotte-1125"]').waitFor();
        await page.evaluate((p) => window.__mock.progress('lotte-1125', p), { ...PHASES.sold_out, campaign_id: 'lotte-1125' });
        await banner.getByText('롯데시네마 6,000원 할인권 · 이번에는 받지 못했습니다').waitFor();
        await banner.getByRole('button', { name: '닫기' }).click();
        assert.equal(await banner.count(), 0);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('offers the line instead of a second arm when a claim is already running', async () => {
      const running = { 'mega-1125': { campaign_id: 'mega-1125', phase: 'in_line', position: 5, ahead: 4, attempts: 2, in_draw: false } };
      const app = await openApp(scenario({ claims: running }), { hash: '#/campaigns' });
      const { page } = app;
      try {
        const card = page.locator('[data-campaign="mega-1125"]');
        await card.getByRole('button', { name: '내 순서 보기' }).click();
        await page.waitForFunction(() => location.hash === '#/claim/mega-1125');
        await page.getByTestId('position').getByText('5번').waitFor();
        assert.deepEqual(await calls(page, 'arm_claim'), []);
        const disabled = page.locator('[data-campaign="cgv-1120"]').getByRole('button');
        await page.goBack();
        await disabled.waitFor();
        assert.equal(await disabled.isDisabled(), true);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('works from the keyboard: skip link, menu order, Enter arms', async () => {
      const app = await openApp(scenario(), { hash: '#/campaigns', viewport: 'desktop' });
      const { page } = app;
      try {
        await page.locator('[data-campaign="cgv-1125"]').waitFor();
        // On arrival focus is on the page heading; backwards from it is the menu, then the skip link.
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
        const focused = () => page.evaluate(() => document.activeElement.textContent.trim());
        const order = [];
        for (let i = 0; i < 5; i++) {
          await page.keyboard.press('Shift+Tab');
          order.push(await focused());
        }
        assert.deepEqual(order, ['도움말', '설정', '지갑', '신청', '본문으로 건너뛰기']);
        await page.keyboard.press('Enter');
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
        await page.keyboard.press('Tab');
        assert.equal(await focused(), '줄 서기');
        // Keyboard focus is visible: a 3 px outline in the focus colour.
        const ring = await page.evaluate(() => {
          const s = getComputedStyle(document.activeElement);
          return `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`;
        });
        assert.equal(ring, 'solid 3px rgb(194, 65, 12)');
        const armed = await page.evaluate(() => document.activeElement.closest('[data-campaign]').dataset.campaign);
        assert.equal(armed, 'cgv-1125');
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => location.hash === '#/claim/cgv-1125');
        assert.deepEqual(await calls(page, 'arm_claim'), [{ cmd: 'arm_claim', args: { campaign_id: 'cgv-1125' } }]);
        await page.getByText(tr('line.no_refresh')).waitFor();
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('shows an arm failure in the card, with its message, and stays on the list', async () => {
      const fail = { arm_claim: { code: 'keyring', message: '키링을 열 수 없습니다.' } };
      const app = await openApp(scenario({ fail }), { hash: '#/campaigns' });
      const { page } = app;
      try {
        const card = page.locator('[data-campaign="mega-1125"]');
        await card.getByRole('button', { name: '줄 서기' }).click();
        const alert = card.getByRole('alert');
        await alert.waitFor();
        assert.match(await alert.innerText(), /키링을 열 수 없습니다/);
        assert.match(await alert.innerText(), /보안 저장소/);
        assert.equal(await page.evaluate(() => location.hash), '#/campaigns');
        assert.equal(await card.getByRole('button', { name: '줄 서기' }).isEnabled(), true);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
