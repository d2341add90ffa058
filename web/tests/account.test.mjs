// An account that cannot be lost, in the browser: the recovery key offered at sign-up (shown
// once, saved as a file, registered only when saved), recovering on a fresh browser with the old
// devices signed out, the warning before signing out of the last device, a key the terminal
// client made working in the browser, and profile changes seen by others.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as H from './helpers.mjs';

let server;
let browser;
let profiles;
before(async () => {
  server = await H.startServer();
  browser = await H.launch();
  profiles = mkdtempSync(join(tmpdir(), 'chapar-account-'));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (profiles) rmSync(profiles, { recursive: true, force: true });
});

/** Recovers `handle` with `code` on a fresh browser context. */
async function recover(handle, code, { revokeOthers = false, lang } = {}) {
  const device = await H.openPage(browser, server, { lang });
  await device.page.click('#tab-recover');
  await device.page.fill('#recover-handle', handle);
  await device.page.fill('#recover-code', code);
  if (revokeOthers) await device.page.check('#recover-revoke');
  await device.page.click('#recover-submit');
  return device;
}

async function menuMe(page) {
  await page.click('#menu-btn');
  await page.waitForSelector('#account-box #recovery-status');
}

test('the recovery key from sign-up brings the account back on a fresh browser, and can sign the old devices out', async () => {
  const { context, page } = await H.openPage(browser, server);
  await H.signUp(page, 'roya', 'Roya', { keepRecovery: true });
  const code = (await page.textContent('#recovery-code')).trim();
  assert.match(code, /^([0-9A-HJKMNP-TV-Z]{4}-){13}[0-9A-HJKMNP-TV-Z]{4}$/);
  // The file holds the same key.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#recovery-download')]);
  const saved = readFileSync(await download.path(), 'utf8');
  assert.ok(saved.includes(code) && saved.includes('@roya'), saved);
  await page.click('#recovery-saved');
  await page.waitForSelector('#recovery', { state: 'detached' });
  await page.locator('.toast', { hasText: 'Recovery key saved.' }).waitFor();
  await menuMe(page);
  assert.equal(await page.textContent('#recovery-status'), 'Recovery key: saved');
  await page.keyboard.press('Escape');

  const friend = await H.newUser(browser, server, 'sami', 'Sami');
  await H.openChatWith(friend.page, 'roya');
  await H.send(friend.page, 'before the loss');
  await page.locator('.conv-item', { hasText: 'Sami' }).waitFor();

  // A typo is caught before anything is sent.
  const typo = code.slice(0, 5) + (code[5] === 'A' ? 'B' : 'A') + code.slice(6);
  const wrong = await recover('roya', typo);
  await wrong.page.waitForFunction(() => document.getElementById('auth-error').textContent.length > 0);
  assert.match(await wrong.page.textContent('#auth-error'), /typo/);
  await wrong.context.close();

  // Typed in lower case with spaces: the account comes back, history and all, and the old
  // browser is signed out (revoke others).
  const back = await recover('roya', code.toLowerCase().replace(/-/g, ' '), { revokeOthers: true });
  await H.waitOnline(back.page);
  await back.page.locator('.conv-item', { hasText: 'Sami' }).click();
  await H.waitForText(back.page, 'before the loss');
  await page.waitForSelector('#auth .notice');
  await H.send(back.page, 'I am back');
  await H.waitForText(friend.page, 'I am back');

  for (const p of [page, back.page, friend.page]) p.assertClean();
  for (const c of [context, back.context, friend.context]) await c.close();
});

