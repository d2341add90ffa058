// A bot's inline keyboard in the browser: the test plays the bot over the Bot API (fetch), a
// person in the page sees its formatted message with buttons, presses one, sees the bot's answer
// (a toast, or a dialog for show_alert) and the edited message without buttons.

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
  profiles = mkdtempSync(join(tmpdir(), 'chapar-bot-'));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (profiles) rmSync(profiles, { recursive: true, force: true });
});

/** The Bot API of one token: call(method, params) resolves with `result` or throws. */
function botApi(token) {
  return async (method, params = {}) => {
    const res = await fetch(`${server.url}/bot${token}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    const body = await res.json();
    assert.equal(body.ok, true, `${method}: ${JSON.stringify(body)}`);
    return body.result;
  };
}

/** Long-polls until an update with `key` arrives; returns it and the next offset. */
async function nextUpdate(call, offset, key) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const updates = await call('getUpdates', { offset, timeout: 2 });
    for (const u of updates) {
      offset = u.update_id + 1;
      if (u[key]) return { update: u[key], offset };
    }
  }
  throw new Error(`no ${key} update in 20 s`);
}

test('a person presses a bot\'s button in the browser and sees its answer and the edit', async () => {
  const owner = join(profiles, 'owner');
  await H.cli(server, owner, 'register', 'owner');
  const token = (await H.cli(server, owner, 'bot', 'create', 'echo_bot', '--name', 'Echo')).trim();
  const call = botApi(token);

  const mina = await H.newUser(browser, server, 'mina', 'Mina');
  const page = mina.page;
  await H.openChatWith(page, 'echo_bot');
  await H.send(page, '/start');
  let { update: msg, offset } = await nextUpdate(call, 0, 'message');
  assert.equal(msg.text, '/start');
  assert.equal(msg.entities[0].type, 'bot_command');
  // The bot has it: Mina's message shows as read.
  await page.locator('.msg[data-own=true]', { hasText: '/start' }).locator('.status[data-status=read]').waitFor();

  const sent = await call('sendMessage', {
    chat_id: msg.chat.id,
    text: '*Pick* one',
    parse_mode: 'MarkdownV2',
    reply_markup: { inline_keyboard: [[
      { text: 'Shout', callback_data: 'shout' },
      { text: 'Docs', url: 'https://example.org/docs' },
    ]] },
  });
  await page.waitForSelector('.kb-btn[data-callback="shout"]');
  assert.equal(await page.textContent('.msg .text b'), 'Pick', 'bold from the bot\'s entities');
  const link = page.locator('a.kb-btn');
  assert.equal(await link.getAttribute('href'), 'https://example.org/docs');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');

  await page.click('.kb-btn[data-callback="shout"]');
  const pressed = await nextUpdate(call, offset, 'callback_query');
  offset = pressed.offset;
  const q = pressed.update;
  assert.equal(q.data, 'shout');
  assert.equal(q.from.username, 'mina');
  assert.equal(q.message.message_id, sent.message_id);
  await call('answerCallbackQuery', { callback_query_id: q.id, text: 'Shouted!' });
  await page.waitForSelector('.toast:has-text("Shouted!")');
  await call('editMessageText', { chat_id: msg.chat.id, message_id: sent.message_id, text: 'PICK ONE' });
  await H.waitForText(page, 'PICK ONE');
  await page.waitForFunction(() => document.querySelectorAll('.kb-btn').length === 0);

  // An answer with show_alert is a dialog.
  await call('editMessageReplyMarkup', {
    chat_id: msg.chat.id,
    message_id: sent.message_id,
    reply_markup: { inline_keyboard: [[{ text: 'Again', callback_data: 'again' }]] },
  });
  await page.click('.kb-btn[data-callback="again"]');
  const again = await nextUpdate(call, offset, 'callback_query');
  await call('answerCallbackQuery', { callback_query_id: again.update.id, text: 'Done twice', show_alert: true });
  await page.waitForSelector('#bot-alert');
  assert.match(await page.textContent('#bot-alert'), /Done twice/);
  assert.equal(await page.textContent('#bot-alert #dlg-title'), 'Echo', 'the alert is titled with the bot\'s name');
  await page.click('#bot-alert-ok');
  await page.waitForSelector('#bot-alert', { state: 'detached' });
  // The text did not change with the buttons.
  await H.waitForText(page, 'PICK ONE');
  page.assertClean();
  await mina.context.close();
});

test('a bot\'s chat is labelled as a bot, offers Start, and its setMyCommands list while typing "/"', async () => {
  const owner = join(profiles, 'owner2');
  await H.cli(server, owner, 'register', 'owner2');
  const token = (await H.cli(server, owner, 'bot', 'create', 'weather_bot', '--name', 'Weather')).trim();
  const call = botApi(token);
  await call('setMyCommands', { commands: [
    { command: 'start', description: 'Say hello' },
    { command: 'forecast', description: 'Tomorrow’s weather' },
    { command: 'help', description: 'What I can do' },
  ] });

  const omid = await H.newUser(browser, server, 'omid2', 'Omid');
  const page = omid.page;
  await H.openChatWith(page, 'weather_bot');
  await page.locator('#bot-label', { hasText: 'bot' }).waitFor();
  // Nothing said yet: Start sends /start, which the bot receives.
  await page.click('#bot-start');
  const { update, offset } = await nextUpdate(call, 0, 'message');
  assert.equal(update.text, '/start');
  await page.waitForSelector('#bot-start', { state: 'hidden' });
  // Typing "/f" offers the matching command; choosing it sends it.
  await page.fill('#composer-input', '/f');
  await page.dispatchEvent('#composer-input', 'input');
  const offered = page.locator('#bot-commands .bot-command');
  await offered.first().waitFor();
  assert.deepEqual(await offered.evaluateAll((els) => els.map((e) => e.dataset.command)), ['forecast']);
  assert.match(await offered.first().textContent(), /Tomorrow’s weather/);
  await offered.first().click();
  const next = await nextUpdate(call, offset, 'message');
  assert.equal(next.update.text, '/forecast');
  await page.waitForSelector('#bot-commands', { state: 'hidden' });
  page.assertClean();
});
