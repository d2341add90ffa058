// Everyday actions in the browser: forwarding a message (shown with its author, in Persian
// too), pinning and unpinning seen by both people, archiving a chat (on a second device too)
// and deleting it for me only.

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

/** Opens the actions menu of the message with this text (hover, then its ⋯ button). */
async function menuOf(page, text) {
  const row = page.locator('.msg', { hasText: text }).last();
  await row.hover();
  await row.locator('.row-menu').click();
  await page.waitForSelector('#msg-menu');
}

test('forwarding a message takes it to another chat marked with its author; a pin shows for everyone', async () => {
  const nasrin = await H.newUser(browser, server, 'nasrin', 'Nasrin');
  const arash = await H.newUser(browser, server, 'arash', 'Arash');
  const bahar = await H.newUser(browser, server, 'bahar', 'Bahar', { lang: 'fa' });
  await H.openChatWith(arash.page, 'nasrin');
  await H.send(arash.page, 'Concert at eight');
  await H.openChatWith(nasrin.page, 'bahar');
  await H.send(nasrin.page, 'hi Bahar');
  const page = nasrin.page;
  await H.openConversation(page, 'Arash');
  await H.waitForText(page, 'Concert at eight');

  // Nasrin forwards Arash's message to Bahar.
  await menuOf(page, 'Concert at eight');
  await page.click('#act-forward');
  await page.waitForSelector('#forward');
  await page.fill('#forward-filter', 'bah');
  await page.locator('#forward-list .fwd-target', { hasText: 'Bahar' }).click();
  await page.waitForSelector('#forward', { state: 'detached' });
  // Bahar (in Persian) gets it from Nasrin, marked as Arash's.
  await H.openConversation(bahar.page, 'Nasrin');
  const got = bahar.page.locator('.msg', { hasText: 'Concert at eight' });
  await got.waitFor();
  assert.equal(await got.locator('.fwd-from').textContent(), 'هدایت‌شده از Arash');

  // Arash pins his message in the direct chat: both see the bar, and a click shows it.
  await menuOf(arash.page, 'Concert at eight');
  await arash.page.click('#act-pin');
  for (const p of [arash.page, page]) {
    await p.waitForSelector('#pin-bar:not([hidden])');
    await p.locator('#pin-bar .pin-text', { hasText: 'Concert at eight' }).waitFor();
  }
  await page.locator('.sys-row', { hasText: 'Arash pinned a message' }).waitFor();
  await page.click('#pin-bar');
  await page.waitForFunction(() => document.activeElement?.closest('.msg')?.textContent.includes('Concert at eight'));
  // Unpinned from the same menu: the bar goes on both sides.
  await menuOf(page, 'Concert at eight');
  assert.equal(await page.textContent('#act-pin'), 'Unpin');
  await page.click('#act-pin');
  for (const p of [arash.page, page]) await p.waitForSelector('#pin-bar', { state: 'hidden' });
  for (const p of [page, arash.page, bahar.page]) p.assertClean();
});

test('archiving moves a chat under "Archived chats" on every device of mine; deleting a chat clears it for me only', async () => {
  const leila = await H.newUser(browser, server, 'leila', 'Leila');
  const kaveh = await H.newUser(browser, server, 'kaveh', 'Kaveh');
  await H.openChatWith(kaveh.page, 'leila');
  await H.send(kaveh.page, 'old news');
  const page = leila.page;
  const laptop = await H.linkDevice(browser, server, page);
  await H.openConversation(page, 'Kaveh');
  await page.click('#chat-menu-btn');
  await page.click('#act-archive');
  // Gone from the chats, under "Archived chats (1)", here and on the laptop.
  for (const p of [page, laptop.page]) {
    await p.locator('#archived-toggle', { hasText: '(1)' }).waitFor();
    assert.equal(await p.locator('#conv-list .conv-item').count(), 0);
  }
  await page.click('#archived-toggle');
  await page.locator('#conv-list .conv-item', { hasText: 'Kaveh' }).click();
  await page.click('#chat-menu-btn');
  await page.click('#act-archive');
  await page.click('#archived-toggle');
  await page.locator('#conv-list .conv-item', { hasText: 'Kaveh' }).waitFor();
  await laptop.page.locator('#conv-list .conv-item', { hasText: 'Kaveh' }).waitFor();

  // Delete the chat: it leaves Leila's list (and the laptop's), Kaveh keeps his history.
  await H.openConversation(page, 'Kaveh');
  await page.click('#chat-menu-btn');
  await page.click('#act-clear');
  await page.click('#confirm-yes');
  for (const p of [page, laptop.page]) {
    await p.waitForFunction(() => !document.querySelector('#conv-list .conv-item'));
  }
  await kaveh.page.reload();
  await H.waitOnline(kaveh.page);
  await H.openConversation(kaveh.page, 'Leila');
  await H.waitForText(kaveh.page, 'old news');
  // Kaveh writes again: the chat is back for Leila with only the new message.
  await H.send(kaveh.page, 'fresh news');
  await H.openConversation(page, 'Kaveh');
  await H.waitForText(page, 'fresh news');
  assert.deepEqual(await H.shownTexts(page), ['fresh news']);
  for (const p of [page, laptop.page, kaveh.page]) p.assertClean();
});

