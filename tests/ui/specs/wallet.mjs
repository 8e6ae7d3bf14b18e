// Wallet: the list works offline, activating an entry opens the full-screen QR with the
// grouped code, Escape / the close button / back all close it and focus returns; the backend's
// SVG is sanitised; wallet-changed events update the list.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, calls, assertClean, screenshot, decodeQr } from '../lib/harness.mjs';
import { scenario, WALLET, walletEntry, ISSUER_PUBLIC_KEY, verifyToken } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const ko = trFor('ko');
const code = WALLET[1].voucher.code;

export function walletSpecs() {
  describe('wallet', () => {
    it('opens the QR full screen with the code and closes it on Escape, the button and back', async () => {
      const app = await openApp(scenario(), { hash: '#/wallet' });
      const { page } = app;
      try {
        const items = page.locator('.wallet-item');
        await items.first().waitFor();
        // Usable vouchers first, then the used and the expired one.
        assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.dataset.serial)), ['12688', '3', '41']);
        const item = page.locator('.wallet-item', { hasText: code });
        await item.focus();
        await page.keyboard.press('Enter');
        const dialog = page.getByRole('dialog');
        await dialog.waitFor();
        assert.equal(await page.evaluate(() => location.hash), '#/wallet/mega-1125/12688');
        assert.equal(await dialog.getByTestId('qr-code').innerText(), code);
        assert.match(await dialog.innerText(), /6,000원/);
        assert.match(await dialog.innerText(), /2027년 1월 1일/);
        assert.match(await dialog.innerText(), /사용 가능/);
        assert.equal(await dialog.locator('.qr-image svg path').count(), 1);
        assert.equal(await dialog.getByRole('img').getAttribute('aria-label'), ko('qr.image_label', { code }));
        // Full screen and black on white for the scanner.
        const look = await dialog.evaluate((d) => {
          const s = getComputedStyle(d);
          const r = d.getBoundingClientRect();
          return { bg: s.backgroundColor, fg: s.color, w: r.width, h: r.height };
        });
        assert.deepEqual(look, { bg: 'rgb(255, 255, 255)', fg: 'rgb(0, 0, 0)', w: 360, h: 740 });
        assert.equal(await page.evaluate(() => document.activeElement.textContent), '닫기');

        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'hidden' });
        await page.waitForFunction(() => location.hash === '#/wallet');
        await page.waitForFunction(() => document.activeElement?.dataset?.serial === '12688');

        await item.click();
        await dialog.waitFor();
        await dialog.getByRole('button', { name: '닫기' }).click();
        await dialog.waitFor({ state: 'hidden' });
        await page.waitForFunction(() => location.hash === '#/wallet');

        await item.click();
        await dialog.waitFor();
        await page.goBack();
        await dialog.waitFor({ state: 'hidden' });
        assert.equal(await page.evaluate(() => location.hash), '#/wallet');
        assert.equal(await items.count(), 3);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('scrolls a QR sheet taller than the window from its title, and the QR decodes', async () => {
      const app = await openApp(scenario(), { hash: '#/wallet' });
      const { page } = app;
      try {
        await page.setViewportSize({ width: 360, height: 480 });
        await page.locator('.wallet-item', { hasText: code }).click();
        const dialog = page.getByRole('dialog');
        await dialog.waitFor();
        // The title is on screen at the top (not centred off above it) and the sheet scrolls.
        const top = await page.locator('#qr-title').evaluate((e) => e.getBoundingClientRect().top);
        assert.ok(top >= 0 && top < 60, `title top ${top}`);
        const scroll = await dialog.evaluate((d) => ({ h: d.scrollHeight, c: d.clientHeight, top: d.scrollTop }));
        assert.ok(scroll.h > scroll.c, 'the sheet is taller than the window and scrolls');
        assert.equal(scroll.top, 0);
        const shot = await screenshot(page, 'ko-short-wallet-qr');
        const decoded = decodeQr(shot);
        assert.deepEqual(decoded, [WALLET[1].voucher.token]);
        assert.equal(verifyToken(decoded[0], ISSUER_PUBLIC_KEY), code);
        await dialog.evaluate((d) => d.scrollTo(0, d.scrollHeight));
        await dialog.getByRole('button', { name: '닫기' }).click();
        await dialog.waitFor({ state: 'hidden' });
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('says "사용 완료" with the date for a used voucher, and shows no QR', async () => {
      const app = await openApp(scenario(), { hash: '#/wallet' });
      const { page } = app;
      try {
        const used = page.locator('.wallet-item[data-serial="3"]');
        await used.getByText(/11월 22일 오후 7:00에 사용/).waitFor();
        await used.click();
        const dialog = page.getByRole('dialog');
        await dialog.getByTestId('qr-stamp').getByText('사용 완료').waitFor();
        assert.match(await dialog.innerText(), /이 할인권은 2026년 11월 22일 오후 7:00에 사용했습니다/);
        assert.equal(await dialog.locator('.qr-image').count(), 0);
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'hidden' });
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('tells what to do about an unverified voucher and checks again on request', async () => {
      const app = await openApp(scenario({ wallet: [walletEntry(77, { verified: false })] }), { hash: '#/wallet' });
      const { page } = app;
      try {
        await page.locator('.wallet-item').first().click();
        const dialog = page.getByRole('dialog');
        await dialog.getByText(ko('voucher.unverified.todo')).waitFor();
        const before = (await calls(page, 'refresh_wallet')).length;
        await dialog.getByRole('button', { name: ko('voucher.recheck') }).click();
        await page.waitForFunction((n) => window.__mock.calls.filter((c) => c.cmd === 'refresh_wallet').length === n + 1, before);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('inserts only a clean <svg> from the backend', async () => {
      const evil =
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" onload="window.__pwned=1">' +
        '<script>window.__pwned=2</script><rect width="10" height="10" fill="#fff" onclick="window.__pwned=3"/>' +
        '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>' +
        '<a href="https://evil.example/"><path d="M1 1h1v1h-1z"/></a><use xlink:href="https://evil.example/x.svg#a"/>' +
        '<path fill="#000" d="M2 2h1v1h-1z"/></svg>';
      const wallet = [
        walletEntry(7, { qr_svg: evil, campaign_title: 'evil' }),
        walletEntry(8, { qr_svg: '<html xmlns="http://www.w3.org/1999/xhtml"><body>not svg</body></html>', campaign_title: 'html' }),
        walletEntry(9, { qr_svg: '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0"', campaign_title: 'broken' }),
      ];
      const app = await openApp(scenario({ wallet }), { hash: '#/wallet' });
      const { page } = app;
      try {
        await page.locator('.wallet-item', { hasText: 'evil' }).click();
        const dialog = page.getByRole('dialog');
        await dialog.waitFor();
        const inserted = await dialog.locator('.qr-image').innerHTML();
        assert.doesNotMatch(inserted, /script|onload|onclick|foreignObject|evil\.example/i);
        assert.equal(await dialog.locator('.qr-image svg path').count(), 1);
        await dialog.locator('svg rect').click({ force: true });
        assert.equal(await page.evaluate(() => window.__pwned), undefined);
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'hidden' });

        for (const name of ['html', 'broken']) {
          await page.locator('.wallet-item', { hasText: name }).click();
          await dialog.waitFor();
          assert.equal(await dialog.locator('.qr-image svg').count(), 0, name);
          assert.equal(await dialog.getByText(ko('qr.unavailable')).isVisible(), true, name);
          assert.equal(await dialog.getByTestId('qr-code').innerText(), wallet[name === 'html' ? 1 : 2].voucher.code);
          await page.keyboard.press('Escape');
          await dialog.waitFor({ state: 'hidden' });
        }
        assert.equal(await page.evaluate(() => window.__pwned), undefined);
        // Parsing the hostile markup makes chromium report the inline handlers and the parser
        // error's inline style as blocked by the CSP (defence in depth); nothing else may appear.
        const blocked = /violates the following Content Security Policy directive '(script|style)-src 'self''.*blocked/;
        assert.ok(app.problems.some((p) => blocked.test(p)));
        app.problems.splice(0, app.problems.length, ...app.problems.filter((p) => !blocked.test(p)));
        await page.evaluate(() => {
          window.__csp = window.__csp.filter((v) => !/^(script|style)-src(-attr|-elem)? inline$/.test(v));
        });
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('shows the stored vouchers offline and the QR still opens', async () => {
      const app = await openApp(scenario({ offline: true }), { hash: '#/wallet' });
      const { page } = app;
      try {
        await page.getByTestId('offline-note').waitFor();
        assert.deepEqual(
          (await calls(page)).map((c) => c.cmd).filter((c) => c === 'wallet' || c === 'refresh_wallet'),
          ['wallet', 'refresh_wallet'],
        );
        await page.locator('.wallet-item', { hasText: code }).click();
        await page.getByRole('dialog').getByTestId('qr-code').getByText(code).waitFor();
        await assertClean(app);
      } finally {
        await app.close();
      }
    });

    it('follows wallet-changed events and opens a voucher from the result screen', async () => {
      const app = await openApp(scenario({ wallet: [] }), { hash: '#/wallet' });
      const { page } = app;
      try {
        await page.getByText(ko('wallet.empty')).waitFor();
        await page.evaluate((entries) => window.__mock.emit('wallet-changed', entries), WALLET);
        await page.locator('.wallet-item').nth(2).waitFor();
        assert.equal(await page.getByText(ko('wallet.empty')).count(), 0);

        await page.evaluate(() => {
          location.hash = '#/wallet/mega-1125/12688';
        });
        await page.getByRole('dialog').getByTestId('qr-code').getByText(code).waitFor();
        await page.keyboard.press('Escape');
        await page.waitForFunction(() => location.hash === '#/wallet');
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
