// A conversation of 10,000 messages: paged in from the server as you scroll up, and scrolling
// stays smooth because only the rows near the viewport are in the DOM.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

const N = 10000;
let server;
let browser;
before(async () => {
  // Seeding 10,000 messages quickly (24 connections of one device) needs higher per-connection
  // and per-device budgets than a public server would give one device.
  const big = { PER_MINUTE: 60000000, BURST: 1000000 };
  const env = {
    CHAPAR_DURABILITY: 'normal',
    CHAPAR_LIMITS__REQUESTS_PER_SECOND: '1000000',
    CHAPAR_LIMITS__REQUEST_BURST: '1000000',
    CHAPAR_GATEWAY__MAX_CONNECTIONS_PER_DEVICE: '64',
  };
  for (const limiter of ['SEND_PER_DEVICE', 'SEND_PER_ACCOUNT']) {
    for (const [k, v] of Object.entries(big)) env[`CHAPAR_RATE_LIMITS__${limiter}__${k}`] = String(v);
  }
  server = await H.startServer({ env });
  browser = await H.launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Sends `n` messages to `conversation` from the page's session, on several connections at once
 * (a connection answers its requests one at a time; several let the store batch its commits).
 */
function seed(page, conversation, n) {
  return page.evaluate(async ({ conversation, n }) => {
    const { token } = JSON.parse(localStorage.getItem('chapar.session'));
    const body = (i) => `message ${i}` + (i % 7 === 0 ? ' — a longer one that wraps onto a second line or a third, to give the list rows of different heights.' : '');
    let i = 0;
    const connection = async () => {
      const ws = new WebSocket(`ws://${location.host}/v1/ws`, 'chapar.v1.json');
      let id = 0;
      let waiting = null;
      ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (waiting && f.id === id) waiting(f);
      };
      await new Promise((r, j) => {
        ws.onopen = r;
        ws.onerror = j;
      });
      const request = (method, params) => new Promise((resolve) => {
        waiting = resolve;
        ws.send(JSON.stringify({ id: ++id, method, params }));
      });
      const auth = await request('authenticate', { token });
      if (auth.type !== 'reply') throw new Error(JSON.stringify(auth));
      while (i < n) {
        const k = ++i;
        for (;;) {
          const f = await request('send', { conversation, client_id: `seed-${k}`, text: body(k) });
          if (f.type === 'reply') break;
          if (!f.error.retry_after_ms && f.error.code !== 'overloaded' && f.error.code !== 'unavailable') throw new Error(JSON.stringify(f));
          await new Promise((r) => setTimeout(r, f.error.retry_after_ms || 100));
        }
      }
      ws.close();
    };
    await Promise.all(Array.from({ length: 24 }, connection));
  }, { conversation, n });
}

test(`a conversation of ${N} messages pages in and scrolls smoothly`, async () => {
  const reader = await H.newUser(browser, server, 'reader', 'Reader');
  const writer = await H.newUser(browser, server, 'writer', 'Writer');
  await H.openChatWith(writer.page, 'reader');
  await H.send(writer.page, 'the first message');
  await writer.page.waitForFunction(() => !document.querySelector('.msg.pending'));
  const conversation = await writer.page.evaluate(() => Number(window.chapar.app.openKey));
  // Seed from a plain page of the writer's origin (same session), with the app pages away, so
  // that neither app spends the seeding time rendering 10,000 live events.
  await reader.page.goto('about:blank');
  await writer.page.goto('about:blank');
  const seeder = await writer.context.newPage();
  await seeder.goto(server.url + '/healthz');
  const t0 = Date.now();
  await seed(seeder, conversation, N - 1);
  await seeder.close();
  console.log(`seeded ${N} messages in ${Date.now() - t0} ms`);

  // The reader opens it fresh (everything comes from history pages).
  await reader.page.goto(server.url + '/');
  await H.waitOnline(reader.page);
  await reader.page.locator('.conv-item', { hasText: 'Writer' }).click();
  await reader.page.waitForSelector('.msg');
  const page = reader.page;

  // Scroll to the top again and again: each time an older page is loaded, until the start.
  const t1 = Date.now();
  let maxRows = 0;
  for (let i = 0; i < 400; i++) {
    const s = await page.evaluate(() => {
      const el = document.getElementById('messages');
      el.scrollTop = 0;
      return { rows: document.querySelectorAll('.vl-row').length, start: Boolean(document.querySelector('.start-row')) };
    });
    maxRows = Math.max(maxRows, s.rows);
    if (s.start) break;
    await page.waitForTimeout(20);
  }
  const loaded = await page.evaluate(() => window.chapar.model.timeline(window.chapar.app.openKey).seqs.length);
  console.log(`paged ${loaded} messages in ${Date.now() - t1} ms`);
  assert.equal(loaded, N);
  assert.ok(await page.locator('.start-row').count());
  assert.equal(await page.textContent('.msg .text >> nth=0'), 'the first message');

  // Now scroll down through all of it, a screenful at a time, one frame per step.
  const stats = await page.evaluate(async () => {
    const el = document.getElementById('messages');
    // Time the list's own work per scroll (render the window, measure, place): frame times on a
    // busy test machine mostly measure the machine.
    const vlist = window.chapar.app.chat.vlist;
    const work = [];
    const layout = vlist.layout.bind(vlist);
    vlist.layout = () => {
      const t = performance.now();
      layout();
      work.push(performance.now() - t);
    };
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
    const times = [];
    let rows = 0;
    let steps = 0;
    let prev = await frame();
    while (el.scrollTop + el.clientHeight < el.scrollHeight - 2) {
      el.scrollTop += el.clientHeight * 0.9;
      const now = await frame();
      times.push(now - prev);
      prev = now;
      rows = Math.max(rows, document.querySelectorAll('.vl-row').length);
      steps++;
    }
    const pct = (xs, p) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
    const texts = [...document.querySelectorAll('.msg .text')].map((e) => e.textContent);
    return {
      steps, rows, last: texts,
      frame50: pct(times, 0.5), frame95: pct(times, 0.95),
      work50: pct(work, 0.5), work95: pct(work, 0.95), workMax: pct(work, 1),
    };
  });
  const ms = (x) => x.toFixed(1) + ' ms';
  console.log(`scrolled ${stats.steps} screens: list work per scroll p50 ${ms(stats.work50)}, p95 ${ms(stats.work95)}, max ${ms(stats.workMax)}; frames p50 ${ms(stats.frame50)}, p95 ${ms(stats.frame95)}; at most ${Math.max(maxRows, stats.rows)} rows in the DOM`);
  assert.ok(stats.steps > 100, 'a long way to scroll');
  assert.ok(Math.max(maxRows, stats.rows) < 150, 'only the rows near the viewport are rendered');
  // Timings are printed above, not asserted: speed is measured by benchmarks, not by tests.
  assert.ok(stats.last.some((t) => t.startsWith(`message ${N - 1}`)), 'reached the newest message');

  page.assertClean();
  await reader.context.close();
  await writer.context.close();
});
