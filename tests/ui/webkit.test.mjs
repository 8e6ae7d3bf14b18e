// A smoke test in the engine the app really runs in: WebKitGTK (Debian's MiniBrowser driven by
// WebKitWebDriver under Xvfb), with the same CSP and the same mocked IPC, loaded by a classic
// script the test server adds to index.html. It checks that the modules load and that the
// campaign list, a claim's progress and the wallet QR dialog work there, and keeps screenshots.
// Skipped, saying why, when WebKitWebDriver, MiniBrowser or xvfb-run is missing.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { installMock } from './lib/mock-tauri.mjs';
import { scenario, at, WALLET, PHASES, ISSUER_PUBLIC_KEY, verifyToken } from './lib/fixtures.mjs';
import { ARTIFACTS, UI_ROOT, decodeQr } from './lib/harness.mjs';

const DRIVER = '/usr/bin/WebKitWebDriver';
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB_RUN = '/usr/bin/xvfb-run';
const missing = [DRIVER, MINIBROWSER, XVFB_RUN].filter((p) => !existsSync(p));
const skip = missing.length ? `needs ${missing.join(', ')} (apt-get install -y webkit2gtk-driver xvfb)` : false;

const SCENARIOS = {
  main: scenario({
    timelines: {
      'lotte-1125': [
        { after_ms: 300, progress: { phase: 'pre_queue', in_draw: true, attempts: 1, next_check_in_ms: 55_000, next_check_at: at(57_000) } },
        {
          after_ms: 900,
          progress: {
            phase: 'in_line', in_draw: true, position: 3, ahead: 2, supply: 20000, attempts: 2,
            admit_at: at(105_000), eta_ms: 48_000, next_check_at: at(105_000), next_check_in_ms: 48_000,
          },
        },
      ],
    },
  }),
};

