// Registration: phone or e-mail chosen explicitly (inputmode follows), the language can be
// switched first, consent is required before anything is sent, the notification consent is
// separate and optional, the contact hint is advice only, a backend refusal is shown with its
// message and next step, and success shows "등록 완료" on the campaign list.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean } from '../lib/harness.mjs';
import { scenario, NOT_REGISTERED } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const tr = trFor('ko');
const en = trFor('en');

export function registerSpecs() {
  describe('registration', () => {
    it('sends nothing without consent, then registers and shows "등록 완료"', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED }), { hash: '#/campaigns' });
      const { page } = app;
      try {
        // Campaigns need an identity: the route falls back to registration, without the menu.
        await page.waitForFunction(() => location.hash === '#/register');
        assert.equal(await page.locator('.app-nav').isHidden(), true);
        const contact = page.locator('#contact');
        // Phone is the default choice, with the phone keypad.
        assert.equal(await page.getByRole('radio', { name: tr('register.kind.phone') }).isChecked(), true);
        assert.equal(await contact.getAttribute('inputmode'), 'tel');
        assert.equal(await contact.getAttribute('autocomplete'), 'tel');
        await contact.fill('010-1234-5678');
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.getByText(tr('register.consent.required')).waitFor();
        assert.equal(await page.evaluate(() => document.activeElement.id), 'consent');
        assert.equal(await page.getAttribute('#consent', 'aria-invalid'), 'true');
        assert.deepEqual(await calls(page, 'register'), []);

        await page.getByRole('checkbox', { name: /연락처 정보를 보관하는 데 동의합니다/ }).check();
        // The notification consent is a separate, unticked box.
        assert.equal(await page.locator('#notify-consent').isChecked(), false);
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        await page.getByRole('heading', { level: 1, name: '할인권 신청' }).waitFor();
        assert.deepEqual(await calls(page, 'register'), [{ cmd: 'register', args: { contact: '010-1234-5678', consent: true } }]);
        assert.deepEqual(await calls(page, 'request_notification_permission'), []);
        const done = page.getByTestId('registered');
        assert.match(await done.innerText(), /등록 완료/);
        assert.match(await done.innerText(), /\+82 10-\*\*\*\*-5678/);
        assert.equal(await page.locator('.app-nav').isVisible(), true);
        assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('switches to e-mail by choice or on "@", and asks for notifications only when ticked', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED, permission_answer: 'granted' }), { hash: '#/register' });
      const { page } = app;
      try {
        const contact = page.locator('#contact');
        await page.getByRole('radio', { name: tr('register.kind.email') }).check();
        assert.equal(await contact.getAttribute('inputmode'), 'email');
        assert.equal(await page.locator('label[for=contact]').innerText(), tr('register.contact.label.email'));
        await page.getByRole('radio', { name: tr('register.kind.phone') }).check();
        assert.equal(await contact.getAttribute('inputmode'), 'tel');
        // Typing an e-mail address under "phone" moves the choice along.
        await contact.pressSequentially('kim@example.com');
        assert.equal(await contact.getAttribute('inputmode'), 'email');
        assert.equal(await contact.inputValue(), 'kim@example.com');
        assert.equal(await page.getByRole('radio', { name: tr('register.kind.email') }).isChecked(), true);
        await page.locator('#consent').check();
        await page.locator('#notify-consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.getByTestId('registered').waitFor();
        assert.equal((await calls(page, 'request_notification_permission')).length, 1);
        const saved = await calls(page, 'set_settings');
        assert.equal(saved.length, 1);
        assert.equal(saved[0].args.settings.notifications, true);
        assert.equal(saved[0].args.settings.hide_code_on_lock_screen, true);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('offers English before registering', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED }), { hash: '#/register' });
      const { page } = app;
      try {
        await page.getByRole('button', { name: 'English' }).click();
        await page.getByRole('heading', { level: 1, name: en('register.title') }).waitFor();
        assert.equal(await page.getAttribute('html', 'lang'), 'en');
        const saved = await calls(page, 'set_settings');
        assert.deepEqual(saved[0].args.settings, {
          server_url: 'https://lineup.example.kr',
          language: 'en',
          notifications: false,
          hide_code_on_lock_screen: true,
        });
        await page.getByRole('button', { name: '한국어' }).click();
        await page.getByRole('heading', { level: 1, name: tr('register.title') }).waitFor();
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
        const contact = page.locator('#contact');
        await contact.fill('hello');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        // The hint shows, and the backend still gets the final word.
        await page.getByText(tr('register.contact.looks_wrong.phone')).waitFor();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.match(await alert.innerText(), /이미 다른 신원에 등록되어/);
        assert.match(await alert.innerText(), new RegExp(tr('error.advice.contact_taken').slice(0, 20)));
        assert.equal(await page.evaluate(() => document.activeElement.id), 'contact');
        assert.deepEqual(await calls(page, 'register'), [{ cmd: 'register', args: { contact: 'hello', consent: true } }]);
        await contact.fill('010-2222-3333');
        assert.equal(await page.getByText(tr('register.contact.looks_wrong.phone')).count(), 0);
        assert.equal(await page.evaluate(() => location.hash), '#/register');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