test('signing out of the last device without a recovery key warns first and offers to make one', async () => {
  const { context, page } = await H.openPage(browser, server);
  await H.signUp(page, 'kaveh', 'Kaveh'); // "Not now": no key
  await menuMe(page);
  assert.equal(await page.textContent('#recovery-status'), 'No recovery key yet');
  await page.click('#sign-out-btn');
  await page.waitForSelector('#sign-out');
  assert.equal(await page.textContent('#sign-out-text'),
    'This is your only device and you have no recovery key. If you sign out, @kaveh is lost for ever. Make a recovery key first.');
  // Cancel keeps everything.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#sign-out', { state: 'detached' });
  assert.ok(await page.evaluate(() => localStorage.getItem('chapar.session')));

  // Make a key from the warning; then the warning says the key is needed, and signing out works.
  await page.click('#menu-btn');
  await page.click('#sign-out-btn');
  await page.click('#sign-out-make-key');
  const code = (await page.textContent('#recovery-code')).trim();
  await page.click('#recovery-saved');
  await page.waitForSelector('#sign-out');
  assert.equal(await page.textContent('#sign-out-text'),
    'This is your only device. To sign in again you will need your recovery key. Sign out?');
  await page.click('#sign-out #confirm-yes');
  await page.waitForSelector('#auth');
  assert.equal(await page.evaluate(() => localStorage.getItem('chapar.session')), null);

  // The key made there works.
  const back = await recover('kaveh', code);
  await H.waitOnline(back.page);
  page.assertClean();
  back.page.assertClean();
  await context.close();
  await back.context.close();
});

test('a recovery code printed by the terminal client signs in in the browser (Persian screen)', async () => {
  const profile = join(profiles, 'dara');
  const out = H.jsonLines(await H.cli(server, profile, '--json', 'register', 'dara', '--name', 'Dara'));
  const code = out.find((l) => l.recovery_code).recovery_code;
  const back = await recover('dara', code, { lang: 'fa' });
  await H.waitOnline(back.page);
  await menuMe(back.page);
  assert.equal(await back.page.textContent('#recovery-status'), 'کلید بازیابی: ذخیره شده');
  // The terminal's device is still there (no revoke asked): two devices listed.
  await back.page.locator('#device-list li').nth(1).waitFor();
  assert.equal(await back.page.locator('#device-list li').count(), 2);
  back.page.assertClean();
  await back.context.close();
});

test('a new display name and bio are saved, shown to others, and reach my other devices', async () => {
  const nima = await H.newUser(browser, server, 'nimaa', 'Nima');
  const lale = await H.newUser(browser, server, 'lalee', 'Lale');
  await H.openChatWith(lale.page, 'nimaa');
  await H.send(lale.page, 'hi');
  const laptop = await H.linkDevice(browser, server, nima.page);

  await menuMe(nima.page);
  await nima.page.fill('#profile-name', 'Nima Karimi');
  await nima.page.fill('#profile-bio', 'Tea, books, mountains');
  await nima.page.click('#profile-save');
  await nima.page.locator('.toast', { hasText: 'Profile saved.' }).waitFor();
  await nima.page.keyboard.press('Escape');

  // Lale sees the new name in her chat list once it is fetched again.
  await lale.page.reload();
  await H.waitOnline(lale.page);
  await lale.page.locator('.conv-item', { hasText: 'Nima Karimi' }).waitFor();
  // The laptop's menu shows the new name and bio without a reload.
  await laptop.page.waitForFunction(() => window.chapar.model.me.display_name === 'Nima Karimi');
  await menuMe(laptop.page);
  assert.equal(await laptop.page.inputValue('#profile-name'), 'Nima Karimi');
  assert.equal(await laptop.page.inputValue('#profile-bio'), 'Tea, books, mountains');

  // An empty name is refused with the server's reason; nothing changes.
  await laptop.page.fill('#profile-name', '   ');
  await laptop.page.click('#profile-save');
  await laptop.page.waitForFunction(() => document.querySelector('#profile-form .form-error').textContent.length > 0);
  await laptop.page.keyboard.press('Escape');
  await menuMe(nima.page);
  assert.equal(await nima.page.inputValue('#profile-name'), 'Nima Karimi');

  for (const p of [nima.page, lale.page, laptop.page]) p.assertClean();
  for (const c of [nima.context, lale.context, laptop.context]) await c.close();
});
