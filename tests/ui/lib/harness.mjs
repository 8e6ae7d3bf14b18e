// Shared test plumbing: the static server, Debian's chromium through playwright-core, opening
// the app on a scenario at a viewport and language with a fixed clock, screenshots into
// tests/artifacts/ui/, the axe check, and the "nothing went wrong underneath" check.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
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

async function newPage(viewport, lang, { colorScheme = 'light' } = {}) {
  const { server, browser } = await setup();
  const context = await browser.newContext({
    viewport: VIEWPORTS[viewport],
    colorScheme,
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
export async function openApp(scenario, { viewport = 'phone', hash = '', waitReady = true, colorScheme } = {}) {
  const lang = scenario?.settings?.language === 'en' ? 'en' : 'ko';
  const { server, context, page, problems } = await newPage(viewport, lang, { colorScheme });
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
export async function openSession(viewport, lang, { colorScheme } = {}) {
  const { server, context, page, problems } = await newPage(viewport, lang, { colorScheme });
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
      await page.evaluate((s) => {
        sessionStorage.setItem('lineup-test-scenario', JSON.stringify(s));
        localStorage.clear();
      }, scenario);
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

/** Decodes the QR code(s) in a screenshot with zbarimg (Debian zbar-tools); returns the texts. */
export function decodeQr(path) {
  try {
    const out = execFileSync('zbarimg', ['--raw', '-q', '-Sdisable', '-Sqrcode.enable', path], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean);
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error('zbarimg not found: apt-get install -y zbar-tools');
    return []; // exit status 4: no code found
  }
}

/**
 * Non-text contrast (WCAG 1.4.11) of the parts that carry state, from computed styles: the
 * meter's track edge against what is behind it and its fill against the track, the fate
 * icon's ring and glyph against their background, the timeline's dots and connectors, the
 * current tab's marker, and form controls' borders. Each must reach 3:1.
 */
export async function assertNonTextContrast(page, label) {
  const report = await page.evaluate(() => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => {
      const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
      return (x + 0.05) / (y + 0.05);
    };
    const behind = (el) => {
      for (let n = el.parentElement; n; n = n.parentElement) {
        const c = parse(getComputedStyle(n).backgroundColor);
        if (c && c.a > 0) return c;
      }
      return parse(getComputedStyle(document.body).backgroundColor) || { r: 255, g: 255, b: 255, a: 1 };
    };
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    };
    const checks = [];
    const add = (what, el, fg, bg) => {
      if (!fg || !bg || fg.a === 0) return;
      checks.push({ what, ratio: Math.round(ratio(fg, bg) * 100) / 100, cls: el.className?.baseVal ?? el.className });
    };
    for (const el of document.querySelectorAll('.meter-track')) {
      if (!visible(el)) continue;
      const s = getComputedStyle(el);
      add('meter track edge', el, parse(s.borderTopColor), behind(el));
      const fill = el.querySelector('.meter-fill');
      if (fill && fill.getBoundingClientRect().width > 0) add('meter fill', fill, parse(getComputedStyle(fill).backgroundColor), parse(s.backgroundColor));
    }
    for (const el of document.querySelectorAll('.fate-icon')) {
      if (!visible(el)) continue;
      const s = getComputedStyle(el);
      add('fate icon glyph', el, parse(s.color), parse(s.backgroundColor));
      add('fate icon ring', el, parse(s.borderTopColor), behind(el));
    }
    for (const el of document.querySelectorAll('.step-dot')) {
      if (!visible(el)) continue;
      const s = getComputedStyle(el);
      add(`timeline dot (${el.parentElement.dataset.state})`, el, parse(s.borderTopColor), behind(el));
      if (el.querySelector('svg')) add('timeline dot glyph', el, parse(s.color), parse(s.backgroundColor));
    }
    for (const el of document.querySelectorAll('.step:not(:last-child)')) {
      if (!visible(el)) continue;
      add('timeline connector', el, parse(getComputedStyle(el, '::before').backgroundColor), behind(el.firstElementChild));
    }
    for (const el of document.querySelectorAll('.app-nav a[aria-current="page"]')) {
      if (!visible(el)) continue;
      const s = getComputedStyle(el);
      const marker = parse(s.borderTopWidth !== '0px' && s.borderTopStyle !== 'none' ? s.borderTopColor : s.backgroundColor);
      add('current tab marker', el, marker, behind(el));
    }
    for (const el of document.querySelectorAll('main input[type=text], main input[type=url], .segmented .choice')) {
      if (!visible(el)) continue;
      add('field border', el, parse(getComputedStyle(el).borderTopColor), behind(el));
    }
    return checks;
  });
  const low = report.filter((c) => c.ratio < 3);
  assert.deepEqual(low, [], `${label}: non-text parts under 3:1`);
  return report;
}
