// Everyday use in the browser: searching the chat list by title and by the people in each chat
// (English and Persian spellings), text typed and not sent kept per chat across switches and
// reloads, links in people's messages made clickable, and notifications (with Chromium's
// permission granted) that respect muting.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const shownTitles = (page) => page.$$eval('#conv-list .conv-item .ci-title', (els) => els.map((e) => e.textContent));

test('search finds chats by title, by the people in them, and by Persian text typed either way', async () => {
  const roya = await H.newUser(browser, server, 'roya', 'Roya');
  const shirin = await H.newUser(browser, server, 'shirin', 'Shirin Azad');
  const omid = await H.newUser(browser, server, 'omid', 'Omid');
  await H.createGroup(roya.page, 'Book club', '@shirin');
  await H.createGroup(roya.page, 'کتابخانه', '@omid');
  await H.openChatWith(roya.page, 'omid');
  await H.send(roya.page, 'hello');
  const page = roya.page;
  await page.locator('.conv-item', { hasText: 'Omid' }).waitFor();
  assert.equal((await shownTitles(page)).length, 3);

  await page.fill('#conv-search', 'BOOK');
  assert.deepEqual(await shownTitles(page), ['Book club']);
  // A member's name finds the group (the members are fetched when the search box is used).
  await page.fill('#conv-search', 'azad');
  await page.waitForFunction(() => document.querySelectorAll('#conv-list .conv-item').length === 1);
  assert.deepEqual(await shownTitles(page), ['Book club']);
  await page.fill('#conv-search', '@omid');
  assert.deepEqual((await shownTitles(page)).sort(), ['Omid', 'کتابخانه'].sort());
  // Typed with an Arabic kaf (as some keyboards do), the Persian title still matches.
  await page.fill('#conv-search', 'كتاب');
  assert.deepEqual(await shownTitles(page), ['کتابخانه']);
  await page.fill('#conv-search', 'nothing like it');
  await page.locator('#no-matches', { hasText: 'No chat matches “nothing like it”.' }).waitFor();
  // Escape clears the search; Down goes to the first chat.
  await page.keyboard.press('Escape');
  assert.equal((await shownTitles(page)).length, 3);
  assert.ok(await page.isHidden('#no-matches'));

  for (const u of [roya, shirin, omid]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('text typed and not sent stays with its chat, across switching chats and a reload', async () => {
  const nava = await H.newUser(browser, server, 'nava', 'Nava');
  const a = await H.newUser(browser, server, 'arash', 'Arash');
  const b = await H.newUser(browser, server, 'bahar', 'Bahar');
  const page = nava.page;
  await H.openChatWith(page, 'bahar');
  await H.send(page, 'hi Bahar');
  await H.openChatWith(a.page, 'nava');
  await H.send(a.page, 'hi Nava');
  await page.locator('.conv-item', { hasText: 'Arash' }).click();
  await H.waitForText(page, 'hi Nava');
  await page.fill('#composer-input', 'half a thought');
  await page.locator('.conv-item', { hasText: 'Bahar' }).click();
  assert.equal(await page.inputValue('#composer-input'), '');
  // The list says there is a draft in Arash's chat.
  const preview = page.locator('.conv-item', { hasText: 'Arash' }).locator('.ci-preview');
  await preview.filter({ hasText: 'Draft: half a thought' }).waitFor();

  await page.reload();
  await H.waitOnline(page);
  await page.locator('.conv-item', { hasText: 'Arash' }).locator('.ci-preview', { hasText: 'Draft: half a thought' }).waitFor();
  await page.locator('.conv-item', { hasText: 'Arash' }).click();
  assert.equal(await page.inputValue('#composer-input'), 'half a thought');
  await page.keyboard.press('End');
  await page.keyboard.type(', finished');
  await page.keyboard.press('Enter');
  await H.waitForText(a.page, 'half a thought, finished');
  await page.reload();
  await H.waitOnline(page);
  await page.locator('.conv-item', { hasText: 'Arash' }).click();
  assert.equal(await page.inputValue('#composer-input'), '', 'sent: no draft any more');
  assert.equal(await page.locator('.unsent-label').count(), 0);

  for (const u of [nava, a, b]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('links in people\'s messages open in a new tab, punctuation after them left out', async () => {
  const kia = await H.newUser(browser, server, 'kia', 'Kia');
  const lili = await H.newUser(browser, server, 'lili', 'Lili');
  await H.openChatWith(kia.page, 'lili');
  await H.send(kia.page, 'see https://example.org/a?b=1. and (http://example.com/x) too');
  await lili.page.locator('.conv-item', { hasText: 'Kia' }).click();
  await H.waitForText(lili.page, 'see https://example.org/a?b=1. and (http://example.com/x) too');
  const links = await lili.page.$$eval('.msg .text a', (els) => els.map((a) => [a.getAttribute('href'), a.textContent, a.target, a.rel]));
  assert.deepEqual(links, [
    ['https://example.org/a?b=1', 'https://example.org/a?b=1', '_blank', 'noopener noreferrer'],
    ['http://example.com/x', 'http://example.com/x', '_blank', 'noopener noreferrer'],
  ]);
  // No request went to those hosts by showing them.
  for (const u of [kia, lili]) {
    u.page.assertClean();
    await u.context.close();
  }
});

/** Runs in the page before the app: records each desktop notification the app shows. */
function recordNotifications() {
  const Real = window.Notification;
  window.shownNotifications = [];
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.shownNotifications.push({ title, body: options && options.body });
    }
  };
}

const shown = (page) => page.evaluate(() => window.shownNotifications);

test('notifications: a message for a chat I am not looking at notifies; a muted chat does not, and its badge is grey', async () => {
  const opts = { permissions: ['notifications'], init: recordNotifications };
  const tara = await H.newUser(browser, server, 'tara', 'Tara', opts);
  const vida = await H.newUser(browser, server, 'vida', 'Vida');
  const yas = await H.newUser(browser, server, 'yas', 'Yas');
  await H.openChatWith(vida.page, 'tara');
  await H.send(vida.page, 'first');
  await H.openChatWith(yas.page, 'tara');
  await H.send(yas.page, 'hello from yas');
  const page = tara.page;
  await page.locator('.conv-item', { hasText: 'Yas' }).click();
  await H.waitForText(page, 'hello from yas');
  // Both first messages came while no chat was open: each notified.
  assert.deepEqual((await shown(page)).map((n) => n.body).sort(), ['first', 'hello from yas']);
  await page.evaluate(() => {
    window.shownNotifications = [];
  });

  // Tara looks at Yas's chat; Vida writes: a notification names Vida and shows the text.
  await H.send(vida.page, 'are you coming?');
  await page.locator('.conv-item', { hasText: 'Vida' }).locator('.ci-preview', { hasText: 'are you coming?' }).waitFor();
  await page.waitForFunction(() => window.shownNotifications.length === 1);
  assert.deepEqual(await shown(page), [{ title: 'Vida', body: 'are you coming?' }]);
  // A message in the chat in front of her does not notify (checked when the next one arrives).
  await H.send(yas.page, 'in front of you');
  await H.waitForText(page, 'in front of you');

  // Tara mutes Vida's chat from its menu: no notification, a grey badge.
  await page.locator('.conv-item', { hasText: 'Vida' }).click();
  await page.click('#chat-menu-btn');
  await page.click('#act-mute-ever');
  await page.locator('.conv-item', { hasText: 'Yas' }).click();
  await H.send(vida.page, 'muted ping');
  await page.locator('.conv-item', { hasText: 'Vida' }).locator('.ci-preview', { hasText: 'muted ping' }).waitFor();
  await page.locator('.conv-item', { hasText: 'Vida' }).locator('.badge.muted').waitFor();
  // Yas writes after it, to a chat not in front: that one notifies, the muted one never did.
  await page.locator('.conv-item', { hasText: 'Vida' }).click();
  await H.send(yas.page, 'after the mute');
  await page.waitForFunction(() => window.shownNotifications.length === 2);
  assert.deepEqual((await shown(page)).map((n) => n.body), ['are you coming?', 'after the mute']);
  // Unmuted, it notifies again.
  await page.click('#chat-menu-btn');
  await page.click('#act-unmute');
  await page.locator('.conv-item', { hasText: 'Yas' }).click();
  await H.send(vida.page, 'unmuted');
  await page.waitForFunction(() => window.shownNotifications.length === 3);

  for (const u of [tara, vida, yas]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('notifications are offered after the first send, once; "Not now" is remembered', async () => {
  const zal = await H.newUser(browser, server, 'zal', 'Zal');
  const rud = await H.newUser(browser, server, 'rudabe', 'Rudabe');
  assert.equal(await zal.page.locator('#notify-offer').count(), 0, 'not before a send');
  await H.openChatWith(zal.page, 'rudabe');
  await H.send(zal.page, 'hello');
  await zal.page.waitForSelector('#notify-offer');
  await zal.page.click('#notify-later');
  await zal.page.waitForSelector('#notify-offer', { state: 'detached' });
  await zal.page.reload();
  await H.waitOnline(zal.page);
  await zal.page.locator('.conv-item', { hasText: 'Rudabe' }).click();
  await H.send(zal.page, 'again');
  // Once the server has it (the moment the offer came the first time), still no offer.
  await zal.page.locator('.msg[data-own=true]', { hasText: 'again' }).locator('.status:not([data-status=sending])').waitFor();
  assert.equal(await zal.page.locator('#notify-offer').count(), 0, 'not offered again');
  for (const u of [zal, rud]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('a chat opened with many unread messages shows a "New messages" line and starts there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chapar-unread-'));
  try {
    const ana = await H.newUser(browser, server, 'anahita', 'Anahita');
    const page = ana.page;
    const bob = join(dir, 'bob');
    const cyrus = join(dir, 'cyrus');
    await H.cli(server, bob, 'register', 'bobby', '--name', 'Bobby');
    await H.cli(server, cyrus, 'register', 'cyrus', '--name', 'Cyrus');
    for (let i = 1; i <= 3; i++) await H.cli(server, bob, 'send', '@anahita', `old ${i}`);
    await page.locator('.conv-item', { hasText: 'Bobby' }).click();
    await H.waitForText(page, 'old 3');
    // Anahita reads them, then looks at another chat while Bobby writes a lot.
    await H.cli(server, cyrus, 'send', '@anahita', 'hi');
    await page.locator('.conv-item', { hasText: 'Cyrus' }).click();
    await H.waitForText(page, 'hi');
    for (let i = 1; i <= 60; i++) await H.cli(server, bob, 'send', '@anahita', `new ${i}`);
    await page.locator('.conv-item', { hasText: 'Bobby' }).locator('.badge', { hasText: '60' }).waitFor();

    await page.locator('.conv-item', { hasText: 'Bobby' }).click();
    // More than a page: the older page is fetched until the first unread one is there.
    const first = page.locator('.msg').filter({ has: page.locator('.text', { hasText: /^new 1$/ }) });
    await first.locator('#new-messages').waitFor();
    assert.equal(await page.textContent('#new-messages'), 'New messages');
    assert.equal(await page.locator('#new-messages').count(), 1);
    // It starts there: the first new message is on screen, the newest is not (and nothing is
    // marked read yet).
    const inView = (loc) => loc.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const pane = document.getElementById('messages').getBoundingClientRect();
      return box.bottom > pane.top && box.top < pane.bottom;
    });
    assert.ok(await inView(first), 'the first unread message is in view');
    const newest = page.locator('.msg').filter({ has: page.locator('.text', { hasText: /^new 60$/ }) });
    assert.ok(!(await newest.count()) || !(await inView(newest)), 'the newest is below');
    assert.ok(await page.locator('.conv-item', { hasText: 'Bobby' }).locator('.badge').count(), 'still unread');
    // Jumping to the newest reads them all.
    await page.click('#to-bottom');
    await page.locator('.conv-item', { hasText: 'Bobby' }).locator('.badge').waitFor({ state: 'detached' });
    ana.page.assertClean();
    await ana.context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('find people by the start of a name or handle while typing; "who can find me: nobody" hides a person', async () => {
  const seeker = await H.newUser(browser, server, 'seeker', 'Seeker');
  const parvin = await H.newUser(browser, server, 'petesami', 'Parvin Etesami');
  const hidden = await H.newUser(browser, server, 'parham', 'Parham');
  // Parham does not want to be found by name.
  await hidden.page.click('#menu-btn');
  await hidden.page.click('#privacy-btn');
  await hidden.page.waitForSelector('#privacy #privacy-findable:enabled');
  await hidden.page.selectOption('#privacy-findable', 'nobody');
  await hidden.page.click('#privacy-save');
  await hidden.page.locator('#privacy-status', { hasText: 'Saved.' }).waitFor();

  const page = seeker.page;
  await page.click('#new-chat-btn');
  await page.fill('#new-chat-handle', 'Par');
  const found = page.locator('#people-results .person');
  await found.first().waitFor();
  assert.deepEqual(await found.evaluateAll((els) => els.map((e) => e.dataset.handle)), ['petesami']);
  assert.match(await found.first().textContent(), /Parvin Etesami\s*@petesami/);
  // Down, then Enter on the person starts the chat.
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.handle), 'petesami');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#new-chat', { state: 'detached' });
  await page.waitForFunction(() => document.querySelector('#chat-sub bdi')?.textContent === '@petesami');
  await H.send(page, 'found you');
  await parvin.page.locator('.conv-item', { hasText: 'Seeker' }).waitFor();
  // Parham's exact handle still works.
  await H.openChatWith(page, 'parham');

  for (const u of [seeker, parvin, hidden]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('the emoji picker puts the chosen emoji at the cursor; the keyboard works in it', async () => {
  const mehr = await H.newUser(browser, server, 'mehr', 'Mehr');
  const nasim = await H.newUser(browser, server, 'nasim', 'Nasim');
  const page = mehr.page;
  await H.openChatWith(page, 'nasim');
  await page.fill('#composer-input', 'nice  work');
  await page.evaluate(() => document.getElementById('composer-input').setSelectionRange(5, 5));
  await page.click('#emoji-btn');
  await page.locator('#emoji-menu .emoji-pick', { hasText: '🎉' }).click();
  await page.waitForSelector('#emoji-menu', { state: 'detached' });
  assert.equal(await page.inputValue('#composer-input'), 'nice 🎉 work');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
  // By keyboard: the first emoji has the focus, Right moves, Enter picks.
  await page.keyboard.press('End');
  await page.click('#emoji-btn');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), '😀');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  assert.equal(await page.inputValue('#composer-input'), 'nice 🎉 work😂');
  await page.keyboard.press('Enter');
  await nasim.page.locator('.conv-item', { hasText: 'Mehr' }).click();
  await H.waitForText(nasim.page, 'nice 🎉 work😂');
  for (const u of [mehr, nasim]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('the search box finds messages in every chat, in English and Persian, and opens one in place', async () => {
  const maryam = await H.newUser(browser, server, 'maryam', 'Maryam');
  const reza = await H.newUser(browser, server, 'reza', 'Reza');
  await H.openChatWith(reza.page, 'maryam');
  await H.send(reza.page, 'the concert tickets are booked');
  // Typed with Arabic kaf and yeh, as many keyboards do.
  await H.send(reza.page, 'سلام، كتاب رو خوندي؟');
  for (let i = 1; i <= 6; i++) await H.send(reza.page, `filler ${i}`);
  const page = maryam.page;
  await page.locator('.conv-item', { hasText: 'Reza' }).waitFor();

  await page.fill('#conv-search', 'TICK');
  const hit = page.locator('#msg-hits .msg-hit', { hasText: 'the concert tickets are booked' });
  await hit.waitFor();
  assert.match(await hit.textContent(), /Reza/);
  await hit.click();
  // The chat opens with that message focused.
  await page.waitForFunction(() => document.activeElement?.closest('.msg')?.textContent.includes('the concert tickets are booked'));
  assert.equal(await page.textContent('#chat-title'), 'Reza');

  // Persian letters find the Arabic-lettered message.
  await page.fill('#conv-search', 'کتاب');
  await page.locator('#msg-hits .msg-hit', { hasText: 'خوندي' }).waitFor();
  await page.fill('#conv-search', 'zzqq');
  await page.locator('#no-hits').waitFor();
  assert.equal(await page.textContent('#no-hits'), 'No messages found.');
  page.assertClean();
});
