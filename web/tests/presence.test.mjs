// Presence in the browser: a direct chat's header says the person is online, then when they
// were last seen once they close the page (in English and in Persian), and shows neither once
// they hide it in their privacy settings.

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

const presence = (page) => page.evaluate(() => document.getElementById('chat-presence')?.textContent ?? null);

test('a direct chat shows the person online, then last seen, and nothing once they hide it', async () => {
  const laleh = await H.newUser(browser, server, 'laleh', 'Laleh');
  const nima = await H.newUser(browser, server, 'nima', 'Nima', { lang: 'fa' });
  await H.openChatWith(laleh.page, 'nima');
  await laleh.page.waitForFunction(() => document.getElementById('chat-presence')?.textContent === ' · online');
  assert.ok(await laleh.page.locator('#chat-presence.online').isVisible());

  // Nima in Persian sees Laleh online too.
  await H.openChatWith(nima.page, 'laleh');
  await nima.page.waitForFunction(() => document.getElementById('chat-presence')?.textContent === ' · آنلاین');

  // Nima closes his page: Laleh's header says when he was last seen, without a reload.
  await nima.context.close();
  await laleh.page.waitForFunction(() => document.getElementById('chat-presence')?.textContent === ' · last seen now');
  assert.ok(!(await laleh.page.locator('#chat-presence.online').count()), 'not shown as online');
  laleh.page.assertClean();


  const sahar = await H.newUser(browser, server, 'sahar', 'Sahar');
  await H.openChatWith(sahar.page, 'laleh');
  await H.send(sahar.page, 'hi Laleh');
  await sahar.page.waitForFunction(() => document.getElementById('chat-presence')?.textContent === ' · online');
  await laleh.page.click('#menu-btn');
  await laleh.page.click('#privacy-btn');
  await laleh.page.waitForSelector('#privacy #privacy-last-seen:enabled');
  await laleh.page.selectOption('#privacy-last-seen', 'nobody');
  await laleh.page.click('#privacy-save');
  await laleh.page.locator('#privacy-status', { hasText: 'Saved' }).waitFor();
  // Sahar's header goes back to the handle alone, at once.
  await sahar.page.waitForFunction(() => !document.getElementById('chat-presence'));
  assert.equal(await sahar.page.textContent('#chat-sub'), '@laleh');
  // And it stays so after she reloads (a new watch is judged by the new setting).
  await sahar.page.reload();
  await H.waitOnline(sahar.page);
  await H.openConversation(sahar.page, 'Laleh');
  // The header is drawn and the watch answered before the next line: compare to another
  // person's chat, where presence does show.
  await H.openChatWith(sahar.page, 'nima');
  await sahar.page.waitForFunction(() => /last seen/.test(document.getElementById('chat-presence')?.textContent || ''));
  await H.openConversation(sahar.page, 'Laleh');
  assert.equal(await presence(sahar.page), null);
  sahar.page.assertClean();
});
