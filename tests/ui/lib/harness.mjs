// Shared test plumbing: the static server, Debian's chromium through playwright-core, opening
// the app on a scenario at a viewport and language with a fixed clock, screenshots into
// tests/artifacts/ui/, the axe check, and the "nothing went wrong underneath" check.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { startServer } from './server.mjs';
import { installMock } from './mock-tauri.mjs';
import { NOW } from './fixtures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const UI_ROOT = join(REPO, 'ui');
export const ARTIFACTS = process.env.LINEUP_UI_ARTIFACTS || join(REPO, 'tests/artifacts/ui');

export const VIEWPORTS = {
  phone: { width: 360, height: 740 },
  desktop: { width: 1280, height: 800 },
};

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--font-render-hinting=none',
];

let env = null;

/** Starts the server and the browser once per test process. */
export async function setup() {
  if (env) return env;
  await mkdir(ARTIFACTS, { recursive: true });
  const server = await startServer(UI_ROOT);
  const browser = await chromium.launch({
    executablePath: process.env.LINEUP_CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_FLAGS,
  });
  env = { server, browser };
  return env;
}

export async function teardown() {
  if (!env) return;
  await env.browser.close();
  await env.server.close();
  env = null;
}

async function newPage(viewport, lang) {
  const { server, browser } = await setup();
  const context = await browser.newContext({
    viewport: VIEWPORTS[viewport],
    locale: lang === 'en' ? 'en-US' : 'ko-KR',
    timezoneId: 'Asia/Seoul',
    deviceScaleFactor: 1,
    hasTouch: viewport === 'phone',
    reducedMotion: 'reduce',
  });
  // Everything here happens in well under a second; a failure should not wait 30 s to say so.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url)) problems.push(`network request outside the app: ${r.url()}`);
  });
  await page.clock.install({ time: new Date(NOW) });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { server, context, page, problems };
}

/**
 * Opens the app. `scenario` is the mocked backend's state (null: no backend at all);
 * `hash` the route; the language comes from the scenario's settings.
 */
export async function openApp(scenario, { viewport = 'phone', hash = '', waitReady = true } = {}) {
  const lang = scenario?.settings?.language === 'en' ? 'en' : 'ko';
  const { server, context, page, problems } = await newPage(viewport, lang);
  if (scenario) await page.addInitScript(installMock, scenario);
  await page.goto(`${server.url}index.html${hash}`, { waitUntil: 'domcontentloaded' });
  if (waitReady) await page.waitForSelector('html[data-ready="true"]');
  return {
    page,
    context,
    problems,
    lang,
    async close() {
      await context.close();
    },
  };
}

/**
 * One page reused for many scenarios at one size and language (the state matrix): each
 * `load` puts the scenario in sessionStorage, where the init script finds it, and navigates
 * afresh (a new query string, so it is a real load and not a same-document hash change).
 */
export async function openSession(viewport, lang) {
  const { server, context, page, problems } = await newPage(viewport, lang);
  await page.addInitScript(
    ({ install }) => {
      const raw = location.pathname.endsWith('.html') ? sessionStorage.getItem('lineup-test-scenario') : null;
      if (raw) new Function(`return (${install})`)()(JSON.parse(raw));
    },
    { install: installMock.toString() },
  );
  await page.goto(`${server.url}__test__/blank.html`); // any page of the origin, for sessionStorage
  let loads = 0;
  return {
    page,
    problems,
    lang,
    async load(scenario, hash) {
      await page.evaluate((s) => sessionStorage.setItem('lineup-test-scenario', JSON.stringify(s)), scenario);
      problems.length = 0;
      await page.clock.setSystemTime(new Date(NOW));
      await page.goto(`${server.url}index.html?load=${++loads}${hash}`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('html[data-ready="true"]');
    },
    async close() {
      await context.close();
    },
  };
}

/** Everything the mock backend was asked, in order. */
export function calls(page, command) {
  return page.evaluate((cmd) => window.__mock.calls.filter((c) => !cmd || c.cmd === cmd), command);
}

/** No page errors, console errors, CSP violations, outside requests or contract violations. */
export async function assertClean(app) {
  const { csp, violations } = await app.page.evaluate(() => ({
    csp: window.__csp || [],
    violations: window.__mock ? window.__mock.violations : [],
  }));
  assert.deepEqual(app.problems, [], 'page problems');
  assert.deepEqual(csp, [], 'Content-Security-Policy violations');
  assert.deepEqual(violations, [], 'IPC contract violations');
}

export async function screenshot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  // A modal covers the viewport; the page behind it would only add noise below.
  const modal = await page.evaluate(() => Boolean(document.querySelector('dialog[open]')));
  await page.screenshot({ path, fullPage: !modal });
  return path;
}

/** axe-core with WCAG A/AA rules; fails on serious or critical findings. */
export async function assertAccessible(page, label) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe found serious/critical problems on ${label}`,
  );
}

/** The page fits its width (no sideways scrolling at 360 px) and targets are big enough. */
export async function assertLayout(page, label) {
  const report = await page.evaluate(() => {
    const overflow = document.documentElement.scrollWidth - window.innerWidth;
    const small = [];
    const targets = document.querySelectorAll(
      'main button, main a.button, main input, .app-nav a, dialog[open] button, main .wallet-item',
    );
    for (const el of targets) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (el.matches('input[type=checkbox], input[type=radio]')) {
        // The label extends the target; check the row it sits in.
        const row = el.closest('.field-check, .choice');
        const rr = row ? row.getBoundingClientRect() : r;
        if (rr.height < 44) small.push(`${el.id || el.name} row ${Math.round(rr.height)}px`);
        continue;
      }
      if (r.height < 44 || r.width < 44) {
        small.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
    }
    return { overflow, small };
  });
  assert.ok(report.overflow <= 0, `${label}: page is ${report.overflow}px wider than the window`);
  assert.deepEqual(report.small, [], `${label}: touch targets under 44 px`);
}
