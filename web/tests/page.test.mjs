// The page itself: no console errors and no request to any other host, a small app shell,
// correct HTTP (types, ETag revalidation, the protocol routes untouched), use with the keyboard
// alone, and the phone layout (one pane at a time, with a way back).

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

test('the page loads with no console errors and no request to any other host', async () => {
  const { context, page } = await H.openPage(browser, server);
  await H.signUp(page, 'clean', 'Clean Check');
  const other = await H.newUser(browser, server, 'other', 'Other');
  // Visit every screen once.
  await page.click('#menu-btn');
  await page.click('#link-device-btn');
  await page.locator('#link-code-value').waitFor();
  await page.keyboard.press('Escape');
  await H.createGroup(page, 'Everything', '@other');
  await H.send(page, 'hello');
  await page.click('#info-btn');
  await page.locator('#member-list li[data-handle=other]').waitFor();
  await page.keyboard.press('Escape');
  await H.openConversation(other.page, 'Everything');
  await H.waitForText(other.page, 'hello');
  await page.reload();
  await H.waitOnline(page);

  page.assertClean();
  other.page.assertClean();
  const hosts = new Set(page.requests.map((u) => new URL(u).host));
  assert.deepEqual([...hosts], [server.host]);
  assert.ok(page.requests.some((u) => u.startsWith('ws://') && u.endsWith('/v1/ws')), 'the WebSocket is on the same host');
  await context.close();
  await other.context.close();
});

test('the app shell paints from under 100 KB transferred', async () => {
  const context = await browser.newContext({ viewport: H.DESKTOP });
  const page = await context.newPage();
  await page.goto(server.url + '/');
  await page.waitForSelector('#signup-form');
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {
      total: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
      files: res.length + 1,
      painted: Boolean(fcp),
    };
  });
  console.log(`app shell: ${m.files} files, ${m.total} bytes transferred`);
  assert.ok(m.painted, 'first contentful paint happened');
  assert.ok(m.total > 0 && m.total < 100 * 1024, `${m.total} bytes`);
  await context.close();
});

test('HTTP: content types, ETag revalidation, and the protocol routes are untouched', async () => {
  const get = (path, headers = {}) => fetch(server.url + path, { headers: { 'accept-encoding': 'identity', ...headers } });
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.match(index.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const etag = index.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  assert.equal((await get('/', { 'if-none-match': etag })).status, 304);
  assert.equal((await get('/index.html')).headers.get('etag'), etag);
  // Gzipped for clients that take it, as its own representation.
  const gz = await get('/js/client.js', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers.get('content-encoding'), 'gzip');
  assert.equal(gz.headers.get('vary'), 'accept-encoding');
  assert.match(gz.headers.get('etag'), /^"[0-9a-f]{16}-gz"$/);
  assert.match(await gz.text(), /export class Client/);

  const js = await get('/js/main.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.match((await get('/css/app.css')).headers.get('content-type'), /^text\/css/);
  assert.match((await get('/icon.svg')).headers.get('content-type'), /^image\/svg\+xml/);
  assert.equal((await get('/no/such/file.js')).status, 404);
  assert.equal((await fetch(server.url + '/', { method: 'POST' })).status, 405);
  const head = await fetch(server.url + '/js/main.js', { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('etag'), js.headers.get('etag'));

  assert.equal(await (await get('/healthz')).text(), 'ok\n');
  assert.equal((await get('/readyz')).status, 200);
  const ws = await get('/v1/ws');
  assert.notEqual(ws.status, 200, 'a plain GET of /v1/ws is not answered by the web client');
  assert.doesNotMatch(ws.headers.get('content-type') || '', /html/);
});

test('keyboard only: sign up, start a chat, send, move through the list', async () => {
  const friend = await H.newUser(browser, server, 'friend', 'Friend');
  const { context, page } = await H.openPage(browser, server);
  const k = page.keyboard;
  // The handle field has focus on arrival.
  await k.type('keys');
  await k.press('Tab');
  await k.type('Keyboard Only');
  await k.press('Enter');
  await H.waitOnline(page);
  // The recovery key offered after sign-up has the focus; Escape puts it off.
  await page.waitForSelector('#recovery');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'recovery-saved');
  await k.press('Escape');
  await page.waitForSelector('#recovery', { state: 'detached' });

  // Tab from the top of the app to the "new message" button.
  let found = false;
  for (let i = 0; i < 8 && !found; i++) {
    await k.press('Tab');
    found = await page.evaluate(() => document.activeElement.id === 'new-chat-btn');
  }
  assert.ok(found, 'the new chat button is reachable with Tab');
  await k.press('Enter');
  await page.waitForSelector('#new-chat-handle:focus');
  await k.type('friend');
  await k.press('Enter');
  await page.waitForSelector('#composer-input:focus');
  await k.type('typed without a mouse');
  await k.press('Enter');
  await H.waitForText(friend.page, 'typed without a mouse').catch(async () => {
    await friend.page.locator('.conv-item').first().click();
    await H.waitForText(friend.page, 'typed without a mouse');
  });

  // A second conversation, then the list: arrows move, Enter opens.
  await H.createGroup(friend.page, 'Second', 'keys');
  await H.send(friend.page, 'in the group');
  await page.locator('.conv-item', { hasText: 'Second' }).waitFor();
  await page.focus('.conv-item[tabindex="0"]');
  await k.press('Home');
  assert.equal(await page.evaluate(() => document.activeElement.querySelector('.ci-title').textContent), 'Second');
  await k.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.querySelector('.ci-title').textContent), 'Friend');
  await k.press('ArrowUp');
  await k.press('Enter');
  await page.waitForFunction(() => document.getElementById('chat-title').textContent === 'Second');
  await page.waitForSelector('#composer-input:focus');
  await H.waitForText(page, 'in the group');
  // Messages are reachable from the composer, and Escape returns to it.
  await k.press('ArrowUp');
  assert.ok(await page.evaluate(() => document.activeElement.classList.contains('msg')));
  await k.press('Escape');
  await page.waitForSelector('#composer-input:focus');

  page.assertClean();
  friend.page.assertClean();
  await context.close();
  await friend.context.close();
});

test('phone width: one pane at a time, back to the list', async () => {
  const pal = await H.newUser(browser, server, 'pal', 'Pal');
  const phone = await H.newUser(browser, server, 'phone', 'Phone User', { viewport: H.PHONE });
  await H.openChatWith(pal.page, 'phone');
  await H.send(pal.page, 'hello phone');
  const page = phone.page;
  assert.ok(await page.isVisible('.sidebar'));
  assert.ok(!(await page.isVisible('.chat')));
  await page.locator('.conv-item', { hasText: 'Pal' }).click();
  await H.waitForText(page, 'hello phone');
  assert.ok(!(await page.isVisible('.sidebar')), 'the list hides while a chat is open');
  const bubble = await page.locator('.msg .bubble').first().boundingBox();
  assert.ok(bubble.x >= 0 && bubble.x + bubble.width <= H.PHONE.width, 'messages fit the screen');
  await page.click('#back-btn');
  await page.waitForSelector('.sidebar', { state: 'visible' });
  // The browser's back button closes the chat too.
  await page.locator('.conv-item', { hasText: 'Pal' }).click();
  await page.waitForSelector('#composer-input', { state: 'visible' });
  await page.goBack();
  await page.waitForSelector('.sidebar', { state: 'visible' });
  assert.ok(!(await page.isVisible('.chat')));

  page.assertClean();
  pal.page.assertClean();
  await phone.context.close();
  await pal.context.close();
});
