// Persian: a Persian message renders right to left in any interface language (dir="auto" per
// message), and the Persian interface mirrors the whole layout (dir="rtl" on <html>).

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

const PERSIAN = 'سلام! فردا ساعت ۸ همدیگر را ببینیم؟';
const ENGLISH = 'See you at 8 tomorrow';

/** Direction and text alignment of the message row holding `text`. */
function layoutOf(page, text) {
  return page.evaluate((t) => {
    const el = [...document.querySelectorAll('.msg .text')].find((e) => e.textContent === t);
    const bubble = el.closest('.bubble').getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(el);
    const ink = range.getBoundingClientRect();
    // Where the first character (in logical order) was drawn: the right end of rtl text.
    const first = document.createRange();
    first.setStart(el.firstChild, 0);
    first.setEnd(el.firstChild, 1);
    const head = first.getBoundingClientRect();
    return {
      firstAtRight: ink.right - head.right < head.left - ink.left,
      dir: el.getAttribute('dir'),
      direction: getComputedStyle(el).direction,
      // Distance from the text to the bubble's left and right edges.
      left: ink.left - bubble.left,
      right: bubble.right - ink.right,
      bubbleLeft: bubble.left,
      bubbleRight: bubble.right,
      own: el.closest('.msg').dataset.own === 'true',
    };
  }, text);
}

test('a Persian message renders right to left, in the English and in the Persian interface', async () => {
  const en = await H.newUser(browser, server, 'emma', 'Emma');
  const fa = await H.newUser(browser, server, 'farhad', 'فرهاد', { lang: 'fa' });
  await H.openChatWith(en.page, 'farhad');
  await H.send(en.page, ENGLISH);
  await fa.page.locator('.conv-item').first().click();
  await H.waitForText(fa.page, ENGLISH);
  await H.send(fa.page, PERSIAN);
  await H.waitForText(en.page, PERSIAN);

  for (const page of [en.page, fa.page]) {
    const p = await layoutOf(page, PERSIAN);
    assert.equal(p.dir, 'auto');
    assert.equal(p.direction, 'rtl', 'Persian text resolves to rtl');
    assert.ok(p.firstAtRight, `Persian text starts at the right: ${JSON.stringify(p)}`);
    const e = await layoutOf(page, ENGLISH);
    assert.equal(e.direction, 'ltr', 'English text stays ltr in any interface');
    assert.ok(!e.firstAtRight, `English text starts at the left: ${JSON.stringify(e)}`);
  }
  // The list preview of a Persian message is rtl too.
  const preview = en.page.locator('.conv-item .ci-preview');
  assert.equal(await preview.evaluate((el) => getComputedStyle(el).direction), 'rtl');

  en.page.assertClean();
  fa.page.assertClean();
  await en.context.close();
  await fa.context.close();
});

test('the Persian interface mirrors the layout', async () => {
  // A browser whose language is Persian gets the Persian interface without asking.
  const { context, page } = await H.openPage(browser, server, { lang: 'fa' });
  assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
  assert.equal(await page.getAttribute('html', 'lang'), 'fa');
  assert.equal((await page.textContent('#signup-submit')).trim(), 'ثبت‌نام');
  // Form labels sit on the right.
  const label = await page.locator('label[for=signup-name]').evaluate((el) => {
    const r = document.createRange();
    r.selectNodeContents(el);
    const ink = r.getBoundingClientRect();
    const card = el.closest('.auth-card').getBoundingClientRect();
    return { left: ink.left - card.left, right: card.right - ink.right };
  });
  assert.ok(label.right < label.left, `label text on the right: ${JSON.stringify(label)}`);
  await H.signUp(page, 'parisa', 'پریسا');
  const peer = await H.newUser(browser, server, 'kian', 'Kian');

  await H.openChatWith(page, 'kian');
  await H.send(page, 'سلام کیان');
  await peer.page.locator('.conv-item').first().click();
  await H.send(peer.page, 'hi Parisa');
  await H.waitForText(page, 'hi Parisa');

  const box = async (p, sel) => p.locator(sel).first().boundingBox();
  // Persian: the conversation list is on the right, the conversation on the left...
  const side = await box(page, '.sidebar');
  const chat = await box(page, '.chat');
  assert.ok(side.x > chat.x, `sidebar right of chat: ${side.x} > ${chat.x}`);
  // ...own messages on the left, the other person's on the right, the send button on the left.
  const own = await layoutOf(page, 'سلام کیان');
  const theirs = await layoutOf(page, 'hi Parisa');
  assert.ok(own.own && !theirs.own);
  assert.ok(own.bubbleLeft < theirs.bubbleLeft, 'own bubble on the left in rtl');
  const send = await box(page, '#send-btn');
  const input = await box(page, '#composer-input');
  assert.ok(send.x < input.x, 'send button on the left in rtl');
  assert.equal(await page.textContent('#chat-sub bdi'), '@kian');

  // My own long English message: its list preview starts with its beginning ("شما:" isolated
  // before it), not with its end.
  const long = 'Check the list preview truncation of a long English message written in the Persian interface';
  await H.send(page, long);
  // Measured in one go in the page: the list re-renders as marks and receipts arrive.
  const start = await (await page.waitForFunction(() => {
    const el = [...document.querySelectorAll('.conv-item .ci-preview')].find((e) => e.textContent.includes('Check the list'));
    const text = el && [...el.childNodes].find((n) => n.nodeType === Node.TEXT_NODE);
    if (!text) return null;
    const r = document.createRange();
    r.setStart(text, 0);
    r.setEnd(text, 5);
    const first = r.getBoundingClientRect();
    const box = el.getBoundingClientRect();
    return {
      direction: getComputedStyle(el).direction,
      visible: first.left >= box.left - 1 && first.right <= box.right + 1,
      overflows: el.scrollWidth > el.clientWidth,
    };
  })).jsonValue();
  assert.deepEqual(start, { direction: 'ltr', visible: true, overflows: true }, 'the start of the text is what shows');

  // English: the same screen mirrored back.
  const side2 = await box(peer.page, '.sidebar');
  const chat2 = await box(peer.page, '.chat');
  assert.ok(side2.x < chat2.x);
  const own2 = await layoutOf(peer.page, 'hi Parisa');
  const theirs2 = await layoutOf(peer.page, 'سلام کیان');
  assert.ok(own2.bubbleLeft > theirs2.bubbleLeft, 'own bubble on the right in ltr');

  // Switching the language in the menu re-renders in place (and is remembered).
  await page.click('#menu-btn');
  await page.selectOption('#lang-select', 'en');
  await page.waitForFunction(() => document.documentElement.dir === 'ltr');
  assert.equal(await page.getAttribute('#menu-btn', 'aria-label'), 'Menu');
  await H.waitForText(page, 'hi Parisa');
  await page.reload();
  await H.waitOnline(page);
  assert.equal(await page.getAttribute('html', 'dir'), 'ltr');

  page.assertClean();
  peer.page.assertClean();
  await context.close();
  await peer.context.close();
});
