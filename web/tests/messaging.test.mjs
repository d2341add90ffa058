// Two people in two browser contexts: real-time messages both ways, typing, receipts, reply,
// edit, delete, react; groups (create, add, remove, rename, leave). Keyboard only where a person
// would use the keyboard.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

/** 'rgb(r, g, b)' or 'rgba(...)' as numbers. */
function rgb(css) {
  return css.match(/[\d.]+/g).slice(0, 3).map(Number);
}

/** The WCAG contrast ratio of two CSS colours. */
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = rgb(css).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

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

test('two users sign up and talk in real time, both directions', async () => {
  const sara = await H.newUser(browser, server, 'sara', 'Sara');
  const bob = await H.newUser(browser, server, 'bob', 'Bob');

  await H.openChatWith(sara.page, '@bob');
  await H.send(sara.page, 'salam Bob!');
  await H.waitForText(sara.page, 'salam Bob!');

  // Bob's list shows the new conversation with an unread count, then he opens it.
  const item = bob.page.locator('.conv-item', { hasText: 'Sara' });
  await item.waitFor();
  assert.equal(await item.getAttribute('data-unread'), '1');
  assert.match(await item.locator('.ci-preview').textContent(), /salam Bob!/);
  await item.click();
  await H.waitForText(bob.page, 'salam Bob!');

  // Sara sees "read" on her message once Bob has it on screen.
  await sara.page.waitForSelector('.msg[data-own=true][data-status=read]');

  // Bob types: Sara sees the typing indicator, then the message.
  await bob.page.type('#composer-input', 'hello Sara', { delay: 20 });
  await sara.page.waitForFunction(() => document.getElementById('chat-sub').classList.contains('typing'));
  await bob.page.press('#composer-input', 'Enter');
  await H.waitForText(sara.page, 'hello Sara');
  assert.deepEqual(await H.shownTexts(sara.page), ['salam Bob!', 'hello Sara']);
  assert.deepEqual(await H.shownTexts(bob.page), ['salam Bob!', 'hello Sara']);

  // A burst from both sides arrives complete and in the same order for both.
  for (let i = 1; i <= 5; i++) {
    await H.send(sara.page, `s${i}`);
    await H.send(bob.page, `b${i}`);
  }
  await H.waitForText(sara.page, 'b5');
  await H.waitForText(bob.page, 's5');
  await sara.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  await bob.page.waitForFunction(() => document.querySelectorAll('.msg').length === 12);
  const a = await H.shownTexts(sara.page);
  const b = await H.shownTexts(bob.page);
  assert.equal(a.length, 12);
  assert.deepEqual(a, b);

  sara.page.assertClean();
  bob.page.assertClean();
  await sara.context.close();
  await bob.context.close();
});

