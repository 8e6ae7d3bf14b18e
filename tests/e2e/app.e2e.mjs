// The WebDriver half of the end-to-end test (started by tests/e2e/session.sh, which provides
// the display, the bus, the keyring, the demo server and tauri-driver through LINEUP_E2E_*).
// One person's whole story: register (the demo server verifies the contact: the one-time code
// is read from its log and typed in, after a wrong one), arm the demo claim, wait in line, have the app killed
// and started again (the claim carries on), receive the voucher, open it in the wallet with
// its QR; then the recorded D-Bus notification must carry the same
// code the UI shows, and the server must know that code (the box office redeems it). Last, with
// `hide_code_on_lock_screen` on, a second claim's notifications tell the result and that the
// voucher is there, without its code. Then "I changed phones": a second profile of the app
// (a new key) proves the same contact, is told it is registered on another device, moves it
// here, and shows the unused voucher with a new code; the box office refuses the old code; the
// old device, started again, is told its registration moved and offered to register again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Builder, By, Capabilities, until } from 'selenium-webdriver';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/e2e/run.sh`);
  return v;
};
const APP = env('LINEUP_E2E_APP_BIN');
const DRIVER = env('LINEUP_E2E_DRIVER');
const SERVER = env('LINEUP_E2E_SERVER');
const STAFF_TOKEN = env('LINEUP_E2E_STAFF_TOKEN');
const ARTIFACTS = env('LINEUP_E2E_ARTIFACTS');
const NOTIFY_LOG = env('LINEUP_E2E_NOTIFY_LOG');
const APP_LOG = join(ARTIFACTS, 'tauri-driver.log');
const CAMPAIGN = process.env.LINEUP_E2E_CAMPAIGN || 'demo';
const HIDDEN = env('LINEUP_E2E_HIDDEN_CAMPAIGN');
const HIDDEN_TITLE = env('LINEUP_E2E_HIDDEN_TITLE');
const SERVER_LOG = env('LINEUP_E2E_SERVER_LOG');
const SECOND_DATA_DIR = env('LINEUP_E2E_SECOND_DATA_DIR');
const CONTACT = 'e2e@lineup.test';
/** The server sends a contact at most one code a minute (its per-contact limit). */
const CODE_GAP_MS = 61_000;
/** Longest wait for the voucher: the demo opens within LINEUP_E2E_OPEN_IN plus its admission. */
const VOUCHER_TIMEOUT_MS = 120_000;
/** The grouped voucher code (docs/protocol.md): three groups of four symbols of the code alphabet. */
const CODE_RE = /[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}/;

let driver;
let shots = 0;
/** When the first code was asked for (the second must wait for the server's per-contact gap). */
let firstCodeAt = 0;
/** The unused voucher of the second claim, as the first device holds it. */
let hiddenVoucher;

async function shot(name) {
  const png = await driver.takeScreenshot();
  const file = join(ARTIFACTS, `${String(++shots).padStart(2, '0')}-${name}.png`);
  writeFileSync(file, png, 'base64');
  return file;
}

/** Invokes an app command from the page; resolves with its answer or `{ error }`. */
function invoke(cmd, args = {}) {
  return driver.executeAsyncScript(`const done = arguments[arguments.length - 1];
    window.__TAURI__.core.invoke(${JSON.stringify(cmd)}, ${JSON.stringify(args)}).then(done, (e) => done({ error: e }));`);
}

/** The recorded D-Bus Notify calls, one string each (summary and body inside). */
function notifyCalls() {
  return readFileSync(NOTIFY_LOG, 'utf8').split(/\n(?=method call)/).filter((c) => c.includes('member=Notify'));
}

/** The whole virtual screen (the app window and dunst's notification bubble). */
function screenShot(name) {
  try {
    const xwd = execFileSync('xwd', ['-root', '-silent'], { maxBuffer: 64 << 20 });
    execFileSync('convert', ['xwd:-', `PNG32:${join(ARTIFACTS, name)}`], { input: xwd });
  } catch (e) {
    console.log(`no whole-screen screenshot: ${e.message}`);
  }
}

const byTestId = (id) => By.css(`[data-testid="${id}"]`);

