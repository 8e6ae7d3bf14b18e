// Registration: consent is required before anything is sent, the contact hint is advice only,
// a backend refusal is shown with its message and next step, and success leads to campaigns.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean } from '../lib/harness.mjs';
import { scenario, NOT_REGISTERED } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const tr = trFor('ko');

export function registerSpecs() {
  describe('registration', () => {
    it('sends nothing without consent, then registers and shows the campaigns', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED }), { hash: '#/campaigns' });
      const { page } = app;
      try {
        // Campaigns need an identity: the route falls back to registration, without the menu.
        await page.waitForFunction(() => location.hash === '#/register');
        assert.equal(await page.locator('.app-nav').isHidden(), true);
        await page.getByLabel('휴대폰 번호 또는 이메일').fill('010-1234-5678');
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.getByText(tr('register.consent.required')).waitFor();
        assert.equal(await page.evaluate(() => document.activeElement.id), 'consent');
        assert.equal(await page.getAttribute('#consent', 'aria-invalid'), 'true');
        assert.deepEqual(await calls(page, 'register'), []);

        await page.getByRole('checkbox', { name: /연락처 보관과 쿠폰 알림에 동의합니다/ }).check();
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        await page.getByRole('heading', { level: 1, name: '캠페인' }).waitFor();
        assert.deepEqual(await calls(page, 'register'), [
          { cmd: 'register', args: { contact: '010-1234-5678', consent: true } },
        ]);
        assert.equal(await page.locator('.app-nav').isVisible(), true);
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('hints at an odd contact but leaves the decision to the backend, and shows its refusal', async () => {
      const refusal = { code: 'contact_taken', message: '이 연락처는 이미 다른 신원에 등록되어 있습니다.' };
      const app = await openApp(scenario({ identity: NOT_REGISTERED, register_error: refusal }), { hash: '#/register' });
      const { page } = app;
      try {
        const contact = page.getByLabel('휴대폰 번호 또는 이메일');
        await contact.fill('hello');
        await page.getByRole('checkbox').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        // The hint shows, and the backend still gets the final word.
        await page.getByText(tr('register.contact.looks_wrong')).waitFor();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.match(await alert.innerText(), /이미 다른 신원에 등록되어/);
        assert.match(await alert.innerText(), new RegExp(tr('error.advice.contact_taken').slice(0, 20)));
        assert.equal(await page.evaluate(() => document.activeElement.id), 'contact');
        assert.deepEqual(await calls(page, 'register'), [{ cmd: 'register', args: { contact: 'hello', consent: true } }]);
        await contact.fill('kim@example.com');
        assert.equal(await page.getByText(tr('register.contact.looks_wrong')).count(), 0);
        assert.equal(await page.evaluate(() => location.hash), '#/register');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
