// Settings: the server URL must be http(s), saving sends exactly the Settings shape, English
// switches the whole interface and its lang attribute, and turning notifications on asks for
// permission (and stays off when refused).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean } from '../lib/harness.mjs';
import { scenario } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const ko = trFor('ko');
const en = trFor('en');

export function settingsSpecs() {
  describe('settings', () => {
    it('refuses a non-http URL, saves valid settings and switches to English', async () => {
      const app = await openApp(scenario(), { hash: '#/settings' });
      const { page } = app;
      try {
        const url = page.getByLabel('서버 주소');
        for (const bad of ['ftp://lineup.example.kr', 'lineup.example.kr', 'javascript:alert(1)']) {
          await url.fill(bad);
          await page.getByRole('button', { name: '저장' }).click();
          await page.getByText(ko('settings.server.invalid')).waitFor();
          assert.equal(await url.getAttribute('aria-invalid'), 'true', bad);
          assert.equal(await page.evaluate(() => document.activeElement.id), 'server-url');
        }
        assert.deepEqual(await calls(page, 'set_settings'), []);

        await url.fill('http://192.168.0.10:8080/');
        await page.getByRole('radio', { name: 'English' }).check();
        await page.getByRole('button', { name: '저장' }).click();
        await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
        assert.deepEqual(await calls(page, 'set_settings'), [
          {
            cmd: 'set_settings',
            args: { settings: { server_url: 'http://192.168.0.10:8080', language: 'en', notifications: false, hide_code_on_lock_screen: true } },
          },
        ]);
        // A new server may not know this device: the identity is asked again.
        assert.equal((await calls(page, 'identity_status')).length, 2);
        assert.equal(await page.getAttribute('html', 'lang'), 'en');
        assert.equal(await page.getByRole('navigation').innerText(), 'Offers\nWallet\nSettings\nHelp');
        await page.getByText(en('settings.saved')).waitFor();
        assert.equal(await page.title(), 'Settings · Lineup');
        await page.getByRole('link', { name: 'Offers' }).click();
        await page.getByRole('button', { name: 'Get in line' }).first().waitFor();
        assert.match(await page.locator('[data-campaign="mega-1125"]').innerText(), /7,312 left of 20,000/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('asks for notification permission when turned on and stays off if refused', async () => {
      const app = await openApp(scenario({ permission_answer: 'denied' }), { hash: '#/settings' });
      const { page } = app;
      try {
        const toggle = page.getByRole('switch', { name: /알림 받기/ });
        await page.getByText(ko('settings.notifications.permission.prompt')).waitFor();
        await toggle.check({ force: true }).catch(() => {});
        await page.getByText(ko('settings.notifications.permission.denied')).waitFor();
        assert.equal(await toggle.isChecked(), false);
        assert.equal((await calls(page, 'request_notification_permission')).length, 1);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('hides the voucher number on the lock screen by default and saves the choice', async () => {
      const app = await openApp(scenario(), { hash: '#/settings' });
      const { page } = app;
      try {
        const toggle = page.getByRole('switch', { name: /잠금 화면 알림에 할인권 번호 숨기기/ });
        assert.equal(await toggle.isChecked(), true);
        await toggle.uncheck();
        await page.getByRole('button', { name: '저장' }).click();
        await page.getByText(ko('settings.saved')).waitFor();
        const saved = await calls(page, 'set_settings');
        assert.equal(saved[0].args.settings.hide_code_on_lock_screen, false);
        assert.match(await page.getByTestId('registered-badge').innerText(), /등록 완료/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('keeps notifications on when granted and saves them', async () => {
      const app = await openApp(scenario({ permission_answer: 'granted' }), { hash: '#/settings' });
      const { page } = app;
      try {
        const toggle = page.getByRole('switch', { name: /알림 받기/ });
        await toggle.focus();
        await page.keyboard.press('Space');
        await page.getByText(ko('settings.notifications.permission.granted')).waitFor();
        assert.equal(await toggle.isChecked(), true);
        await page.getByRole('button', { name: '저장' }).click();
        await page.getByText(ko('settings.saved')).waitFor();
        const saved = await calls(page, 'set_settings');
        assert.equal(saved.length, 1);
        assert.equal(saved[0].args.settings.notifications, true);
        assert.equal(saved[0].args.settings.language, 'ko');
        assert.equal(saved[0].args.settings.hide_code_on_lock_screen, true);
        assert.equal((await calls(page, 'identity_status')).length, 1, 'same server: no new identity check');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
