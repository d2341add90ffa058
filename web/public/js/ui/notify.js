// New messages while I look elsewhere: a desktop notification (sender, text, conversation) and
// a short sound, unless the conversation is muted (for a while or for ever) or open in front of
// me. Permission is asked for after my first send in this browser, by an offer I can put off
// for good. Mutes and the sound setting are this browser's own (localStorage).

import { h } from '../util.js';
import { t } from '../i18n.js';
import { prefs } from '../storage.js';
import { senderName, previewText } from './chat.js';

export const MUTE_FOR = [
  { id: 'hour', ms: 3600e3 },
  { id: 'day', ms: 86400e3 },
  { id: 'week', ms: 7 * 86400e3 },
  { id: 'ever', ms: null },
];

export class Notifier {
  constructor(app) {
    this.app = app;
    this.audio = null;
  }

  static supported() {
    return 'Notification' in globalThis;
  }

  /** Whether `key` is muted now (a time passed ends the mute). */
  muted(key) {
    const until = prefs.muted()[key];
    return Boolean(until) && (until === -1 || until > Date.now());
  }

  mute(key, ms) {
    prefs.setMuted(key, ms == null ? -1 : Date.now() + ms);
  }

  unmute(key) {
    prefs.setMuted(key, 0);
  }

  /** A message arrived live (not from catching up). */
  onMessage(m, key) {
    const app = this.app;
    const me = app.model.me;
    if (!m || m.kind !== 'text' || m.deleted || (me && m.sender === me.id) || this.muted(key)) return;
    const c = app.model.get(key);
    if (c && app.model.collapsed(c, m)) return; // from someone I block
    const inFront = document.visibilityState === 'visible' && app.openKey === key;
    if (inFront) return;
    if (prefs.sound() !== false) this.beep();
    if (!Notifier.supported() || Notification.permission !== 'granted') return;
    const title = c && c.kind === 'group' ? t('notifyInGroup', { name: senderName(app.model, m), title: c.title }) : senderName(app.model, m);
    const body = c ? previewBody(app, c, m) : m.text || '';
    try {
      const n = new Notification(title, { body, tag: 'chapar:' + key, lang: document.documentElement.lang, dir: 'auto' });
      n.onclick = () => {
        window.focus();
        app.open(key);
        n.close();
      };
    } catch {
      // Some browsers allow notifications only from a service worker: the sound still played.
    }
  }

  /** A short, quiet tone (no file to download). */
  beep() {
    try {
      this.audio = this.audio || new AudioContext();
      const ctx = this.audio;
      const at = ctx.currentTime;
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.06, at);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      tone.connect(gain).connect(ctx.destination);
      tone.start(at);
      tone.stop(at + 0.25);
    } catch {
      // No audio here.
    }
  }

  /**
   * After my first send in this browser: offer notifications, once (the browser asks only on a
   * click). Returns the offer's element, or null when there is nothing to ask.
   */
  offer() {
    if (!Notifier.supported() || Notification.permission !== 'default' || prefs.notifyAsked()) return null;
    const box = h('div', { class: 'notify-offer', id: 'notify-offer', role: 'region', 'aria-label': t('notifyOffer') },
      h('p', null, t('notifyOffer')),
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', id: 'notify-later', onclick: () => done() }, t('notNow')),
        h('button', {
          type: 'button', class: 'primary', id: 'notify-on',
          onclick: () => {
            Notification.requestPermission().catch(() => 'denied').finally(done);
          },
        }, t('notifyTurnOn'))));
    const done = () => {
      prefs.setNotifyAsked();
      box.remove();
    };
    return box;
  }
}

function previewBody(app, c, m) {
  const p = previewText(app.model, c, m);
  return typeof p === 'string' ? p : p && p.body != null ? p.body : m.text || '';
}