test('reply, edit, delete and react, seen live by the other side', async () => {
  const ana = await H.newUser(browser, server, 'ana', 'Ana');
  const ben = await H.newUser(browser, server, 'ben', 'Ben');
  await H.openChatWith(ana.page, 'ben');
  await H.send(ana.page, 'first message');
  await H.send(ana.page, 'typo mesage');
  await ben.page.locator('.conv-item', { hasText: 'Ana' }).click();
  await H.waitForText(ben.page, 'typo mesage');

  // Ben replies to the first message from the keyboard: focus it, open its menu, Reply.
  await ben.page.focus('#composer-input');
  await ben.page.keyboard.press('ArrowUp'); // no own messages: moves into the list
  await ben.page.keyboard.press('ArrowUp');
  assert.equal(await ben.page.evaluate(() => document.activeElement.querySelector('.text')?.textContent), 'first message');
  await ben.page.keyboard.press('Enter');
  await ben.page.waitForSelector('#msg-menu');
  await ben.page.click('#act-reply');
  await ben.page.waitForSelector('#context-bar:not([hidden])');
  await ben.page.keyboard.type('this is the reply');
  await ben.page.keyboard.press('Enter');
  const quote = ana.page.locator('.msg', { hasText: 'this is the reply' }).locator('.quote');
  await quote.waitFor();
  assert.match(await quote.textContent(), /first message/);

  // Ana edits her last message with the Up arrow in the empty composer.
  await ana.page.focus('#composer-input');
  await ana.page.keyboard.press('ArrowUp');
  assert.equal(await ana.page.inputValue('#composer-input'), 'typo mesage');
  await ana.page.fill('#composer-input', 'typo message');
  await ana.page.keyboard.press('Enter');
  await H.waitForText(ben.page, 'typo message');
  await ben.page.locator('.msg', { hasText: 'typo message' }).locator('.edited').waitFor();

  // Ben reacts; Ana sees the count; Ben takes it back.
  const row = ben.page.locator('.msg', { hasText: 'typo message' });
  await row.hover();
  await row.locator('.row-menu').click();
  // Every quick reaction is drawn in colour (a colour emoji font comes before the text fonts,
  // some of which have black-and-white emoji).
  const colourless = await ben.page.evaluate(async () => {
    const out = [];
    for (const btn of document.querySelectorAll('#msg-menu .react-btn')) {
      const style = getComputedStyle(btn);
      const font = `${style.fontSize} ${style.fontFamily}`;
      await document.fonts.load(font, btn.textContent);
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 64;
      const ctx = canvas.getContext('2d');
      ctx.font = font.replace(/^[^ ]+/, '40px');
      ctx.textBaseline = 'top';
      ctx.fillText(btn.textContent, 4, 4);
      const px = ctx.getImageData(0, 0, 64, 64).data;
      let coloured = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 128 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60) coloured++;
      }
      if (coloured < 20) out.push(btn.textContent);
    }
    return out;
  });
  assert.deepEqual(colourless, [], 'quick reactions drawn without colour');
  await ben.page.click('#msg-menu .react-btn >> nth=0');
  const chip = ana.page.locator('.msg', { hasText: 'typo message' }).locator('.chip');
  await chip.waitFor();
  assert.match(await chip.textContent(), /👍\s*1/);
  // WCAG AA: the chip's text against its background (4.5:1), its edge against the bubble (3:1),
  // on Ana's own bubble and, as Ben's own reaction, on hers in Ben's view.
  for (const [page, sel] of [[ana.page, '.chip'], [ben.page, '.chip.mine']]) {
    const c = await page.locator('.msg', { hasText: 'typo message' }).locator(sel).evaluate((el) => {
      const s = getComputedStyle(el);
      return { fg: s.color, bg: s.backgroundColor, edge: s.borderTopColor, bubble: getComputedStyle(el.closest('.bubble')).backgroundColor };
    });
    assert.ok(contrast(c.fg, c.bg) >= 4.5, `chip text ${JSON.stringify(c)}: ${contrast(c.fg, c.bg)}`);
    assert.ok(contrast(c.edge, c.bubble) >= 3, `chip edge ${JSON.stringify(c)}: ${contrast(c.edge, c.bubble)}`);
  }
  // Read ticks are blue, delivered ones grey, and both stand out from the bubble (probes in
  // Ana's own bubble, so the test does not wait on when Ben's browser marks it read).
  const ticks = await ana.page.locator('.msg', { hasText: 'typo message' }).locator('.meta').evaluate((meta) => {
    const colour = (status) => {
      const probe = document.createElement('span');
      probe.className = 'status';
      probe.dataset.status = status;
      meta.append(probe);
      const c = getComputedStyle(probe).color;
      probe.remove();
      return c;
    };
    return { read: colour('read'), delivered: colour('delivered'), bubble: getComputedStyle(meta.closest('.bubble')).backgroundColor };
  });
  const [r, g, b] = rgb(ticks.read);
  assert.ok(b > r + 80 && b > g + 20, `read ticks blue: ${ticks.read}`);
  const [dr, dg, db] = rgb(ticks.delivered);
  assert.ok(Math.max(dr, dg, db) - Math.min(dr, dg, db) < 40, `delivered ticks grey: ${ticks.delivered}`);
  assert.ok(contrast(ticks.read, ticks.bubble) >= 3 && contrast(ticks.delivered, ticks.bubble) >= 3, JSON.stringify(ticks));
  await ben.page.locator('.msg', { hasText: 'typo message' }).locator('.chip.mine').click();
  await chip.waitFor({ state: 'detached' });

  // Ana deletes her first message for everyone.
  const first = ana.page.locator('.msg', { hasText: 'first message' }).first();
  await first.hover();
  await first.locator('.row-menu').click();
  await ana.page.click('#act-delete');
  await ana.page.click('#confirm-yes');
  await ben.page.waitForFunction(() => [...document.querySelectorAll('.msg .text.deleted')].length === 1);
  // The quote in Ben's reply now shows the deletion too.
  assert.equal(await ben.page.locator('.msg .text', { hasText: 'first message' }).count(), 0);

  ana.page.assertClean();
  ben.page.assertClean();
  await ana.context.close();
  await ben.context.close();
});

