// Safety in the web client: blocking from a direct chat (the blocked person's sends are refused
// and never arrive), a group's messages from someone I block shown collapsed, the privacy panel
// (a group add that my settings refuse becomes an invitation I accept or decline), and reports
// of a message and of a person.

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

/** Opens Menu → Privacy and safety and waits until the settings are loaded. */
async function openPrivacy(page) {
  await page.click('#menu-btn');
  await page.click('#privacy-btn');
  await page.waitForSelector('#privacy #privacy-groups:enabled');
}

async function closeDialog(page, id) {
  await page.keyboard.press('Escape');
  await page.waitForSelector('#' + id, { state: 'detached' });
}

test('blocking: the blocked person\'s send fails with a clear error and never arrives; after unblocking it does', async () => {
  const amir = await H.newUser(browser, server, 'amir', 'Amir');
  const bita = await H.newUser(browser, server, 'bita', 'Bita');
  await H.openChatWith(bita.page, 'amir');
  await H.send(bita.page, 'hello Amir');
  await amir.page.locator('.conv-item', { hasText: 'Bita' }).click();
  await H.waitForText(amir.page, 'hello Amir');

  // Amir blocks Bita from the chat's menu, with the keyboard: the menu button, Down to "Block",
  // Enter, and Enter again on the confirmation (its confirm button has the focus).
  await amir.page.focus('#chat-menu-btn');
  await amir.page.keyboard.press('Enter');
  await amir.page.waitForSelector('#chat-menu');
  assert.equal(await amir.page.evaluate(() => document.activeElement.id), 'act-contact');
  await amir.page.keyboard.press('ArrowDown');
  assert.equal(await amir.page.evaluate(() => document.activeElement.textContent), 'Block @bita');
  await amir.page.keyboard.press('Enter');
  await amir.page.waitForSelector('#confirm');
  assert.match(await amir.page.textContent('#confirm p'), /^Block @bita\?/);
  assert.equal(await amir.page.evaluate(() => document.activeElement.id), 'confirm-yes');
  await amir.page.keyboard.press('Enter');

  // The composer says so, with Unblock in place of the input.
  await amir.page.waitForSelector('#blocked-note:not([hidden])');
  assert.equal(await amir.page.textContent('#blocked-text'), 'You blocked @bita. Unblock them to send messages.');
  assert.ok(await amir.page.isHidden('#composer-input'));
  // The privacy panel lists her.
  await openPrivacy(amir.page);
  await amir.page.locator('#blocked-list li[data-handle=bita]').waitFor();
  await closeDialog(amir.page, 'privacy');

  // Bita's send is refused: her message is marked "Not sent", with the server's reason.
  await H.send(bita.page, 'are you there?');
  const refused = bita.page.locator('.msg[data-status=failed]', { hasText: 'are you there?' });
  await refused.waitFor();
  assert.match(await refused.locator('.fail-note').textContent(), /Not allowed: @amir does not accept messages from you/);
  await bita.page.locator('.toast', { hasText: 'Could not send' }).waitFor();

  // Amir unblocks from the composer; the input is back and has the focus.
  await amir.page.click('#composer-unblock');
  await amir.page.waitForSelector('#blocked-note', { state: 'hidden' });
  await amir.page.waitForFunction(() => document.activeElement?.id === 'composer-input');

  // Bita sends again: only this one arrives (the refused one never does, live or in history).
  await H.send(bita.page, 'second try');
  await H.waitForText(amir.page, 'second try');
  assert.deepEqual(await H.shownTexts(amir.page), ['hello Amir', 'second try']);
  await amir.page.reload();
  await H.waitOnline(amir.page);
  await H.waitForText(amir.page, 'second try');
  assert.deepEqual(await H.shownTexts(amir.page), ['hello Amir', 'second try']);
  // And Amir can write to her again.
  await H.send(amir.page, 'yes, here');
  await H.waitForText(bita.page, 'yes, here');

  amir.page.assertClean();
  bita.page.assertClean();
  await amir.context.close();
  await bita.context.close();
});

