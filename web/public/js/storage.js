// What this browser keeps between visits.
//
// * IndexedDB `chapar`, store `kv`: the device's Ed25519 key pair. The private key is a
//   non-extractable CryptoKey: scripts can sign with it but never read it.
// * localStorage: the session (token, user, device), the feed cursor (pts), the outbox of
//   messages not yet acknowledged, text typed but not sent (per conversation), and the interface
//   language. All small and synchronous.

import { toBase64 } from './util.js';

const DB = 'chapar';
const STORE = 'kv';
const AUTH_PREFIX = 'chapar/v1/auth:';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function kv(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req && req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The device identity: an Ed25519 key pair made by WebCrypto. */
export class Identity {
  constructor(keys, publicKey) {
    this.keys = keys;
    this.publicKey = publicKey; // Uint8Array(32)
  }

  static supported() {
    return Boolean(globalThis.crypto && crypto.subtle && globalThis.indexedDB);
  }

  /** A fresh key pair (kept only in memory until `save`). */
  static async create() {
    const keys = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey));
    return new Identity(keys, raw);
  }

  static async load() {
    const stored = await kv('readonly', (s) => s.get('device'));
    if (!stored) return null;
    return new Identity(stored.keys, new Uint8Array(stored.publicKey));
  }

  async save() {
    await kv('readwrite', (s) => s.put({ keys: this.keys, publicKey: this.publicKey }, 'device'));
  }

  static async forget() {
    await kv('readwrite', (s) => s.delete('device'));
  }

  /** Signs `"chapar/v1/auth:" || challenge`; both as base64 for the wire. */
  async prove(challenge) {
    const prefix = new TextEncoder().encode(AUTH_PREFIX);
    const msg = new Uint8Array(prefix.length + challenge.length);
    msg.set(prefix);
    msg.set(challenge, prefix.length);
    const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, this.keys.privateKey, msg));
    return { public_key: toBase64(this.publicKey), signature: toBase64(sig) };
  }
}

function read(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v == null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the session still works until the page closes.
  }
}

// Text typed but not sent, per conversation key: read once, kept in memory, written on change.
const MAX_UNSENT = 200;
let unsentCache = null;
let mutedCache = null;

export const prefs = {
  /** Conversation key -> muted until (Unix ms; -1 for ever). Read once, kept in memory. */
  muted() {
    if (!mutedCache) mutedCache = read('chapar.muted', {}) || {};
    return mutedCache;
  },
  setMuted(key, until) {
    const all = { ...prefs.muted() };
    if (until) all[key] = until;
    else delete all[key];
    mutedCache = all;
    write('chapar.muted', Object.keys(all).length ? all : null);
  },
  sound: () => read('chapar.sound', true),
  setSound: (on) => write('chapar.sound', on ? null : false),
  notifyAsked: () => read('chapar.notifyAsked', false),
  setNotifyAsked: () => write('chapar.notifyAsked', true),
  unsent() {
    if (!unsentCache) unsentCache = read('chapar.unsent', {}) || {};
    return unsentCache;
  },
  setUnsent(key, text) {
    const all = { ...prefs.unsent() };
    if (text && text.trim()) all[key] = text;
    else delete all[key];
    const keys = Object.keys(all);
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_UNSENT))) delete all[k];
    unsentCache = all;
    write('chapar.unsent', Object.keys(all).length ? all : null);
  },
  session: () => read('chapar.session', null),
  setSession: (s) => write('chapar.session', s),
  pts: () => read('chapar.pts', null),
  setPts: (p) => write('chapar.pts', p),
  outbox: () => read('chapar.outbox', []),
  setOutbox: (o) => write('chapar.outbox', o.length ? o : null),
  lang: () => read('chapar.lang', null),
  setLang: (l) => write('chapar.lang', l),
  clear() {
    for (const k of ['chapar.session', 'chapar.pts', 'chapar.outbox', 'chapar.unsent', 'chapar.muted']) localStorage.removeItem(k);
    unsentCache = null;
    mutedCache = null;
  },
};
