// Shared by the browser tests: start the real `chapar` binary on a free port with a fresh data
// directory, launch Debian's Chromium through playwright-core, sign users up through the page,
// and run the terminal client. Every page is watched: console errors, uncaught exceptions and
// requests to any other host fail the test that made them.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../..');
export const BIN = process.env.E2E_CHAPAR_BIN || join(REPO, 'target/debug/chapar');
export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.E2E_SCREENSHOTS || join(REPO, 'docs/screenshots');

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** Starts `chapar serve` and resolves with its process and URL (from its first stdout line). */
async function spawnServer(data, listen, env) {
  // The server reads every CHAPAR_* variable as configuration: pass only the test's own.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CHAPAR_')));
  const proc = spawn(BIN, ['serve', '--data', join(data, 'db'), '--listen', listen], {
    // Test accounts are seconds old: without this, the lower send rate of new accounts
    // (rate_limits.send_new_account) would pace every test that sends more than a few dozen.
    env: { ...inherited, RUST_LOG: process.env.RUST_LOG || 'warn', CHAPAR_LIMITS__NEW_ACCOUNT_HOURS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderrText = '';
  proc.stderr.on('data', (d) => {
    proc.stderrText += d;
  });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('server did not start in 20 s:\n' + proc.stderrText)), 20000);
    proc.on('exit', (code) => fail(new Error(`server exited with ${code}:\n${proc.stderrText}`)));
    createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = line.match(/^chapar listening on (http:\/\/\S+)$/);
      if (m) ok(m[1]);
      else fail(new Error('unexpected first line: ' + line));
    });
  });
  return { proc, url };
}

/** SIGTERM (the server drains), then SIGKILL after 5 s. */
function terminate(proc) {
  return new Promise((r) => {
    if (proc.exitCode != null || proc.signalCode != null) return r();
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.on('exit', () => {
      clearTimeout(t);
      r();
    });
    proc.kill('SIGTERM');
  });
}

