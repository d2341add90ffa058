// The terminal client and the browser in one group: both see the same history in the same
// order, including what the browser had to page in by scrolling up (history with `before`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as H from './helpers.mjs';

let server;
let browser;
let profiles;
before(async () => {
  server = await H.startServer();
  browser = await H.launch();
  profiles = mkdtempSync(join(tmpdir(), 'chapar-cli-'));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (profiles) rmSync(profiles, { recursive: true, force: true });
});

/** Every text row of the open conversation, scrolling through the virtual list. */
async function allRows(page) {
  // Scroll to the top until the start of the conversation is loaded and shown.
  for (let i = 0; i < 50; i++) {
    await page.$eval('#messages', (el) => {
      el.scrollTop = 0;
    });
    if (await page.locator('.start-row').count()) break;
    await page.waitForTimeout(150);
  }
  assert.equal(await page.locator('.start-row').count(), 1, 'the start of the conversation is shown');
  const rows = new Map();
  for (let i = 0; i < 200; i++) {
    const seen = await page.$$eval('.msg', (els) => els.map((el) => [Number(el.dataset.seq), el.querySelector('.text').textContent]));
    for (const [seq, text] of seen) rows.set(seq, text);
    const done = await page.$eval('#messages', (el) => {
      const end = el.scrollTop + el.clientHeight >= el.scrollHeight - 2;
      el.scrollTop += el.clientHeight * 0.8;
      return end;
    });
    if (done) break;
    await page.waitForTimeout(30);
  }
  return [...rows.entries()].sort((a, b) => a[0] - b[0]);
}

test('a CLI user and a browser user in one group see the same history in the same order', async () => {
  const mina = await H.newUser(browser, server, 'mina', 'Mina');
  const cyrus = join(profiles, 'cyrus');
  await H.cli(server, cyrus, 'register', 'cyrus', '--name', 'Cyrus');
  const created = H.jsonLines(await H.cli(server, cyrus, '--json', 'group', 'create', 'Terminal friends', '@mina'));
  const conv = String(created[0].conversation);
  assert.match(conv, /^\d+$/);

  await H.openConversation(mina.page, 'Terminal friends');
  // Interleave: the CLI sends many (more than the first page the browser loads), the browser a few.
  for (let i = 1; i <= 60; i++) {
    await H.cli(server, cyrus, 'send', conv, `cli ${i}`);
    if (i % 15 === 0) {
      await H.send(mina.page, `web ${i / 15}`);
      await mina.page.waitForFunction(() => !document.querySelector('.msg.pending'));
    }
  }
  await H.waitForText(mina.page, 'cli 60');
  await H.send(mina.page, 'سلام از مرورگر');
  await mina.page.waitForFunction(() => !document.querySelector('.msg.pending'));

  const fromCli = H.jsonLines(await H.cli(server, cyrus, '--json', 'history', conv, '--limit', '500'))
    .filter((m) => m.type === 'message' && m.kind === 'text')
    .map((m) => [m.seq, m.text]);
  assert.equal(fromCli.length, 65);
  assert.deepEqual(fromCli.at(-1)[1], 'سلام از مرورگر');

  // A fresh load of the page (history only, nothing live) shows the same.
  await mina.page.reload();
  await H.waitOnline(mina.page);
  await H.waitForText(mina.page, 'سلام از مرورگر');
  const fromBrowser = await allRows(mina.page);
  assert.deepEqual(fromBrowser, fromCli);

  mina.page.assertClean();
  await mina.context.close();
});