test('groups: create, add and remove members, rename, leave', async () => {
  const owner = await H.newUser(browser, server, 'olga', 'Olga');
  const pat = await H.newUser(browser, server, 'pat', 'Pat');
  const quinn = await H.newUser(browser, server, 'quinn', 'Quinn');

  await H.createGroup(owner.page, 'Hiking', '@pat');
  await H.send(owner.page, 'Saturday at 8?');

  await H.openConversation(pat.page, 'Hiking');
  await H.waitForText(pat.page, 'Saturday at 8?');
  // Pat keeps the group's info open while Olga changes the group.
  await pat.page.click('#info-btn');
  await pat.page.locator('#info-count', { hasText: '2 members' }).waitFor();

  // Add Quinn from the info dialog; Quinn sees the group and new messages.
  await owner.page.click('#info-btn');
  await owner.page.fill('#add-members-input', 'quinn');
  await owner.page.click('#add-members-submit');
  await owner.page.locator('#member-list li[data-handle=quinn]').waitFor();
  // Rename.
  await owner.page.fill('#rename-input', 'Hiking club');
  await owner.page.click('#rename-submit');
  await owner.page.waitForFunction(() => document.getElementById('chat-title').textContent === 'Hiking club');
  // The open dialog follows: the new title, and three members.
  assert.equal(await owner.page.textContent('#info-title'), 'Hiking club');
  await owner.page.locator('#info-count', { hasText: '3 members' }).waitFor();
  await owner.page.keyboard.press('Escape');
  await pat.page.locator('#info-title', { hasText: 'Hiking club' }).waitFor();
  await pat.page.locator('#info-count', { hasText: '3 members' }).waitFor();
  await pat.page.locator('#member-list li[data-handle=quinn]').waitFor();
  await pat.page.keyboard.press('Escape');
  await H.openConversation(quinn.page, 'Hiking club');
  await H.send(quinn.page, 'count me in');
  await H.waitForText(pat.page, 'count me in');
  await pat.page.waitForFunction(() => document.getElementById('chat-title').textContent === 'Hiking club');
  // System lines name people by name, and say "You" for my own actions.
  await pat.page.locator('.sys', { hasText: 'Olga added Quinn' }).waitFor();
  await owner.page.locator('.sys', { hasText: 'You added Quinn' }).waitFor();
  // The list preview names the sender, not the handle.
  await pat.page.locator('.conv-item .ci-preview', { hasText: 'Quinn: count me in' }).waitFor();
  // A wrong handle is named in the error.
  await owner.page.click('#info-btn');
  await owner.page.fill('#add-members-input', 'nobody_here');
  await owner.page.click('#add-members-submit');
  await owner.page.locator('dialog .form-error', { hasText: 'no user @nobody_here' }).waitFor();
  await owner.page.keyboard.press('Escape');

  // Remove Pat: Pat's view says so and the composer goes away.
  await owner.page.click('#info-btn');
  await owner.page.locator('#member-list li[data-handle=pat] button').click();
  await owner.page.click('#confirm-yes');
  await owner.page.locator('#member-list li[data-handle=pat]').waitFor({ state: 'detached' });
  await owner.page.keyboard.press('Escape');
  await pat.page.waitForSelector('#left-note:not([hidden])');
  await pat.page.locator('.sys', { hasText: 'Olga removed you' }).waitFor();

  // Quinn leaves.
  await quinn.page.click('#info-btn');
  await quinn.page.click('#leave-btn');
  await quinn.page.click('#confirm-yes');
  await quinn.page.waitForSelector('#left-note:not([hidden])');
  await quinn.page.locator('.sys', { hasText: 'You left' }).waitFor();
  await owner.page.locator('.sys', { hasText: 'Quinn left' }).waitFor();
  await owner.page.waitForFunction(() => document.getElementById('chat-sub').textContent.includes('1'));
  // The group Quinn left can be removed from the list.
  await quinn.page.click('#remove-left');
  await quinn.page.locator('.conv-item', { hasText: 'Hiking club' }).waitFor({ state: 'detached' });
  await quinn.page.waitForSelector('#chat-empty:not([hidden])');

  for (const u of [owner, pat, quinn]) {
    u.page.assertClean();
    await u.context.close();
  }
});