test('a message deleted for me goes from my history on all my devices and stays for the others', async () => {
  const sima = await H.newUser(browser, server, 'sima', 'Sima');
  const tara = await H.newUser(browser, server, 'tara', 'Tara');
  await H.openChatWith(tara.page, 'sima');
  await H.send(tara.page, 'keep this');
  await H.send(tara.page, 'oops, wrong chat');
  const page = sima.page;
  const tablet = await H.linkDevice(browser, server, page);
  await H.openConversation(page, 'Tara');
  await H.waitForText(page, 'oops, wrong chat');
  await H.openConversation(tablet.page, 'Tara');
  await H.waitForText(tablet.page, 'oops, wrong chat');
  await menuOf(page, 'oops, wrong chat');
  await page.click('#act-hide');
  await page.click('#confirm-yes');
  for (const p of [page, tablet.page]) {
    await p.waitForFunction(() => ![...document.querySelectorAll('.msg .text')].some((e) => e.textContent === 'oops, wrong chat'));
    await H.waitForText(p, 'keep this');
  }
  // After a reload too; and Tara still has both.
  await page.reload();
  await H.waitOnline(page);
  await H.openConversation(page, 'Tara');
  await H.waitForText(page, 'keep this');
  assert.deepEqual(await H.shownTexts(page), ['keep this']);
  assert.deepEqual(await H.shownTexts(tara.page), ['keep this', 'oops, wrong chat']);
  for (const p of [page, tablet.page, tara.page]) p.assertClean();
});

test('a group\'s description, set by its owner, shows in every member\'s group info', async () => {
  const reza = await H.newUser(browser, server, 'reza3', 'Reza');
  const mona = await H.newUser(browser, server, 'mona3', 'Mona', { lang: 'fa' });
  await H.createGroup(reza.page, 'Hikers', '@mona3');
  await reza.page.click('#info-btn');
  await reza.page.fill('#describe-input', 'Saturday walks in the hills');
  await reza.page.click('#describe-submit');
  await reza.page.locator('#info-description', { hasText: 'Saturday walks in the hills' }).waitFor();
  await reza.page.keyboard.press('Escape');
  await reza.page.locator('.sys-row', { hasText: 'You changed the group’s description' }).waitFor();
  // Mona (Persian) sees the line and the description in the group's info; she may not edit it.
  await H.openConversation(mona.page, 'Hikers');
  await mona.page.locator('.sys-row', { hasText: 'Reza توضیحات گروه را تغییر داد' }).waitFor();
  await mona.page.click('#info-btn');
  await mona.page.locator('#info-description', { hasText: 'Saturday walks in the hills' }).waitFor();
  assert.equal(await mona.page.locator('#describe-input').count(), 0);
  for (const p of [reza.page, mona.page]) p.assertClean();
});

test('a person\'s link, shown in their menu, opens a chat with them', async () => {
  const nava = await H.newUser(browser, server, 'nava', 'Nava');
  await nava.page.click('#menu-btn');
  const link = (await nava.page.textContent('#my-link')).trim();
  assert.equal(link, `${server.url}/#u=nava`);
  await nava.page.keyboard.press('Escape');
  const parsa = await H.newUser(browser, server, 'parsa4', 'Parsa');
  await parsa.page.goto(link);
  await H.waitOnline(parsa.page);
  await parsa.page.waitForFunction(() => document.querySelector('#chat-sub bdi')?.textContent === '@nava');
  await H.send(parsa.page, 'found you by your link');
  await nava.page.locator('.conv-item', { hasText: 'Parsa' }).click();
  await H.waitForText(nava.page, 'found you by your link');
  // A link to nobody says so.
  await parsa.page.goto(`${server.url}/#u=nobody_here`);
  await H.waitOnline(parsa.page);
  await parsa.page.locator('.toast', { hasText: '@nobody_here' }).waitFor();
  for (const p of [nava.page, parsa.page]) p.assertClean();
});
