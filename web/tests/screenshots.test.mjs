// Screenshots of the main screens (desktop and phone, English and Persian), saved as test
// artifacts under target/web-screenshots (or $E2E_SCREENSHOTS; docs/screenshots holds the
// copies the README shows). Asserts what each screen must show, so a broken screen fails here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as H from './helpers.mjs';

let server;
let browser;
const shots = process.env.E2E_SCREENSHOTS || join(H.REPO, 'target/web-screenshots');
process.env.E2E_SCREENSHOTS = shots;

before(async () => {
  server = await H.startServer();
  browser = await H.launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function shot(page, name) {
  await page.mouse.move(1, 1); // no hover effects in the picture
  await page.waitForTimeout(300); // let the last frame settle
  const { mkdirSync } = await import('node:fs');
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name + '.png') });
}

async function menuReply(page, text, reply) {
  const row = page.locator('.msg', { hasText: text }).first();
  await row.hover();
  await row.locator('.row-menu').click();
  await page.click('#act-reply');
  await H.send(page, reply);
}

async function react(page, text, nth) {
  const row = page.locator('.msg', { hasText: text }).first();
  await row.hover();
  await row.locator('.row-menu').click();
  await page.click(`#msg-menu .react-btn >> nth=${nth}`);
}

test('screenshots of the main screens, English and Persian, desktop and phone', async () => {
  // The sign-up screens first.
  const signupEn = await H.openPage(browser, server);
  await shot(signupEn.page, 'signup-en');
  const signupFa = await H.openPage(browser, server, { lang: 'fa', viewport: H.PHONE });
  assert.equal(await signupFa.page.getAttribute('html', 'dir'), 'rtl');
  await shot(signupFa.page, 'signup-fa-phone');
  await signupFa.context.close();

  await H.signUp(signupEn.page, 'sara', 'Sara Ahmadi');
  const sara = signupEn;
  const bob = await H.newUser(browser, server, 'bob', 'Bob Smith', { viewport: H.PHONE });
  const dariush = await H.newUser(browser, server, 'dariush', 'داریوش', { lang: 'fa' });

  // Sara and Dariush, in Persian.
  await H.openChatWith(sara.page, 'dariush');
  await H.send(sara.page, 'سلام داریوش! کتاب رو تموم کردی؟');
  await dariush.page.locator('.conv-item').first().click();
  await H.send(dariush.page, 'آره، دیشب تمومش کردم. فصل آخرش عالی بود 👌');
  await H.send(sara.page, 'پس شنبه می‌بینمت 🌷');
  await H.send(dariush.page, 'حتماً! ساعت ۶ خوبه؟');
  await H.send(sara.page, 'See you Saturday!');

  // Sara and Bob, directly.
  await H.openChatWith(sara.page, 'bob');
  await H.send(sara.page, 'Did you get the tickets?');
  await bob.page.locator('.conv-item', { hasText: 'Sara' }).click();
  await H.send(bob.page, 'Yes, two for Saturday.');
  await bob.page.click('#back-btn');

  // The group.
  await H.createGroup(sara.page, 'Book club', '@bob @dariush');
  await H.send(sara.page, 'Has everyone finished chapter 3?');
  await bob.page.locator('.conv-item', { hasText: 'Book club' }).click();
  await H.send(bob.page, 'Almost! The ending surprised me 😮');
  await dariush.page.locator('.conv-item', { hasText: 'Book club' }).click();
  await H.send(dariush.page, 'سلام به همه! من تمومش کردم.');
  await H.waitForText(sara.page, 'سلام به همه! من تمومش کردم.');
  await menuReply(sara.page, 'The ending surprised me', 'No spoilers please 🙂');
  await H.send(bob.page, 'OK, OK. Is Saturday at 6 still good for everyone?');
  await H.waitForText(sara.page, 'OK, OK. Is Saturday at 6 still good for everyone?');
  await H.waitForText(dariush.page, 'OK, OK. Is Saturday at 6 still good for everyone?');
  await react(sara.page, 'Saturday at 6', 0);
  await react(dariush.page, 'Saturday at 6', 0);
  await H.send(dariush.page, 'شنبه برای من خوبه 👍');
  await H.send(sara.page, 'Great, see you all then!');
  await H.waitForText(bob.page, 'Great, see you all then!');
  await H.waitForText(dariush.page, 'Great, see you all then!');
  await sara.page.waitForSelector('.msg[data-own=true][data-status=read] >> text=Great, see you all then!');
  await sara.page.locator('.chip', { hasText: '2' }).waitFor();

  // Bob starts typing: Sara sees it in the header.
  await bob.page.type('#composer-input', 'I will bring', { delay: 10 });
  await sara.page.waitForFunction(() => document.getElementById('chat-sub').classList.contains('typing'));
  await shot(sara.page, 'desktop-en');

  await bob.page.fill('#composer-input', '');
  await shot(bob.page, 'phone-en');

  // Dariush, Persian interface: the group, then the direct chat; the list on a phone.
  await dariush.page.waitForSelector('.chip');
  await shot(dariush.page, 'desktop-fa-group');
  await dariush.page.locator('.conv-item', { hasText: 'Sara' }).click();
  await H.waitForText(dariush.page, 'See you Saturday!');
  await shot(dariush.page, 'desktop-fa');
  await dariush.page.setViewportSize(H.PHONE);
  await shot(dariush.page, 'phone-fa');
  await dariush.page.click('#back-btn');
  await dariush.page.waitForSelector('.sidebar', { state: 'visible' });
  await shot(dariush.page, 'phone-fa-list');
  assert.equal(await dariush.page.getAttribute('html', 'dir'), 'rtl');

  for (const u of [sara, bob, dariush]) {
    u.page.assertClean();
    await u.context.close();
  }
});
