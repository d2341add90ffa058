// A dropped connection: the page shows it, queues what is sent meanwhile, and when the
// connection returns sends each queued message once (by client_id), then resyncs what it missed.

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

const count = (page, text) =>
  page.$$eval('.msg .text', (els, t) => els.filter((el) => el.textContent === t).length, text);

test('offline, two sends, back online: each is delivered exactly once', async () => {
  const sara = await H.newUser(browser, server, 'sara', 'Sara');
  const bob = await H.newUser(browser, server, 'bob', 'Bob');
  await H.openChatWith(sara.page, 'bob');
  await H.send(sara.page, 'before');
  await bob.page.locator('.conv-item', { hasText: 'Sara' }).click();
  await H.waitForText(bob.page, 'before');

  await sara.context.setOffline(true);
  await sara.page.waitForFunction(() => document.body.dataset.conn === 'offline');
  assert.equal(await sara.page.isVisible('#conn-status'), true);

  await H.send(sara.page, 'offline one');
  await H.send(sara.page, 'offline two');
  // Shown at once, marked as waiting; counted in the status line.
  await sara.page.waitForSelector('.msg.pending[data-status=sending] >> text=offline two');
  assert.equal(await sara.page.textContent('#conn-status'), 'Offline. Waiting for the network… · 2 waiting to send');
  // Meanwhile Bob writes; Sara gets it after the resync.
  await H.send(bob.page, 'while sara is offline');
  await bob.page.waitForTimeout(700);
  assert.equal(await count(bob.page, 'offline one'), 0, 'nothing left while offline');

  await sara.context.setOffline(false);
  await H.waitOnline(sara.page);
  await H.waitForText(bob.page, 'offline two');
  await H.waitForText(sara.page, 'while sara is offline');
  await sara.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  await bob.page.waitForTimeout(500);

  const expected = ['before', 'offline one', 'offline two', 'while sara is offline'];
  for (const page of [sara.page, bob.page]) {
    for (const text of expected.slice(1, 3)) assert.equal(await count(page, text), 1, text);
  }
  // Order: Sara's two queued messages went out in the order she wrote them.
  const bobSees = await H.shownTexts(bob.page);
  assert.ok(bobSees.indexOf('offline one') < bobSees.indexOf('offline two'), bobSees.join(' | '));
  assert.equal(await sara.page.evaluate(() => localStorage.getItem('chapar.outbox')), null);

  // After a reload (history only) still once each, on both sides.
  for (const page of [sara.page, bob.page]) {
    await page.reload();
    await H.waitOnline(page);
    await H.waitForText(page, 'offline two');
    for (const text of expected) assert.equal(await count(page, text), 1, text);
  }

  sara.page.assertClean();
  bob.page.assertClean();
  await sara.context.close();
  await bob.context.close();
});

test('a send whose reply was lost is retried with its client_id and stored once', async () => {
  const ava = await H.newUser(browser, server, 'ava', 'Ava');
  const dan = await H.newUser(browser, server, 'dan', 'Dan');
  await H.openChatWith(ava.page, 'dan');
  await H.send(ava.page, 'hello');
  await dan.page.locator('.conv-item', { hasText: 'Ava' }).click();
  await H.waitForText(dan.page, 'hello');

  // The request leaves, then the connection dies before the reply can arrive: the outcome is
  // unknown to the page, so the message stays queued and is sent again after reconnecting.
  await ava.page.evaluate(() => {
    const { client } = window.chapar;
    window.sentReplies = [];
    client.addEventListener('sent', (e) => window.sentReplies.push(e.detail.result.sent));
    const conn = client.conn;
    const send = conn.ws.send.bind(conn.ws);
    conn.ws.send = (data) => {
      send(data);
      if (data.includes('"method":"send"')) conn.kill('test: reply lost');
    };
  });
  await H.send(ava.page, 'sent twice, stored once');
  await H.waitOnline(ava.page);
  await H.waitForText(dan.page, 'sent twice, stored once');
  await ava.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  await ava.page.waitForFunction(() => localStorage.getItem('chapar.outbox') === null);
  // The only reply the page saw is the server's answer to the retry: the first result again.
  assert.deepEqual(await ava.page.evaluate(() => window.sentReplies.map((s) => s.duplicate)), [true]);
  await dan.page.waitForTimeout(500);
  assert.equal(await count(dan.page, 'sent twice, stored once'), 1);
  assert.equal(await count(ava.page, 'sent twice, stored once'), 1);
  await dan.page.reload();
  await H.waitOnline(dan.page);
  await H.waitForText(dan.page, 'sent twice, stored once');
  assert.equal(await count(dan.page, 'sent twice, stored once'), 1);

  ava.page.assertClean();
  dan.page.assertClean();
  await ava.context.close();
  await dan.context.close();
});

test('the queue survives a reload while offline', async () => {
  const eli = await H.newUser(browser, server, 'eli', 'Eli');
  const fay = await H.newUser(browser, server, 'fay', 'Fay');
  await H.openChatWith(eli.page, 'fay');
  await H.send(eli.page, 'first');
  await eli.page.waitForFunction(() => !document.querySelector('.msg.pending'));

  await eli.context.setOffline(true);
  await eli.page.waitForFunction(() => document.body.dataset.conn === 'offline');
  await H.send(eli.page, 'queued across a reload');
  await eli.page.waitForSelector('.msg.pending');
  await eli.context.setOffline(false);
  // Reload at once: the outbox is in localStorage; the page sends it on its next connection.
  await eli.page.reload();
  await H.waitOnline(eli.page);
  await fay.page.locator('.conv-item', { hasText: 'Eli' }).click();
  await H.waitForText(fay.page, 'queued across a reload');
  await fay.page.waitForTimeout(500);
  assert.equal(await count(fay.page, 'queued across a reload'), 1);

  eli.page.assertClean();
  fay.page.assertClean();
  await eli.context.close();
  await fay.context.close();
});

test('the server goes away and comes back: reconnecting is shown, then everything resumes', async () => {
  const gil = await H.newUser(browser, server, 'gil', 'Gil');
  const hana = await H.newUser(browser, server, 'hana', 'Hana');
  await H.openChatWith(gil.page, 'hana');
  await H.send(gil.page, 'before the restart');
  await hana.page.locator('.conv-item', { hasText: 'Gil' }).click();
  await H.waitForText(hana.page, 'before the restart');

  await server.down();
  for (const u of [gil, hana]) {
    await u.page.waitForFunction(() => ['reconnecting', 'connecting'].includes(document.body.dataset.conn));
    assert.ok(await u.page.isVisible('#conn-status'));
  }
  assert.match(await gil.page.textContent('#conn-status'), /^(Connecting…|Connection lost\. Reconnecting)[^]*$/);
  assert.doesNotMatch(await gil.page.textContent('#conn-status'), /null/);
  await H.send(gil.page, 'written while the server was down');
  await gil.page.waitForSelector('.msg.pending');

  await server.start();
  // Backoff is capped; the page also retries at once when asked ("Retry now").
  for (const u of [gil, hana]) await H.waitOnline(u.page);
  await H.waitForText(hana.page, 'written while the server was down');
  await H.send(hana.page, 'and after it');
  await H.waitForText(gil.page, 'and after it');
  assert.equal(await count(hana.page, 'written while the server was down'), 1);
  assert.equal(await count(gil.page, 'written while the server was down'), 1);

  // A restart is not an error worth a console message.
  for (const u of [gil, hana]) {
    u.page.problems.splice(0, u.page.problems.length, ...u.page.problems.filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(p)));
    u.page.assertClean();
    await u.context.close();
  }
});