/** The real server on 127.0.0.1:<free port>, with a fresh data directory. */
export async function startServer({ env = {} } = {}) {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`cargo build -p chapar\` first`);
  const data = mkdtempSync(join(tmpdir(), 'chapar-web-'));
  let { proc, url } = await spawnServer(data, '127.0.0.1:0', env);
  const host = new URL(url).host;
  return {
    url,
    host,
    data,
    stderr: () => proc.stderrText,
    /** Stops the server, keeping its data, until `start`. */
    async down() {
      await terminate(proc);
    },
    /** Starts it again on the same address with the same data. */
    async start() {
      ({ proc } = await spawnServer(data, host, env));
    },
    async stop() {
      await terminate(proc);
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium from Debian, with a fresh profile per launch (playwright makes a temp one). */
export async function launch() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

/**
 * A new browser context (its own storage: a separate device) with one page on the server,
 * watched for console errors, page errors and requests to other hosts.
 */
export async function openPage(browser, server, { viewport = DESKTOP, lang = 'en', permissions, init } = {}) {
  const context = await browser.newContext({ viewport, locale: lang === 'fa' ? 'fa-IR' : 'en-GB' });
  if (permissions) await context.grantPermissions(permissions, { origin: server.url });
  // A script the test runs in the page before the app (to observe what the app calls).
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.stack || err}`));
  const watch = (url) => {
    requests.push(url);
    if (new URL(url).host !== server.host) problems.push(`request to another host: ${url}`);
  };
  context.on('request', (req) => watch(req.url()));
  page.on('websocket', (ws) => watch(ws.url()));
  await page.goto(server.url + '/');
  page.problems = problems;
  page.requests = requests;
  /** Fails with everything the page did wrong so far. */
  page.assertClean = () => assert.deepEqual(problems, [], problems.join('\n'));
  return { context, page };
}

/**
 * Signs up through the form and waits for the app (connected and synced). The recovery key
 * offered after sign-up is put off ("Not now") unless `keepRecovery` leaves its dialog open.
 */
export async function signUp(page, handle, name, { keepRecovery = false } = {}) {
  await page.fill('#signup-handle', handle);
  if (name) await page.fill('#signup-name', name);
  await page.click('#signup-submit');
  await waitOnline(page);
  await page.waitForSelector('#recovery');
  if (keepRecovery) return;
  await page.click('#recovery-later');
  await page.waitForSelector('#recovery', { state: 'detached' });
}

export async function waitOnline(page) {
  await page.waitForSelector('#app-shell');
  await page.waitForFunction(() => document.body.dataset.conn === 'online', null, { timeout: 15000 });
}

/** A new user in a new context. */
export async function newUser(browser, server, handle, name, opts) {
  const { context, page } = await openPage(browser, server, opts);
  await signUp(page, handle, name);
  return { context, page, handle };
}

/** Links a second device (a new context) to the account signed in on `page`, by a link code. */
export async function linkDevice(browser, server, page) {
  await page.click('#menu-btn');
  await page.click('#link-device-btn');
  const code = (await page.locator('#link-code-value').textContent()).trim();
  await page.keyboard.press('Escape');
  const device = await openPage(browser, server);
  await device.page.click('#tab-link');
  await device.page.fill('#link-code', code);
  await device.page.click('#link-submit');
  await waitOnline(device.page);
  return device;
}

/** Opens the chat with `handle` (or the group titled so) from the list, or starts it. */
export async function openChatWith(page, handle) {
  await page.click('#new-chat-btn');
  await page.fill('#new-chat-handle', handle);
  await page.click('#new-chat-form-submit');
  await page.waitForSelector('#new-chat', { state: 'detached' });
  // The handle, then perhaps "· online" (or when they were last seen).
  await page.waitForFunction((h) => document.querySelector('#chat-sub bdi')?.textContent === h, '@' + handle.replace(/^@/, ''));
}

/** Creates a group from the dialog and waits until it is the open conversation. */
export async function createGroup(page, title, members) {
  await page.click('#new-group-btn');
  await page.fill('#new-group-title', title);
  await page.fill('#new-group-members', members);
  await page.click('#new-group-form-submit');
  await page.waitForSelector('#new-group', { state: 'detached' });
  await page.waitForFunction((t) => document.getElementById('chat-title')?.textContent === t, title);
}

export async function openConversation(page, title) {
  const item = page.locator('.conv-item', { has: page.locator('.ci-title', { hasText: title }) });
  await item.first().click();
  await page.waitForFunction((t) => document.getElementById('chat-title')?.textContent === t, title);
}

/** Types and sends with Enter. */
export async function send(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/** Texts of the text messages rendered in the open conversation, in order. */
export async function shownTexts(page) {
  return page.$$eval('.msg', (rows) =>
    rows
      .map((r) => ({ key: r.dataset.key, top: r.getBoundingClientRect().top, text: r.querySelector('.text').textContent }))
      .sort((a, b) => a.top - b.top)
      .map((r) => r.text));
}

export async function waitForText(page, text, timeout = 10000) {
  try {
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('.msg .text')].some((el) => el.textContent === t),
      text,
      { timeout },
    );
  } catch (e) {
    // Say what the page did show, and what went wrong in it.
    const shown = await page.evaluate(() => ({
      conn: document.body.dataset.conn,
      open: document.getElementById('chat-title')?.textContent,
      rows: [...document.querySelectorAll('.msg .text, .sys')].map((el) => el.textContent),
    })).catch(() => null);
    e.message += `\nwaiting for ${JSON.stringify(text)}; the page shows ${JSON.stringify(shown)}; problems: ${JSON.stringify(page.problems || [])}`;
    throw e;
  }
}

/** Runs the terminal client; resolves with stdout, rejects with stderr on failure. */
export function cli(server, profile, ...args) {
  return new Promise((ok, fail) => {
    execFile(BIN, ['--server', server.url, '--profile', profile, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`chapar ${args.join(' ')} failed: ${stderr}`));
      else ok(stdout);
    });
  });
}

export function jsonLines(out) {
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name + '.png') });
}