test('a block made on my phone shows on my laptop at once, without a reload', async () => {
  const omid = await H.newUser(browser, server, 'omid', 'Omid');
  const pari = await H.newUser(browser, server, 'pari', 'Pari');
  await H.openChatWith(pari.page, 'omid');
  await H.send(pari.page, 'hi Omid');
  const laptop = await H.linkDevice(browser, server, omid.page);
  await laptop.page.locator('.conv-item', { hasText: 'Pari' }).click();
  await H.waitForText(laptop.page, 'hi Omid');

  await omid.page.locator('.conv-item', { hasText: 'Pari' }).click();
  await omid.page.click('#chat-menu-btn');
  await omid.page.locator('#chat-menu button', { hasText: 'Block @pari' }).click();
  await omid.page.click('#confirm-yes');
  await omid.page.waitForSelector('#blocked-note:not([hidden])');
  // The laptop's open chat turns to the blocked note; the unblock there reaches the phone.
  await laptop.page.waitForSelector('#blocked-note:not([hidden])');
  await laptop.page.click('#composer-unblock');
  await omid.page.waitForSelector('#blocked-note', { state: 'hidden' });

  for (const p of [omid.page, pari.page, laptop.page]) p.assertClean();
  for (const c of [omid.context, pari.context, laptop.context]) await c.close();
});

test('groups: messages from someone I block are collapsed, shown on request, and back after unblocking', async () => {
  const kian = await H.newUser(browser, server, 'kian', 'Kian');
  const leyla = await H.newUser(browser, server, 'leyla', 'Leyla');
  const mina = await H.newUser(browser, server, 'mina', 'Mina');
  await H.createGroup(kian.page, 'Garden', '@leyla @mina');
  await H.openConversation(leyla.page, 'Garden');
  await H.openConversation(mina.page, 'Garden');
  await H.send(leyla.page, 'tomatoes are ready');
  await H.waitForText(kian.page, 'tomatoes are ready');

  // Kian blocks Leyla from her message's menu.
  const row = kian.page.locator('.msg', { hasText: 'tomatoes are ready' });
  await row.hover();
  await row.locator('.row-menu').click();
  await kian.page.click('#msg-menu #act-block');
  await kian.page.click('#confirm-yes');
  const collapsed = kian.page.locator('.msg[data-collapsed=true]');
  await collapsed.waitFor();
  assert.equal(await collapsed.locator('.text').textContent(), 'Message from a blocked user');
  assert.equal(await kian.page.locator('.msg .text', { hasText: 'tomatoes' }).count(), 0);

  // A new message from her arrives collapsed too; Mina's does not; the list's preview hides it.
  await H.send(leyla.page, 'and the beans');
  await H.send(mina.page, 'great news');
  await H.waitForText(kian.page, 'great news');
  await kian.page.waitForFunction(() => document.querySelectorAll('.msg[data-collapsed=true]').length === 2);
  await H.send(leyla.page, 'last one from me');
  await kian.page.waitForFunction(() => document.querySelectorAll('.msg[data-collapsed=true]').length === 3);
  await kian.page.locator('.conv-item .ci-preview', { hasText: 'Message from a blocked user' }).waitFor();
  // Mina, who blocks no one, sees everything.
  await H.waitForText(mina.page, 'last one from me');

  // Showing one (click) reveals only that one.
  await collapsed.first().locator('button').click();
  await H.waitForText(kian.page, 'tomatoes are ready');
  assert.equal(await kian.page.locator('.msg[data-collapsed=true]').count(), 2);
  // With the keyboard: focus the collapsed row and press Enter.
  await kian.page.locator('.msg[data-collapsed=true]').first().focus();
  await kian.page.keyboard.press('Enter');
  await H.waitForText(kian.page, 'and the beans');

  // Unblock from Menu → Privacy and safety: everything shows normally.
  await openPrivacy(kian.page);
  await kian.page.locator('#blocked-list li[data-handle=leyla] button').click();
  await kian.page.locator('#blocked-list-empty').waitFor();
  await closeDialog(kian.page, 'privacy');
  await H.waitForText(kian.page, 'last one from me');
  assert.equal(await kian.page.locator('.msg[data-collapsed=true]').count(), 0);
  assert.deepEqual(await H.shownTexts(kian.page), ['tomatoes are ready', 'and the beans', 'great news', 'last one from me']);

  for (const u of [kian, leyla, mina]) {
    u.page.assertClean();
    await u.context.close();
  }
});