function mockScript(name) {
  const s = SCENARIOS[name];
  if (!s) return null;
  return [
    'window.__errors = []; window.__csp = [];',
    "window.addEventListener('error', (e) => window.__errors.push(String(e.message)));",
    "document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));",
    `(${installMock.toString()})(${JSON.stringify(s)});`,
  ].join('\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The few W3C WebDriver calls this needs, over fetch. */
class WebDriver {
  constructor(base) {
    this.base = base;
  }
  async cmd(method, path, body) {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value).slice(0, 400)}`);
    return json.value;
  }
  async start() {
    const caps = {
      capabilities: {
        alwaysMatch: {
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        },
      },
    };
    const v = await this.cmd('POST', '/session', caps);
    this.session = `/session/${v.sessionId}`;
    await this.cmd('POST', `${this.session}/window/rect`, { width: 400, height: 800 }).catch(() => {});
  }
  stop() {
    return this.session ? this.cmd('DELETE', this.session).catch(() => {}) : undefined;
  }
  go(url) {
    return this.cmd('POST', `${this.session}/url`, { url });
  }
  run(script, ...args) {
    return this.cmd('POST', `${this.session}/execute/sync`, { script, args });
  }
  async find(css) {
    const v = await this.cmd('POST', `${this.session}/element`, { using: 'css selector', value: css });
    return Object.values(v)[0];
  }
  async click(css) {
    const id = await this.find(css);
    return this.cmd('POST', `${this.session}/element/${id}/click`, {});
  }
  pressEscape() {
    return this.cmd('POST', `${this.session}/actions`, {
      actions: [{ type: 'key', id: 'kbd', actions: [{ type: 'keyDown', value: '\uE00C' }, { type: 'keyUp', value: '\uE00C' }] }],
    });
  }
  async screenshot(name) {
    const b64 = await this.cmd('GET', `${this.session}/screenshot`);
    const path = join(ARTIFACTS, `${name}.png`);
    await writeFile(path, Buffer.from(b64, 'base64'));
    return path;
  }
  /** Polls `script` (returning a boolean) until true, or fails with what the page shows. */
  async until(script, label, timeoutMs = 10_000) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await this.run(script)) return;
      await sleep(100);
    }
    const text = await this.run('return document.body.innerText');
    assert.fail(`WebKit: timed out waiting for ${label}\n--- page text ---\n${text}`);
  }
}

describe('WebKitGTK (the Tauri webview engine)', { skip }, () => {
  let server;
  let driverProc;
  let wd;

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    server = await startServer(UI_ROOT, { mockScript });
    const port = await freePort();
    driverProc = spawn(XVFB_RUN, ['-a', '-s', '-screen 0 1280x1024x24', DRIVER, `--port=${port}`], {
      detached: true,
      stdio: 'ignore',
    });
    wd = new WebDriver(`http://127.0.0.1:${port}`);
    const end = Date.now() + 15_000;
    for (;;) {
      try {
        await wd.start();
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await sleep(250);
      }
    }
  });

  after(async () => {
    if (wd) await wd.stop();
    // The driver, Xvfb and the browser share the process group started above.
    if (driverProc) {
      try {
        process.kill(-driverProc.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    if (server) await server.close();
  });

  it('runs the campaigns, a claim and the wallet QR under the app CSP', async () => {
    await wd.go(`${server.url}index.html?mock=main#/campaigns`);
    await wd.until("return document.documentElement.dataset.ready === 'true'", 'the app to boot');
    await wd.until("return document.body.innerText.includes('롯데시네마 6,000원 할인권')", 'the campaign list');
    assert.equal(await wd.run('return document.documentElement.lang'), 'ko');
    // The bundled font is in use here too (Chromium and WebKitGTK render alike).
    await wd.until(
      "return [...document.fonts].some((f) => f.family.replace(/[\"']/g, '') === 'Lineup Sans' && f.status === 'loaded')",
      'the bundled Lineup Sans font',
    );
    await wd.screenshot('webkit-ko-campaigns');

    await wd.click('[data-campaign="lotte-1125"] button');
    await wd.until("return location.hash === '#/claim/lotte-1125'", 'the line view');
    await wd.until("return document.querySelector('[data-testid=position]')?.textContent === '3번'", 'position 3 from the events');
    const calls = await wd.run("return window.__mock.calls.filter((c) => c.cmd === 'arm_claim')");
    assert.deepEqual(calls, [{ cmd: 'arm_claim', args: { campaign_id: 'lotte-1125' } }]);
    assert.match(await wd.run("return document.querySelector('.calm').textContent"), /새로고침하지 않아도 됩니다/);
    assert.match(await wd.run("return document.querySelector('[data-testid=phase-sentence]').textContent"), /^당첨: 준비된 20,000장 안에 들었습니다 \(3번째\)/);
    await wd.screenshot('webkit-ko-line');

    await wd.run("location.hash = '#/wallet'");
    await wd.until("return document.querySelectorAll('.wallet-item').length === 3", 'the wallet list');
    await wd.click('.wallet-item[data-serial="12688"]');
    await wd.until("return document.getElementById('qr-dialog').open", 'the QR dialog');
    assert.equal(await wd.run("return document.querySelector('[data-testid=qr-code]').textContent"), WALLET[1].voucher.code);
    assert.equal(await wd.run("return document.querySelectorAll('#qr-dialog .qr-image svg path').length"), 1);
    // The sheet starts at its title (safe centring): nothing is cut off above the top. WebKitGTK
    // scrolls the focused close button into view a frame or two after opening, and the app
    // scrolls back: the settled position is what a person sees (within a second under load).
    await wd.until(
      "return document.getElementById('qr-title').getBoundingClientRect().top >= 0",
      'the QR sheet back at its title',
      2_000,
    );
    const shot = await wd.screenshot('webkit-ko-qr');
    const decoded = decodeQr(shot);
    assert.deepEqual(decoded, [WALLET[1].voucher.token], `the QR in ${shot} decodes to the voucher's token`);
    assert.equal(verifyToken(decoded[0], ISSUER_PUBLIC_KEY), WALLET[1].voucher.code);
    await wd.pressEscape();
    await wd.until("return !document.getElementById('qr-dialog').open && location.hash === '#/wallet'", 'Escape to close the QR');

    // A used voucher says so, with no QR.
    await wd.click('.wallet-item[data-serial="3"]');
    await wd.until("return document.getElementById('qr-dialog').open", 'the used voucher sheet');
    assert.match(await wd.run("return document.querySelector('[data-testid=qr-stamp]').textContent"), /사용 완료/);
    await wd.screenshot('webkit-ko-qr-used');
    await wd.pressEscape();
    await wd.until("return !document.getElementById('qr-dialog').open", 'Escape to close the used sheet');

    // The fate of a waitlisted claim with automatic issuing.
    await wd.run(`window.__mock.progress('lotte-1125', ${JSON.stringify(PHASES.waitlisted_auto)}); location.hash = '#/claim/lotte-1125'`);
    await wd.until("return document.querySelector('[data-testid=phase-sentence]')?.textContent.startsWith('이번에는 당첨되지 않았습니다')", 'the waitlisted fate');
    await wd.screenshot('webkit-ko-waitlisted');

    assert.deepEqual(await wd.run('return window.__errors'), []);
    assert.deepEqual(await wd.run('return window.__csp'), []);
    assert.deepEqual(await wd.run('return window.__mock.violations'), []);
  });
});