async function visible(locator, timeout = 15_000) {
  const el = await driver.wait(until.elementLocated(locator), timeout);
  await driver.wait(until.elementIsVisible(el), timeout);
  return el;
}

/** The one-time codes the demo server printed for `contact`, oldest first. */
function codesFor(contact) {
  const text = readFileSync(SERVER_LOG, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
  return text
    .split('\n')
    .filter((l) => l.includes('one-time code printed instead of sent') && l.includes(`contact=${contact}`))
    .map((l) => l.match(/\bcode=(\d{6})\b/)?.[1])
    .filter(Boolean);
}

/** Waits for a code newer than the `before` first ones, as a person waits for the message. */
async function newCode(contact, before) {
  let code;
  await driver.wait(() => {
    const all = codesFor(contact);
    if (all.length > before) code = all.at(-1);
    return Boolean(code);
  }, 15_000, `no one-time code for ${contact} in ${SERVER_LOG}`);
  return code;
}

/** Fills in the registration form and sends it; resolves once the code step shows. */
async function askForCode() {
  const contact = await visible(By.id('contact'));
  await contact.sendKeys(CONTACT);
  await driver.findElement(By.id('consent')).click();
  await driver.findElement(By.css('form button[type="submit"]')).click();
  const input = await visible(By.id('code'), 20_000);
  assert.equal(await input.getAttribute('inputmode'), 'numeric', 'the phone shows its number pad');
  assert.equal(await input.getAttribute('autocomplete'), 'one-time-code', 'the phone may fill the code from the message');
  return input;
}

async function typeCode(input, code) {
  await input.clear();
  await input.sendKeys(code);
  await driver.findElement(By.css('form button[type="submit"]')).click();
}

/** Starts the app through tauri-driver and waits until its UI is ready. */
async function launch(args = []) {
  const caps = new Capabilities();
  caps.setBrowserName('wry');
  caps.set('tauri:options', args.length ? { application: APP, args } : { application: APP });
  driver = await new Builder().withCapabilities(caps).usingServer(DRIVER).build();
  // The UI marks <html data-ready="true"> once settings and identity are loaded.
  await driver.wait(async () => (await driver.executeScript('return document.documentElement.dataset.ready')) === 'true', 30_000);
}

before(launch, { timeout: 90_000 });

after(async () => {
  if (driver) await driver.quit().catch(() => {});
});

test('register, wait in line, receive the voucher, see it in the wallet and in a notification', { timeout: 300_000 }, async (t) => {
  await t.test('the app starts on registration, talking to the demo server', async () => {
    await shot('start');
    const settings = await driver.executeAsyncScript('const done = arguments[arguments.length - 1]; window.__TAURI__.core.invoke("get_settings").then(done, (e) => done({ error: e }));');
    assert.equal(settings.server_url, SERVER, 'LINEUP_SERVER reaches the app');
    assert.match(await driver.getCurrentUrl(), /#\/register$/);
  });

  await t.test('register with a contact and consent, then the code the server sent (after a wrong one)', async () => {
    const before = codesFor(CONTACT).length;
    const input = await askForCode();
    firstCodeAt = Date.now();
    const code = await newCode(CONTACT, before);
    await shot('register-code');
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await typeCode(input, wrong);
    const error = await visible(By.id('code-error'));
    assert.match(await error.getText(), /인증번호가 맞지 않습니다\. \d+번 더 입력할 수 있습니다\./, 'a wrong code says how many tries are left');
    await shot('register-code-wrong');
    await typeCode(input, code);
    await driver.wait(until.urlMatches(/#\/campaigns$/), 20_000);
    assert.match(await (await visible(byTestId('registered'))).getText(), /등록 완료/);
    const status = await driver.executeAsyncScript('const done = arguments[arguments.length - 1]; window.__TAURI__.core.invoke("identity_status").then(done, (e) => done({ error: e }));');
    assert.equal(status.registered, true, JSON.stringify(status));
    assert.match(status.identity, /^[A-Za-z0-9_-]{43}$/, 'the public key, base64url');
  });

  await t.test('arm the demo claim and see the in-line screen', async () => {
    const arm = await visible(By.css(`[data-campaign="${CAMPAIGN}"] button`));
    await shot('campaigns');
    await arm.click();
    await driver.wait(until.urlContains(`#/claim/${CAMPAIGN}`), 10_000);
    const sentence = await visible(byTestId('phase-sentence'));
    // The fate comes first, in one sentence (ui/js/fate.js): applied and waiting for the draw,
    // taking a place, won (and when it is issued), or not this time.
    assert.match(
      (await sentence.getText()).trim(),
      /^(신청 완료|신청 예약 완료|줄에 자리를 받고 있습니다|당첨: |준비된 [\d,]+장 안에|내 차례입니다|할인권을 발급받고 있습니다|이번에는 당첨되지 않았습니다|Applied|Booked|Taking a place|You won|You are within|It is your turn|Receiving your voucher|Not this time)/,
      'the line screen says where the claim stands, fate first',
    );
    // The bundled font (ui/fonts, Lineup Sans) renders the UI in the real webview too.
    const font = await driver.executeScript(
      "return [...document.fonts].some((f) => f.family.replace(/[\"']/g, '') === 'Lineup Sans' && f.status === 'loaded')",
    );
    assert.equal(font, true, 'the bundled Lineup Sans font is loaded in WebKitGTK');
    await shot('in-line');
  });

  await t.test('the app is killed while in line and started again: the claim goes on by itself', async () => {
    // tauri-driver ends the app process when its session ends: as abrupt as a crash, with
    // the claim record (idempotency key, ticket) on disk and the claim not finished.
    await driver.quit();
    driver = undefined;
    await launch();
    // Not the claim screen: the backend must pick the claim up at start without the UI
    // asking for it. The claim record says where it stands.
    await driver.executeScript('location.hash = "#/settings"');
    // The app's log (its stderr reaches tauri-driver's log) says that it resumed the claim.
    await driver.wait(() => readFileSync(APP_LOG, 'utf8').includes('resumed an unfinished claim'), 20_000,
      `the app did not resume the claim at start (see ${APP_LOG})`);
    const progress = await driver.wait(async () => {
      const p = await driver.executeAsyncScript(`const done = arguments[arguments.length - 1];
        window.__TAURI__.core.invoke("claim_status", { campaign_id: ${JSON.stringify(CAMPAIGN)} }).then(done, (e) => done({ error: e }));`);
      return p && !p.error ? p : null;
    }, 20_000);
    assert.notEqual(progress.phase, 'failed', JSON.stringify(progress));
    await driver.executeScript(`location.hash = "#/claim/${CAMPAIGN}"`);
    await shot('in-line-after-restart');
  });

  let uiCode;
  await t.test('the voucher arrives and its code is shown', async () => {
    const codeEl = await visible(byTestId('voucher-code'), VOUCHER_TIMEOUT_MS);
    uiCode = (await codeEl.getText()).trim();
    assert.match(uiCode, CODE_RE);
    const headline = await driver.findElement(By.css('main h1'));
    assert.match((await headline.getText()).trim(), /^(할인권을 받았습니다|You got the voucher)$/, 'the result headline is the fate');
    await shot('voucher');
    screenShot('screen-voucher.png');
  });

  await t.test('the wallet lists the voucher and opens its QR', async () => {
    await driver.executeScript('location.hash = "#/wallet"');
    // The list is drawn from the offline wallet first and redrawn when the server refresh
    // returns, so an element found early may be replaced: look it up again until a click lands.
    let listed = '';
    await driver.wait(async () => {
      try {
        const item = await driver.findElement(By.css('button.wallet-item'));
        listed = (await item.findElement(By.css('.wallet-item-code')).getText()).trim();
        await shot('wallet');
        await item.click();
        return true;
      } catch (e) {
        if (e.name === 'StaleElementReferenceError' || e.name === 'NoSuchElementError') return false;
        throw e;
      }
    }, 15_000);
    assert.equal(listed, uiCode, 'the wallet lists the voucher with the same code');
    assert.equal((await driver.findElements(By.css('button.wallet-item'))).length, 1, 'one voucher, not two, after the restart');
    const qrCode = await visible(byTestId('qr-code'));
    assert.equal((await qrCode.getText()).trim(), uiCode, 'the QR sheet shows the same code');
    const svg = await visible(By.css('#qr-dialog .qr-image svg'));
    const size = await svg.getRect();
    assert.ok(size.width > 100 && size.height > 100, `the QR is drawn large enough to scan (${size.width}x${size.height})`);
    await shot('wallet-qr');
  });

  await t.test('desktop notifications of the draw result and of the code were sent over D-Bus', async () => {
    let log = '';
    await driver.wait(async () => {
      log = readFileSync(NOTIFY_LOG, 'utf8');
      return log.includes(uiCode);
    }, 15_000).catch(() => {});
    const calls = log.split(/\n(?=method call)/).filter((c) => c.includes('member=Notify'));
    const ours = calls.filter((c) => c.includes(uiCode));
    assert.equal(ours.length, 1, `exactly one Notify call carries ${uiCode}; recorded:\n${calls.join('\n')}`);
    assert.match(ours[0], /할인권을 받았습니다|You got the voucher/);
    // Before it, the draw's result: won, within the supply, issued by the server at its time.
    const result = calls.filter((c) => /당첨되었습니다|You won/.test(c));
    assert.equal(result.length, 1, `exactly one draw-result notification; recorded:\n${calls.join('\n')}`);
    assert.match(result[0], /준비된 [\d,]+장 안에 들었습니다|You are within the/);
    assert.ok(calls.indexOf(result[0]) < calls.indexOf(ours[0]), 'the result is told before the voucher');
  });

  await t.test("the server knows the code (the box office redeems it)", async () => {
    const res = await fetch(`${SERVER}/v1/redemptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${STAFF_TOKEN}` },
      body: JSON.stringify({ code: uiCode }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.code, uiCode);
    assert.equal(body.campaign_id, CAMPAIGN);
  });

  await t.test('with the code hidden on the lock screen, the notifications say the result and that the voucher is there, not its code', async () => {
    const settings = await invoke('get_settings');
    assert.equal(settings.hide_code_on_lock_screen, false, 'a desktop shows the code by default');
    const saved = await invoke('set_settings', { settings: { ...settings, hide_code_on_lock_screen: true } });
    assert.equal(saved.hide_code_on_lock_screen, true, JSON.stringify(saved));
    const armed = await invoke('arm_claim', { campaign_id: HIDDEN });
    assert.ok(!armed.error, JSON.stringify(armed));
    let held;
    await driver.wait(async () => {
      const p = await invoke('claim_status', { campaign_id: HIDDEN });
      if (p && p.phase === 'holding' && p.voucher) held = p;
      return Boolean(held);
    }, 60_000, 'the second claim did not get its voucher');
    hiddenVoucher = held.voucher;
    const compact = String(held.voucher.code).replace(/-/g, '');
    const grouped = `${compact.slice(0, 4)}-${compact.slice(4, 8)}-${compact.slice(8, 12)}`;
    let ours = [];
    await driver.wait(() => {
      ours = notifyCalls().filter((c) => c.includes(HIDDEN_TITLE));
      return ours.some((c) => c.includes('할인권을 받았습니다'));
    }, 15_000).catch(() => {});
    const all = () => notifyCalls().join('\n');
    const result = ours.filter((c) => c.includes('당첨되었습니다'));
    assert.equal(result.length, 1, `one draw-result notification for the second claim; recorded:\n${all()}`);
    const voucher = ours.filter((c) => c.includes('할인권을 받았습니다'));
    assert.equal(voucher.length, 1, `one voucher notification for the second claim; recorded:\n${all()}`);
    assert.match(voucher[0], /할인권이 발급되었습니다\. 앱에서 확인하세요/);
    for (const c of ours) {
      assert.ok(!c.includes(compact) && !c.includes(grouped), `the code ${grouped} stays off the notification:\n${c}`);
    }
    assert.ok(ours.indexOf(result[0]) < ours.indexOf(voucher[0]), 'the result is told before the voucher');
    screenShot('screen-hidden-code.png');
  });
});

const grouped = (code) => {
  const c = String(code).replace(/-/g, '');
  return `${c.slice(0, 4)}-${c.slice(4, 8)}-${c.slice(8, 12)}`;
};

async function redeem(code) {
  const res = await fetch(`${SERVER}/v1/redemptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer lineup-e2e-hidden-staff-token' },
    body: JSON.stringify({ code }),
  });
  return { status: res.status, body: await res.json() };
}

test('changed phones: a new device proves the same contact, moves here, and the voucher follows with a new code', { timeout: 180_000 }, async (t) => {
  assert.ok(hiddenVoucher, 'the first story ended holding an unused voucher');
  await t.test('a second profile of the app (a new key) asks for a code for the same contact', async () => {
    await driver.quit();
    driver = undefined;
    await launch(['--data-dir', SECOND_DATA_DIR]);
    assert.match(await driver.getCurrentUrl(), /#\/register$/, 'a new device starts unregistered');
    // One code a minute per contact: a person on a new phone would not be faster.
    const wait = firstCodeAt + CODE_GAP_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  });

  let code;
  await t.test('the right code says first that the contact is registered on another device, and offers the move', async () => {
    const before = codesFor(CONTACT).length;
    const input = await askForCode();
    code = await newCode(CONTACT, before);
    await typeCode(input, code);
    const taken = await visible(byTestId('contact-taken'), 20_000);
    const text = (await taken.getText()).trim();
    assert.match(text, /^이 연락처는 다른 기기에 등록되어 있습니다\./, 'the first sentence says what happened');
    assert.match(text, /다른 기기에서는 더 이상/);
    assert.match(text, /번호가 새로 바뀌고, 예전 번호와 QR은 쓸 수 없게 됩니다/);
    await shot('move-offer');
  });

  await t.test('moving here says what moved, and the voucher shows with a new code', async () => {
    await (await visible(byTestId('move-here'))).click();
    await driver.wait(until.urlMatches(/#\/campaigns$/), 30_000);
    const moved = await visible(byTestId('moved'));
    assert.match(await moved.getText(), /할인권 \d+장을 이 기기로 옮겼습니다\./, 'says what moved');
    await shot('moved');
    const status = await invoke('identity_status');
    assert.equal(status.registered, true, JSON.stringify(status));
    let entry;
    await driver.wait(async () => {
      const w = await invoke('wallet');
      entry = Array.isArray(w) ? w.find((e) => e.voucher.campaign_id === HIDDEN) : undefined;
      return Boolean(entry);
    }, 15_000, 'the moved voucher is in the new device\'s wallet');
    assert.notEqual(entry.voucher.code, hiddenVoucher.code, 'the unused voucher was signed again with a new code');
    assert.equal(entry.voucher.serial, hiddenVoucher.serial, 'the same voucher, not a second one');
    assert.equal(entry.status, 'unused');
    assert.equal(entry.verified, true, 'the new token verifies against the issuer keys');
    await driver.executeScript('location.hash = "#/wallet"');
    await driver.wait(async () => {
      const codes = await driver.findElements(By.css('.wallet-item-code'));
      const texts = await Promise.all(codes.map((c) => c.getText().catch(() => '')));
      return texts.map((x) => x.trim()).includes(grouped(entry.voucher.code));
    }, 15_000, 'the wallet shows the new code');
    await shot('moved-wallet');
    // The place came along: its claim on this device holds the new voucher.
    const p = await invoke('claim_status', { campaign_id: HIDDEN });
    assert.equal(p && p.phase, 'holding', JSON.stringify(p));
    assert.equal(p.voucher.code, entry.voucher.code);
    newHiddenCode = entry.voucher.code;
  });

  await t.test('the box office refuses the old code and takes the new one', async () => {
    const old = await redeem(grouped(hiddenVoucher.code));
    assert.equal(old.status, 410, JSON.stringify(old.body));
    assert.equal(old.body.code, 'voucher_moved', JSON.stringify(old.body));
    const fresh = await redeem(grouped(newHiddenCode));
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  });

  await t.test('the old device is told its registration moved, and offered to register again', async () => {
    await driver.quit();
    driver = undefined;
    await launch();
    await driver.executeScript('location.hash = "#/wallet"');
    const again = await visible(byTestId('register-again'), 20_000);
    const alert = await driver.findElement(By.css('[role="alert"]'));
    assert.match(await alert.getText(), /이 기기의 등록이 다른 기기로 옮겨졌습니다/);
    await shot('old-device-moved');
    const status = await invoke('identity_status');
    assert.equal(status.registered, false, `the revoked key was replaced: ${JSON.stringify(status)}`);
    await again.click();
    await driver.wait(until.urlMatches(/#\/register$/), 10_000);
  });
});

let newHiddenCode;