test('privacy: with groups set to contacts, an add becomes an invitation; declined it goes, accepted it opens the group', async () => {
  const cyrus = await H.newUser(browser, server, 'cyrus', 'Cyrus');
  const dara = await H.newUser(browser, server, 'dara', 'Dara');

  // Dara: Menu → Privacy and safety → "Who can add me to groups": My contacts, saved.
  await openPrivacy(dara.page);
  for (const id of ['privacy-messages', 'privacy-groups', 'privacy-last-seen']) {
    assert.equal(await dara.page.inputValue('#' + id), 'everybody');
    // Every select has its label.
    assert.ok((await dara.page.textContent(`label[for=${id}]`)).length > 0);
  }
  await dara.page.selectOption('#privacy-groups', 'contacts');
  await dara.page.selectOption('#privacy-last-seen', 'nobody');
  await dara.page.click('#privacy-save');
  await dara.page.locator('#privacy-status', { hasText: 'Saved.' }).waitFor();
  await closeDialog(dara.page, 'privacy');
  // The server kept them.
  await openPrivacy(dara.page);
  assert.equal(await dara.page.inputValue('#privacy-groups'), 'contacts');
  assert.equal(await dara.page.inputValue('#privacy-last-seen'), 'nobody');
  assert.equal(await dara.page.inputValue('#privacy-messages'), 'everybody');
  await closeDialog(dara.page, 'privacy');

  // Cyrus makes two groups with her: she is invited, not added.
  await H.createGroup(cyrus.page, 'Chess', '@dara');
  await cyrus.page.locator('.sys', { hasText: 'You invited Dara' }).waitFor();
  await H.createGroup(cyrus.page, 'Poetry night', '@dara');
  await cyrus.page.locator('.sys', { hasText: 'You invited Dara' }).waitFor();
  const invite = (title) => dara.page.locator('#invitations .invite', { hasText: title });
  await invite('Chess').waitFor();
  await invite('Poetry night').waitFor();
  assert.equal(await invite('Poetry night').locator('.invite-text').textContent(), '@cyrus invites you to “Poetry night”');
  assert.equal(await dara.page.locator('.conv-item').count(), 0, 'no group in her list before she answers');

  // She declines Chess: it goes, and stays gone after a reload (the server's list at start
  // has only Poetry night).
  await invite('Chess').locator('.invite-decline').click();
  await invite('Chess').waitFor({ state: 'detached' });
  await dara.page.reload();
  await H.waitOnline(dara.page);
  await dara.page.waitForFunction(() =>
    [...document.querySelectorAll('#invitations .invite .invite-text')].map((el) => el.textContent).join('|') === '@cyrus invites you to “Poetry night”');

  // She accepts Poetry night (keyboard: its Accept button, Enter): the group opens.
  await invite('Poetry night').locator('.invite-accept').focus();
  await dara.page.keyboard.press('Enter');
  await dara.page.waitForFunction(() => document.getElementById('chat-title')?.textContent === 'Poetry night');
  await invite('Poetry night').waitFor({ state: 'detached' });
  await dara.page.locator('.conv-item', { hasText: 'Poetry night' }).waitFor();
  await cyrus.page.locator('.sys', { hasText: 'Dara joined' }).waitFor();
  await H.send(cyrus.page, 'welcome, Dara');
  await H.waitForText(dara.page, 'welcome, Dara');
  await H.send(dara.page, 'thanks for the invitation');
  await H.waitForText(cyrus.page, 'thanks for the invitation');
  // Chess never joined.
  assert.equal(await dara.page.locator('.conv-item', { hasText: 'Chess' }).count(), 0);

  cyrus.page.assertClean();
  dara.page.assertClean();
  await cyrus.context.close();
  await dara.context.close();
});

