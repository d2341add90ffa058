// Sessions: a reload resumes the same device (token and feed cursor from storage) with its
// conversations and history; a second browser context linked with a one-time code is another
// device of the same account and sees the same conversations, live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

let server;
let browser;
before(async () => {
  server = await H.startServer();
  browser = await H.launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a reload keeps the session and the history', async () => {
  const sara = await H.newUser(browser, server, 'sara', 'Sara');
  const bob = await H.newUser(browser, server, 'bob', 'Bob');
  await H.openChatWith(sara.page, 'bob');
  for (const text of ['one', 'two', 'three']) await H.send(sara.page, text);
  await sara.page.waitForFunction(() => document.querySelectorAll('.msg:not(.pending)').length === 3);
  const device = await sara.page.evaluate(() => JSON.parse(localStorage.getItem('chapar.session')).device_id);

  await sara.page.reload();
  await H.waitOnline(sara.page);
  // No sign-up form: the same device resumed, and the open conversation came back.
  assert.equal(await sara.page.locator('#auth').count(), 0);
  await sara.page.waitForFunction(() => document.getElementById('chat-title')?.textContent === 'Bob');
  await H.waitForText(sara.page, 'three');
  assert.deepEqual(await H.shownTexts(sara.page), ['one', 'two', 'three']);
  assert.equal(await sara.page.evaluate(() => JSON.parse(localStorage.getItem('chapar.session')).device_id), device);

  // What arrived while the page was away comes in through sync after the next reload.
  await sara.page.goto('about:blank');
  await bob.page.locator('.conv-item', { hasText: 'Sara' }).click();
  await H.send(bob.page, 'while you were away');
  await bob.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  await sara.page.goto(server.url + '/');
  await H.waitOnline(sara.page);
  const item = sara.page.locator('.conv-item', { hasText: 'Bob' });
  await item.locator('.ci-preview', { hasText: 'while you were away' }).waitFor();
  assert.equal(await item.getAttribute('data-unread'), '1');
  await item.click();
  await H.waitForText(sara.page, 'while you were away');
  assert.deepEqual(await H.shownTexts(sara.page), ['one', 'two', 'three', 'while you were away']);

  sara.page.assertClean();
  bob.page.assertClean();
  await sara.context.close();
  await bob.context.close();
});

test('a second context linked as another device sees the same conversations', async () => {
  const nima = await H.newUser(browser, server, 'nima', 'Nima');
  const lale = await H.newUser(browser, server, 'lale', 'Lale');
  await H.openChatWith(lale.page, 'nima');
  await H.send(lale.page, 'hi Nima');
  await nima.page.locator('.conv-item', { hasText: 'Lale' }).waitFor();

  // Nima makes a link code on his first device...
  await nima.page.click('#menu-btn');
  await nima.page.click('#link-device-btn');
  const code = (await nima.page.locator('#link-code-value').textContent()).trim();
  assert.ok(code.length >= 6, code);
  await nima.page.locator('#device-list li').first().waitFor();
  assert.equal(await nima.page.locator('#device-list li').count(), 1);

  // ...and enters it in a fresh browser context.
  const { context, page: laptop } = await H.openPage(browser, server);
  await laptop.click('#tab-link');
  await laptop.fill('#link-code', code);
  await laptop.click('#link-submit');
  await H.waitOnline(laptop);
  // The first device's open menu follows: the used code is gone, the new device listed.
  await nima.page.locator('#link-code-value').waitFor({ state: 'detached' });
  await nima.page.locator('#device-list li').nth(1).waitFor();
  // Each says when it was last active, in words; this one is active now.
  assert.equal(await nima.page.locator('#device-list li', { hasText: 'this device' }).locator('.device-active').textContent(), 'active now');
  assert.match(await nima.page.locator('#device-list li', { hasNotText: 'this device' }).locator('.device-active').textContent(), /^last active (now|\d+ seconds? ago)$/);
  // The new device gets a name Nima recognises; the laptop's own list shows it at once.
  await nima.page.locator('#device-list li', { hasNotText: 'this device' }).locator('.rename-device').click();
  await nima.page.fill('#device-name-input', 'Work laptop');
  await nima.page.click('#device-name-form-submit');
  await nima.page.locator('#device-list li .device-name', { hasText: 'Work laptop' }).waitFor();
  await nima.page.keyboard.press('Escape');
  await laptop.locator('.conv-item', { hasText: 'Lale' }).waitFor();
  await laptop.locator('.conv-item', { hasText: 'Lale' }).click();
  await H.waitForText(laptop, 'hi Nima');
  const me = await laptop.evaluate(() => JSON.parse(localStorage.getItem('chapar.session')));
  assert.equal(me.user.handle, 'nima');

  // The code was for one use.
  const other = await H.openPage(browser, server);
  await other.page.click('#tab-link');
  await other.page.fill('#link-code', code);
  await other.page.click('#link-submit');
  await other.page.waitForFunction(() => document.getElementById('auth-error').textContent.length > 0);
  await other.context.close();

  // Sent from the laptop: shown as Nima's own on both of his devices and to Lale.
  await H.send(laptop, 'from my laptop');
  await H.waitForText(lale.page, 'from my laptop');
  await nima.page.locator('.conv-item', { hasText: 'Lale' }).click();
  await H.waitForText(nima.page, 'from my laptop');
  assert.equal(await nima.page.locator('.msg[data-own=true]', { hasText: 'from my laptop' }).count(), 1);

  // Both devices are listed, and the list marks which one is this.
  await laptop.click('#menu-btn');
  await laptop.locator('#device-list li').nth(1).waitFor();
  assert.equal(await laptop.locator('#device-list li').count(), 2);
  assert.equal(await laptop.locator('#device-list li', { hasText: 'this device' }).locator('.device-name').textContent(), 'Work laptop');
  // Each says how long it stays signed in unused (180 days by default: a date with next year).
  const expiry = laptop.locator('#device-list li .session-expiry');
  assert.equal(await expiry.count(), 2);
  const year = String(new Date(Date.now() + 180 * 86400000).getFullYear());
  assert.match(await expiry.first().textContent(), new RegExp(year));

  for (const p of [nima.page, lale.page, laptop]) p.assertClean();
  await context.close();
  await nima.context.close();
  await lale.context.close();
});

test('a device revoked from another device is signed out at once', async () => {
  const rana = await H.newUser(browser, server, 'rana', 'Rana');
  const { context, page: old } = await H.linkDevice(browser, server, rana.page);

  await rana.page.click('#menu-btn');
  const revoke = rana.page.locator('#device-list li', { hasNotText: '(' }).locator('button', { hasText: 'Revoke' });
  await revoke.click();
  // The revoked browser is back at the sign-in screen, told why, with nothing kept.
  await old.waitForSelector('#auth .notice');
  assert.equal(await old.evaluate(() => localStorage.getItem('chapar.session')), null);
  await rana.page.locator('#device-list li.revoked').waitFor();

  rana.page.assertClean();
  old.assertClean();
  await context.close();
  await rana.context.close();
});
