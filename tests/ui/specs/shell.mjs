// The shell: without a Tauri backend the app says where it must run; unknown routes go to the
// campaigns; nothing is fetched but the app's own files; the page carries landmarks.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, setup, assertClean } from '../lib/harness.mjs';
import { scenario } from '../lib/fixtures.mjs';
import { trFor } from './states.mjs';

const ko = trFor('ko');

export function shellSpecs() {
  describe('shell', () => {
    it('explains itself when opened outside the app', async () => {
      const app = await openApp(null, { hash: '#/campaigns' });
      const { page } = app;
      try {
        await page.getByRole('heading', { level: 1, name: ko('fatal.title') }).waitFor();
        await page.getByText(ko('error.advice.no_backend')).waitFor();
        assert.equal(app.problems.length, 0, app.problems.join('\n'));
      } finally {
        await app.close();
      }
    });

    it('has landmarks, a menu marking the current page, and sends unknown routes to the campaigns', async () => {
      const app = await openApp(scenario(), { hash: '#/nowhere/at/all' });
      const { page } = app;
      try {
        await page.getByRole('heading', { level: 1, name: '할인권 신청' }).waitFor();
        assert.equal(await page.getByRole('banner').count(), 1);
        assert.equal(await page.getByRole('main').count(), 1);
        assert.equal(await page.getByRole('navigation', { name: '주 메뉴' }).count(), 1);
        assert.equal(await page.getByRole('link', { name: '신청', exact: true }).getAttribute('aria-current'), 'page');
        await page.getByRole('link', { name: '지갑' }).click();
        await page.getByRole('heading', { level: 1, name: '지갑' }).waitFor();
        assert.equal(await page.getByRole('link', { name: '지갑' }).getAttribute('aria-current'), 'page');
        assert.equal(await page.getByRole('link', { name: '신청', exact: true }).getAttribute('aria-current'), null);
        const { server } = await setup();
        const asked = new Set(server.requests);
        for (const path of asked) assert.match(path, /^\/(index\.html|app\.js|styles\.css|favicon\.svg|__test__\/blank\.html|js\/.+\.js|i18n\/(ko|en)\.js|fonts\/lineup-sans-(ui|hangul)\.woff2)$/);
        await assertClean(app);
      } finally {
        await app.close();
      }
    });
  });
}
