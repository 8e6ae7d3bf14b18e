// Registration: phone or e-mail chosen explicitly (inputmode follows), the language can be
// switched first, consent is required before anything is sent, the notification consent is
// separate and optional, the contact hint is advice only, a backend refusal is shown with its
// message and next step, and success shows "등록 완료" on the campaign list. With a server that
// verifies contacts: the code step (wrong, expired, new code, too many asks), a contact held by
// another device (said first, the move offered), "Changed phones?", and key_revoked anywhere.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean } from '../lib/harness.mjs';
import { scenario, NOT_REGISTERED, VERIFY, VERIFY_TAKEN } from '../lib/fixtures.mjs';
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

    it('takes the code a verifying server sent: the number pad, tries left on a wrong code, then registered', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED, verify: VERIFY }), { hash: '#/register' });
      const { page } = app;
      try {
        await page.locator('#contact').fill('010-1234-5678');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.getByRole('heading', { level: 1, name: tr('code.title') }).waitFor();
        const code = page.locator('#code');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'code', 'the code field takes the focus');
        assert.equal(await code.getAttribute('inputmode'), 'numeric');
        assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
        assert.equal(await page.getByTestId('code-sent').innerText(), tr('code.sent', { contact: '+82 10-****-5678', length: 6 }));
        assert.match(await page.getByTestId('code-validity').innerText(), /5번까지 입력해 볼 수 있습니다/);
        assert.equal(await page.locator('.app-nav').isHidden(), true);

        // Too short: said at once, nothing sent.
        await code.fill('48291');
        await page.getByRole('button', { name: tr('code.submit') }).click();
        await page.getByText(tr('code.required', { length: 6 })).waitFor();
        assert.deepEqual(await calls(page, 'verify_code'), []);
        // Wrong: the tries left, on the field, which stays focused.
        await code.fill('111111');
        await page.getByRole('button', { name: tr('code.submit') }).click();
        await page.getByText(tr('code.wrong', { n: 4, count: 4 })).waitFor();
        assert.equal(await code.getAttribute('aria-invalid'), 'true');
        assert.match(await code.getAttribute('aria-describedby'), /code-error/);
        assert.equal(await page.evaluate(() => document.activeElement.id), 'code');
        // Right, typed as people type it: spaces are fine.
        await code.fill('482 913');
        await page.getByRole('button', { name: tr('code.submit') }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        assert.match(await page.getByTestId('registered').innerText(), /등록 완료/);
        assert.deepEqual(await calls(page, 'verify_code'), [
          { cmd: 'verify_code', args: { code: '111111', move_here: false } },
          { cmd: 'verify_code', args: { code: '482913', move_here: false } },
        ]);
        assert.equal(await page.locator('.app-nav').isVisible(), true);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('says when the code expired, sends a new one on request, and tells how long to wait when asked too often', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED, verify: { ...VERIFY, expired: true } }), { hash: '#/register' });
      const { page } = app;
      try {
        await page.locator('#contact').fill('kim@example.com');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.locator('#code').fill(VERIFY.code);
        await page.getByRole('button', { name: tr('code.submit') }).click();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.equal(await alert.innerText(), tr('code.expired'));
        assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'code-resend', 'the way out has the focus');
        await page.evaluate(() => {
          window.__mock.state.verify.expired = false;
        });
        await page.getByRole('button', { name: tr('code.resend') }).click();
        await page.getByText(tr('code.resent')).waitFor();
        assert.deepEqual((await calls(page, 'register')).map((c) => c.args), [
          { contact: 'kim@example.com', consent: true },
          { contact: 'kim@example.com', consent: true },
        ]);
        assert.equal(await page.locator('#code').inputValue(), '', 'the old code is cleared');
        // Asked again too soon: how long to wait, in words.
        await page.evaluate(() => {
          window.__mock.state.verify.resend_error = { code: 'rate_limited', message: 'A code was sent recently', retry_after_s: 45 };
        });
        await page.getByRole('button', { name: tr('code.resend') }).click();
        await page.getByText(tr('code.wait', { duration: '45초' })).waitFor();
        await page.locator('#code').fill(VERIFY.code);
        await page.getByRole('button', { name: tr('code.submit') }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('a code asked for too soon from the form says how long to wait', async () => {
      const busy = { code: 'rate_limited', message: 'A code was sent to this contact recently; ask again in 90 s.', retry_after_s: 90 };
      const app = await openApp(scenario({ identity: NOT_REGISTERED, register_error: busy }), { hash: '#/register' });
      const { page } = app;
      try {
        await page.locator('#contact').fill('kim@example.com');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.equal(await alert.innerText(), tr('code.wait', { duration: '1분 30초' }));
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('a contact on another device: said first, the move explained and offered; cancel goes back, the move moves', async () => {
      const app = await openApp(scenario({ identity: NOT_REGISTERED, verify: VERIFY_TAKEN }), { hash: '#/register' });
      const { page } = app;
      try {
        const askAndEnter = async () => {
          await page.locator('#contact').fill('010-1234-5678');
          await page.locator('#consent').check();
          await page.getByRole('button', { name: '등록하기' }).click();
          await page.locator('#code').fill(VERIFY.code);
          await page.getByRole('button', { name: tr('code.submit') }).click();
          await page.getByTestId('contact-taken').waitFor();
        };
        await askAndEnter();
        const taken = page.getByTestId('contact-taken');
        assert.ok((await taken.innerText()).startsWith(tr('move.taken.title')), 'the first sentence says what happened');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'taken-title');
        for (const key of ['move.what.other', 'move.what.places', 'move.what.codes']) {
          assert.ok((await taken.innerText()).includes(tr(key)), key);
        }
        assert.equal(await page.locator('#code').isVisible(), false, 'the code form gives way to the question');
        await page.getByRole('button', { name: tr('action.cancel') }).click();
        await page.getByRole('heading', { level: 1, name: tr('register.title') }).waitFor();

        await askAndEnter();
        await page.getByRole('button', { name: '이 기기로 옮기기' }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        const done = page.getByTestId('registered');
        assert.match(await done.innerText(), /이 기기로 옮겼습니다/);
        assert.equal(await page.getByTestId('moved').innerText(), '자리 1개와 할인권 1장을 이 기기로 옮겼습니다.');
        assert.match(await done.innerText(), new RegExp(tr('register.moved.reissued').slice(0, 12)));
        assert.equal(await done.getByRole('link', { name: tr('campaign.action.view_line') }).getAttribute('href'), '#/claim/mega-1125');
        // The moved place's result arrived during the move: no banner repeats what the note says.
        await page.waitForTimeout(400);
        assert.equal(await page.locator('#banner .banner').count(), 0);
        // The same code twice on the second try: first as asked, then with the move.
        assert.deepEqual((await calls(page, 'verify_code')).map((c) => c.args), [
          { code: VERIFY.code, move_here: false },
          { code: VERIFY.code, move_here: false },
          { code: VERIFY.code, move_here: true },
        ]);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('"Changed phones?" explains the move, then sends it with the code (English, desktop)', async () => {
      const app = await openApp(
        scenario({
          identity: NOT_REGISTERED,
          // The moved place's progress comes after the answer this time.
          verify: { ...VERIFY_TAKEN, place_delay_ms: 300 },
          settings: { server_url: 'https://lineup.example.kr', language: 'en', notifications: false, hide_code_on_lock_screen: true },
        }),
        { hash: '#/register', viewport: 'desktop' },
      );
      const { page } = app;
      try {
        await page.getByRole('heading', { level: 2, name: en('move.entry.title') }).waitFor();
        await page.getByTestId('changed-phones').click();
        const mode = page.getByTestId('move-mode');
        await mode.waitFor();
        assert.ok((await mode.innerText()).includes(en('move.what.codes')));
        assert.equal(await page.evaluate(() => document.activeElement.id), 'move-mode-title');
        await page.locator('#contact').fill('kim@example.com');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: en('move.submit') }).click();
        await page.locator('#code').fill(VERIFY.code);
        await page.getByRole('button', { name: en('code.submit') }).click();
        await page.getByTestId('moved').waitFor();
        assert.equal(await page.getByTestId('moved').innerText(), 'Moved 1 place in line and 1 voucher to this device.');
        assert.deepEqual((await calls(page, 'verify_code')).map((c) => c.args), [{ code: VERIFY.code, move_here: true }]);
        await page.waitForTimeout(600);
        assert.equal(await page.evaluate(() => window.__mock.state.claims['mega-1125']?.phase), 'holding');
        assert.equal(await page.locator('#banner .banner').count(), 0, 'no banner for a place that moved here');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('key_revoked anywhere says the registration moved and offers to register again', async () => {
      const app = await openApp(
        scenario({ fail: { refresh_wallet: { code: 'key_revoked', message: '이 기기의 키가 다른 기기의 키로 바뀌었습니다.' } } }),
        { hash: '#/wallet' },
      );
      const { page } = app;
      try {
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.match(await alert.innerText(), new RegExp(tr('error.advice.key_revoked').slice(0, 20)));
        await page.getByTestId('register-again').click();
        await page.waitForFunction(() => location.hash === '#/register');
        await page.getByRole('heading', { level: 1, name: tr('register.title') }).waitFor();
        assert.equal(await page.locator('.app-nav').isHidden(), true);
        assert.ok((await calls(page, 'identity_status')).length >= 2, 'the identity was asked again');
        await page.locator('#contact').fill('010-1234-5678');
        await page.locator('#consent').check();
        await page.getByRole('button', { name: '등록하기' }).click();
        await page.waitForFunction(() => location.hash === '#/campaigns');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
