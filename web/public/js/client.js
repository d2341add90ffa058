// The connection to the chapar server (protocol v1, JSON over WebSocket at /v1/ws).
//
// One Client per page. It signs in (a stored session token, else a fresh proof with the device
// key), keeps the feed cursor (pts) with gap detection and sync, reconnects with full-jitter
// backoff, and sends the outbox: messages and edits queued with their client_id, sent one at a
// time once the connection is back (the server answers a repeated client_id with the first
// result, so a send whose outcome was unknown is simply sent again).
//
// Events (EventTarget): 'state' (connection state changed), 'feed' {detail: event},
// 'typing' {detail}, 'synced', 'reset', 'sent' {detail: {entry, result}}, 'failed'
// {detail: {entry, error}}, 'outbox', 'signed-out' {detail: reason}.
//
// States: 'connecting', 'syncing' (signed in, catching up), 'online', 'reconnecting' (waiting
// for the next attempt: `retryAt`), 'offline' (the browser said the network is gone),
// 'signed-out'.

import { PtsTracker } from './tracker.js';
import { Identity, prefs } from './storage.js';
import { backoffDelay, fromBase64, toBase64 } from './util.js';

const RETRYABLE = new Set(['rate_limited', 'overloaded', 'unavailable', 'internal', 'disconnected', 'timeout']);
const PING_EVERY_MS = 25000;
const REPLY_TIMEOUT_MS = 15000;
const MARK_DELAY_MS = 300;
const SYNC_PAGE = 200;