test('reports: a message (reason and comment) and a person; each shows its report number', async () => {
  const eli = await H.newUser(browser, server, 'eli', 'Eli');
  const farah = await H.newUser(browser, server, 'farah', 'Farah');
  await H.openChatWith(eli.page, 'farah');
  await H.send(eli.page, 'buy cheap followers now');
  await farah.page.locator('.conv-item', { hasText: 'Eli' }).click();
  await H.waitForText(farah.page, 'buy cheap followers now');

  // Her own messages have no "Report" (the server refuses reporting oneself).
  await H.send(farah.page, 'who is this?');
  await H.waitForText(farah.page, 'who is this?');
  const own = farah.page.locator('.msg[data-own=true]', { hasText: 'who is this?' });
  await farah.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  await own.hover();
  await own.locator('.row-menu').click();
  await farah.page.waitForSelector('#msg-menu');
  assert.equal(await farah.page.locator('#msg-menu #act-report').count(), 0);
  await farah.page.keyboard.press('Escape');
  await farah.page.waitForSelector('#msg-menu', { state: 'detached' });

  // Report Eli's message: the dialog shows it, a reason must be chosen.
  const row = farah.page.locator('.msg', { hasText: 'buy cheap followers now' });
  await row.hover();
  await row.locator('.row-menu').click();
  await farah.page.click('#msg-menu #act-report');
  await farah.page.waitForSelector('#report');
  assert.match(await farah.page.textContent('#report .report-subject'), /Message from Eli:\s*buy cheap followers now/);
  await farah.page.click('#report-form-submit');
  assert.ok(await farah.page.isVisible('#report'), 'no reason chosen: the form stays');
  await farah.page.getByLabel('Spam').check();
  await farah.page.fill('#report-comment', 'sent to everyone I know');
  await farah.page.click('#report-form-submit');
  const done = farah.page.locator('#report-done');
  await done.waitFor();
  const first = (await done.textContent()).match(/^Thank you\. Your report #(\d+) was sent to the operators of this server\.$/);
  assert.ok(first, await done.textContent());
  await farah.page.click('#report-done-ok');
  await farah.page.waitForSelector('#report-sent', { state: 'detached' });

  // Report Eli himself from the chat's menu.
  await farah.page.click('#chat-menu-btn');
  await farah.page.click('#chat-menu #act-report-user');
  await farah.page.waitForSelector('#report');
  assert.match(await farah.page.textContent('#report .report-subject'), /Reporting Eli \(@eli\)/);
  await farah.page.getByLabel('Pretending to be someone else').check();
  await farah.page.click('#report-form-submit');
  await done.waitFor();
  const second = (await done.textContent()).match(/#(\d+)/);
  assert.ok(second && second[1] !== first[1], 'a new report number');
  await farah.page.keyboard.press('Escape');

  eli.page.assertClean();
  farah.page.assertClean();
  await eli.context.close();
  await farah.context.close();
});

test('Persian: the privacy panel and the chat menu are translated and right-to-left', async () => {
  const gol = await H.newUser(browser, server, 'gol', 'گل', { lang: 'fa' });
  const hadi = await H.newUser(browser, server, 'hadi', 'Hadi');
  await H.openChatWith(gol.page, 'hadi');
  assert.equal(await gol.page.evaluate(() => document.documentElement.dir), 'rtl');
  await gol.page.click('#chat-menu-btn');
  assert.equal(await gol.page.textContent('#chat-menu #act-block'), 'مسدود کردن @hadi');
  assert.equal(await gol.page.textContent('#chat-menu #act-report-user'), 'گزارش @hadi');
  await gol.page.keyboard.press('Escape');
  await openPrivacy(gol.page);
  assert.equal(await gol.page.textContent('label[for=privacy-groups]'), 'چه کسی می‌تواند مرا به گروه‌ها بیفزاید');
  assert.deepEqual(await gol.page.$$eval('#privacy-groups option', (os) => os.map((o) => o.textContent)), ['همه', 'مخاطبان من', 'هیچ‌کس']);
  assert.equal(await gol.page.textContent('#blocked-list-empty'), 'کسی را مسدود نکرده‌اید.');
  await closeDialog(gol.page, 'privacy');

  gol.page.assertClean();
  hadi.page.assertClean();
  await gol.context.close();
  await hadi.context.close();
});