export class ProtocolError extends Error {
  constructor(code, message, retryAfterMs) {
    super(message || code);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
  get retryable() {
    return RETRYABLE.has(this.code);
  }
}

export function wsUrl(base = location) {
  const scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${base.host}/v1/ws`;
}

/** One WebSocket: request/reply matching, hello, pushed frames. */
class Conn {
  constructor(url, handlers) {
    this.handlers = handlers;
    this.nextId = 0;
    this.pending = new Map();
    this.dead = false;
    this.hello = new Promise((resolve, reject) => {
      this.helloResolve = resolve;
      this.helloReject = reject;
    });
    this.ws = new WebSocket(url, 'chapar.v1.json');
    this.ws.onmessage = (e) => this.onMessage(e.data);
    this.ws.onclose = () => this.kill('connection closed');
    this.ws.onerror = () => this.kill('connection failed');
  }

  onMessage(data) {
    if (this.dead || typeof data !== 'string') return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'hello':
        this.helloResolve(frame);
        break;
      case 'reply':
      case 'error': {
        const p = this.pending.get(frame.id);
        if (!p) return;
        this.pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.type === 'reply') p.resolve(frame.result);
        else p.reject(new ProtocolError(frame.error.code, frame.error.message, frame.error.retry_after_ms));
        break;
      }
      case 'event':
        this.handlers.event(frame);
        break;
      case 'control':
        this.handlers.control(frame);
        break;
    }
  }

  request(method, params, timeoutMs = REPLY_TIMEOUT_MS) {
    if (this.dead) return Promise.reject(new ProtocolError('disconnected', 'not connected'));
    const id = ++this.nextId;
    const frame = params === undefined ? { id, method } : { id, method, params };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('timeout', `no reply to ${method}`));
        // A connection that stopped answering is as good as gone.
        this.kill('no reply in time');
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify(frame));
      } catch {
        this.kill('send failed');
      }
    });
  }

  /** Ends this connection now: pending requests fail as `disconnected`. */
  kill(reason) {
    if (this.dead) return;
    this.dead = true;
    this.helloReject(new ProtocolError('disconnected', reason));
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError('disconnected', reason));
    }
    this.pending.clear();
    try {
      this.ws.close();
    } catch {
      // already closing
    }
    this.handlers.close(reason);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Client extends EventTarget {
  constructor(url = wsUrl()) {
    super();
    this.url = url;
    this.state = 'signed-out';
    this.conn = null;
    this.session = prefs.session(); // {token, user, device_id}
    this.identity = null;
    this.limits = null;
    this.tracker = new PtsTracker(prefs.pts() ?? 0);
    this.outbox = prefs.outbox();
    this.attempt = 0;
    this.retryAt = null;
    this.timer = null;
    this.paused = false;
    this.pumping = false;
    this.marks = new Map(); // conversation -> {delivered, read} waiting to be sent
    this.marked = new Map(); // conversation -> {delivered, read} already sent
    this.markTimer = null;
    this.ptsTimer = null;
    this.pinger = null;
    this.everOnline = false;
  }

  get signedIn() {
    return Boolean(this.session && this.session.token);
  }

  get me() {
    return this.session && this.session.user;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  // ---- signing in without a session -------------------------------------------------------

  /**
   * Opens a one-off connection, proves a fresh device key, and runs `method`; `extra(challenge)`
   * adds parameters that need the connection's challenge.
   */
  async enroll(method, params, extra) {
    const identity = await Identity.create();
    const conn = new Conn(this.url, { event() {}, control() {}, close() {} });
    try {
      const hello = await conn.hello;
      const challenge = fromBase64(hello.challenge);
      const proof = await identity.prove(challenge);
      const more = extra ? await extra(challenge) : {};
      const result = await conn.request(method, { ...params, ...more, ...proof });
      await identity.save();
      this.identity = identity;
      this.adopt(result.session);
      prefs.setPts(result.session.pts);
      this.tracker = new PtsTracker(result.session.pts);
      prefs.setOutbox((this.outbox = []));
      return result.session;
    } finally {
      conn.kill('enrolled');
    }
  }

  register({ handle, display_name, invite_code }) {
    return this.enroll('register', {
      handle,
      display_name: display_name || undefined,
      invite_code: invite_code || undefined,
      device_name: deviceName(),
    });
  }

  link(code) {
    return this.enroll('link_device', { code: code.trim(), device_name: deviceName() });
  }

  /** Signs in as `handle` with its recovery key (a RecoveryKey), as a new device. */
  recover({ handle, key, revokeOthers }) {
    return this.enroll('recover', { handle, device_name: deviceName(), revoke_others: Boolean(revokeOthers) },
      async (challenge) => ({
        recovery_key: toBase64(key.publicKey),
        recovery_signature: toBase64(await key.prove(challenge)),
      }));
  }

  /** Registers `key` (a RecoveryKey) as the account's recovery key, replacing an older one. */
  async setRecoveryKey(key) {
    if (!this.challenge) throw new ProtocolError('offline', 'not connected');
    const signature = await key.prove(this.challenge);
    await this.call('set_recovery_key', { public_key: toBase64(key.publicKey), signature: toBase64(signature) });
  }

  adopt(session) {
    this.session = {
      token: session.token || (this.session && this.session.token),
      user: session.user,
      device_id: session.device_id,
    };
    prefs.setSession(this.session);
  }

  // ---- the connection ---------------------------------------------------------------------

  /** Connect and stay connected until signed out. */
  async start() {
    if (!this.identity) this.identity = await Identity.load().catch(() => null);
    addEventListener('offline', () => this.goOffline());
    addEventListener('online', () => this.goOnline());
    addEventListener('pagehide', () => this.savePts());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !this.conn && this.state === 'reconnecting') {
        this.connectNow();
      }
    });
    this.connect();
  }

  goOffline() {
    this.paused = true;
    clearTimeout(this.timer);
    if (this.conn) this.conn.kill('the browser went offline');
    if (this.state !== 'signed-out') this.setState('offline');
  }

  goOnline() {
    if (!this.paused) return;
    this.paused = false;
    this.connectNow();
  }

  connectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  async connect() {
    if (this.paused || !this.signedIn || this.conn) return;
    this.retryAt = null;
    this.setState(this.everOnline ? 'reconnecting' : 'connecting');
    const conn = new Conn(this.url, {
      event: (f) => conn === this.conn && this.onEvent(f),
      control: (c) => conn === this.conn && this.onControl(c),
      close: () => conn === this.conn && this.onClosed(),
    });
    this.conn = conn;
    const helloTimer = setTimeout(() => conn.kill('no hello from the server'), REPLY_TIMEOUT_MS);
    try {
      const hello = await conn.hello;
      clearTimeout(helloTimer);
      this.limits = hello.limits;
      this.challenge = fromBase64(hello.challenge);
      let result;
      try {
        result = await conn.request('authenticate', { token: this.session.token });
      } catch (e) {
        if (e.code !== 'unauthorized' || !this.identity) throw e;
        // The session ended (logged out elsewhere, expired): sign in again with the key.
        const proof = await this.identity.prove(fromBase64(hello.challenge));
        result = await conn.request('login', proof);
      }
      if (conn !== this.conn) return;
      this.adopt(result.session);
      this.attempt = 0;
      if (result.session.pts < this.tracker.last) {
        this.tracker.rewind(result.session.pts);
        this.emit('reset');
      }
      this.everOnline = true;
      this.setState('syncing');
      this.run(this.tracker.onConnected());
      this.startPinger(conn);
    } catch (e) {
      if (e.code === 'unauthorized') {
        this.signedOut('unauthorized');
        return;
      }
      conn.kill(e.message);
    }
  }

  onClosed() {
    this.conn = null;
    clearInterval(this.pinger);
    if (this.state === 'signed-out') return;
    this.scheduleReconnect(null);
  }

  scheduleReconnect(hintMs) {
    clearTimeout(this.timer);
    if (this.paused) {
      this.setState('offline');
      return;
    }
    const delay = hintMs != null ? hintMs + backoffDelay(0) : backoffDelay(this.attempt);
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  startPinger(conn) {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (conn !== this.conn) return clearInterval(this.pinger);
      conn.request('ping', undefined, 10000).catch(() => {});
    }, PING_EVERY_MS);
  }

  onControl(c) {
    if (c.reason === 'revoked' || c.reason === 'logged_out') {
      this.signedOut(c.reason);
      return;
    }
    const conn = this.conn;
    this.conn = null; // so that killing it does not schedule a second reconnect
    if (conn) conn.kill(c.reason);
    clearInterval(this.pinger);
    this.scheduleReconnect(c.retry_after_ms ?? null);
  }

  onEvent(frame) {
    if (frame.pts == null) {
      if (frame.event.typing) this.emit('typing', frame.event.typing);
      if (frame.event.callback_answer) this.emit('callback_answer', frame.event.callback_answer);
      if (frame.event.settings_changed) this.emit('settings_changed', frame.event.settings_changed);
      if (frame.event.presence) this.emit('presence', frame.event.presence);
      return;
    }
    this.run(this.tracker.onLive({ pts: frame.pts, event: frame.event }));
  }

  /** Acts on the tracker's steps. */
  run(steps) {
    for (const step of steps) {
      if (step.deliver) {
        const ev = step.deliver;
        const m = ev.event.message;
        if (m && this.me && m.sender !== this.me.id) this.mark(m.conversation, { delivered: m.seq });
        this.emit('feed', ev);
        this.schedulePtsSave();
      } else if (step.reset) {
        this.emit('reset');
      } else if (step.sync != null) {
        const conn = this.conn;
        if (!conn) return;
        conn
          .request('sync', { pts: step.sync, limit: SYNC_PAGE })
          .then((r) => conn === this.conn && this.run(this.tracker.onSyncPage(r.sync)))
          .catch((e) => conn.kill('sync failed: ' + e.message));
      } else if (step.synced != null) {
        this.savePts();
        this.setState('online');
        this.emit('synced');
        this.flushMarks();
        this.pump();
      }
    }
  }

  schedulePtsSave() {
    if (this.ptsTimer) return;
    this.ptsTimer = setTimeout(() => this.savePts(), 200);
  }

  savePts() {
    clearTimeout(this.ptsTimer);
    this.ptsTimer = null;
    if (this.signedIn) prefs.setPts(this.tracker.last);
  }

  // ---- requests ---------------------------------------------------------------------------

  /** A request on the live connection; fails at once with `offline` when there is none. */
  call(method, params) {
    if (!this.conn || (this.state !== 'online' && this.state !== 'syncing')) {
      return Promise.reject(new ProtocolError('offline', 'not connected'));
    }
    return this.conn.request(method, params);
  }

  /**
   * Queue a write that must happen once: {method, params (with client_id), conv, ...extra}.
   * It stays in the outbox (and in localStorage) until the server answers.
   */
  enqueue(entry) {
    this.outbox.push(entry);
    prefs.setOutbox(this.outbox);
    this.emit('outbox');
    this.pump();
  }

  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.outbox.length && this.state === 'online' && this.conn) {
        const entry = this.outbox[0];
        try {
          const result = await this.conn.request(entry.method, entry.params);
          this.dequeue(entry);
          this.emit('sent', { entry, result });
        } catch (e) {
          if (e.code === 'disconnected' || e.code === 'timeout') break;
          if (e.retryable) {
            await sleep(e.retryAfterMs ?? 1000);
            continue;
          }
          this.dequeue(entry);
          this.emit('failed', { entry, error: e });
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  dequeue(entry) {
    this.outbox = this.outbox.filter((e) => e !== entry);
    prefs.setOutbox(this.outbox);
    this.emit('outbox');
  }

  /** Move this user's markers (coalesced; markers only move forward). */
  mark(conversation, { delivered, read }) {
    const m = this.marks.get(conversation) || {};
    const sent = this.marked.get(conversation) || {};
    if (read && read > (sent.read || 0)) m.read = Math.max(m.read || 0, read);
    if (delivered && delivered > (sent.delivered || 0)) m.delivered = Math.max(m.delivered || 0, delivered);
    if (m.read && (!m.delivered || m.delivered < m.read)) m.delivered = m.read;
    if (m.read || m.delivered) this.marks.set(conversation, m);
    if (!this.markTimer) this.markTimer = setTimeout(() => this.flushMarks(), MARK_DELAY_MS);
  }

  flushMarks() {
    clearTimeout(this.markTimer);
    this.markTimer = null;
    if (this.state !== 'online' && this.state !== 'syncing') return;
    for (const [conversation, m] of this.marks) {
      const sent = this.marked.get(conversation) || {};
      const params = { conversation };
      if (m.delivered && m.delivered > (sent.delivered || 0)) params.delivered = m.delivered;
      if (m.read && m.read > (sent.read || 0)) params.read = m.read;
      if (params.delivered == null && params.read == null) continue;
      this.marked.set(conversation, {
        delivered: Math.max(sent.delivered || 0, params.delivered || 0),
        read: Math.max(sent.read || 0, params.read || 0),
      });
      this.call('mark', params).catch(() => this.marked.set(conversation, sent));
    }
    this.marks.clear();
  }

  async createLinkCode() {
    const r = await this.call('create_link_code');
    return r.link_code;
  }

  async logout() {
    try {
      await this.call('logout');
    } catch {
      // Signed out locally either way.
    }
    this.signedOut('logged_out');
  }

  signedOut(reason) {
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    const conn = this.conn;
    this.conn = null;
    this.setState('signed-out');
    if (conn) conn.kill(reason);
    this.session = null;
    prefs.clear();
    Identity.forget().catch(() => {});
    this.emit('signed-out', reason);
  }
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return `Web: ${browser}${os ? ' on ' + os : ''}`;
}
