// The open conversation: header (title, members or who is typing; in a direct chat a menu to
// add the peer to contacts, block or report them), the message list (virtual, pages older
// history in as you scroll up; a group's messages from people I block are collapsed), message
// actions (reply, edit, delete, react, report), and the composer (Enter sends, Shift+Enter is a
// new line, Escape cancels a reply or edit, Up edits your last message; in a direct chat with
// someone I block, a note with an Unblock button instead).

import { h, icon, newClientId } from '../util.js';
import { t, tn, num, timeOf, dayOf, sameDay, errorText, ago } from '../i18n.js';
import { VList } from '../vlist.js';
import { prefs } from '../storage.js';
import { avatar, confirmDialog, menuItem, openDialog, popupMenu, toast } from './common.js';
import { infoDialog, reportDialog } from './dialogs.js';
import { MUTE_FOR } from './notify.js';

const FIRST_PAGE = 50;
const OLDER_PAGE = 200;
const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
// The composer's emoji picker: common ones, in one grid.
const EMOJI = ['😀', '😂', '🥲', '😊', '😍', '😘', '😎', '🤔', '😮', '😢', '😭', '😡', '👍', '👎', '👏', '🙏',
  '💪', '🤝', '👋', '🙌', '❤️', '💔', '🔥', '✨', '🎉', '🎂', '🌹', '🌸', '☀️', '🌙', '⭐', '☕',
  '🍉', '🍕', '⚽', '🎁', '📷', '✅', '❌', '❓'];
const RUN_GAP_MS = 5 * 60 * 1000;
// How long a pressed bot button waits for the bot's answer.
const PRESS_WAIT_MS = 15000;
const ENTITY_TAGS = { bold: 'b', italic: 'i', underline: 'u', strikethrough: 's', code: 'code', pre: 'pre', blockquote: 'blockquote' };

/**
 * Text with a bot's formatting (entities; offsets are UTF-16 units, as JavaScript strings
 * count). Cut at every entity boundary; each piece is wrapped in every entity covering it.
 */
function richText(text, entities) {
  if (!entities || !entities.length) return text;
  const cuts = new Set([0, text.length]);
  for (const e of entities) {
    cuts.add(Math.min(e.offset, text.length));
    cuts.add(Math.min(e.offset + e.length, text.length));
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    let node = text.slice(a, b);
    for (const e of entities) {
      if (e.offset > a || e.offset + e.length < b) continue;
      if (e.type === 'text_link' && /^https?:\/\//i.test(e.url || '')) {
        node = h('a', { href: e.url, target: '_blank', rel: 'noopener noreferrer' }, node);
      } else if (e.type === 'spoiler') {
        node = h('span', { class: 'spoiler', tabindex: 0, onclick: (ev) => ev.currentTarget.classList.add('shown') }, node);
      } else if (ENTITY_TAGS[e.type]) {
        node = h(ENTITY_TAGS[e.type], null, node);
      }
    }
    out.push(node);
  }
  return out;
}

// http(s) links in people's text, as the server finds them for bots' `url` entities; trailing
// punctuation stays outside the link.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** Text with its links made clickable (a new tab, no referrer, no opener). */
function linked(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const url = match[0].replace(/[.,;:!?)\]}»”’]+$/, '');
    if (url.length < 9) continue;
    out.push(text.slice(last, match.index));
    out.push(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url));
    last = match.index + url.length;
  }
  if (!out.length) return text;
  out.push(text.slice(last));
  return out;
}

/** The name to show for a message's sender: the one we know, the one it carries, the handle. */
export function senderName(model, m) {
  return model.displayName(m.sender, m.sender_name || '@' + m.sender_handle);
}

/**
 * A system entry as a sentence of the interface language (nodes; names isolated). People are
 * named as the entry names them (their names then, else their handles); my own actions read
 * "You …", and I am "you" among the people.
 */
export function systemNodes(model, m) {
  const s = m.system || {};
  const mine = model.me && m.sender === model.me.id;
  const actor = m.sender_handle ? senderName(model, m) : '';
  const me = model.me && model.me.handle;
  const handles = (s.handles || []).map((x, i) => (x === me ? t('youObject') : (s.names && s.names[i]) || '@' + x)).join(', ');
  const vars = { actor, handles, title: s.title || '', role: s.role ? t('role.' + s.role) : '', action: s.action || '' };
  const key = (mine ? 'sysYou.' : 'sys.') + s.action;
  if (t(key) !== key) return tn(key, vars);
  const other = 'sys.' + s.action;
  return t(other) === other ? tn('sys.other', vars) : tn(other, vars);
}

function bodyText(m) {
  if (m.deleted) return t('deleted');
  if (m.text != null) return m.text;
  return t('attachment');
}

/** The one-line preview of an entry for the conversation list (text, or nodes for system entries). */
export function previewText(model, c, m) {
  if (m.kind === 'system') return systemNodes(model, m);
  if (model.collapsed(c, m)) return t('blockedMessage');
  const own = model.me && m.sender === model.me.id;
  const who = own ? t('you') : c.kind === 'direct' ? '' : senderName(model, m);
  const body = bodyText(m).replace(/\s+/g, ' ').slice(0, 120);
  // The speaker is isolated, so the preview takes the direction of the text itself and a long
  // text is cut at its end whatever the interface's direction.
  return who ? { who: who + ': ', body } : body;
}

export class ChatView {
  constructor(app) {
    this.app = app;
    addEventListener('pagehide', () => this.keepUnsent());
    this.model = app.model;
    this.client = app.client;
    this.key = null;
    this.reply = null; // the entry being answered
    this.editing = null; // the entry being edited
    this.lastTyping = 0;
    this.menu = null;
    this.revealed = new Set(); // `${key}:${seq}` of collapsed messages the person chose to show
    this.build();
  }

  get conv() {
    return this.key ? this.model.get(this.key) : null;
  }

  get timeline() {
    return this.model.timeline(this.key);
  }

  build() {
    this.title = h('h2', { id: 'chat-title', dir: 'auto' });
    this.subtitle = h('div', { class: 'ch-sub', id: 'chat-sub', 'aria-live': 'polite' });
    this.avatarSlot = h('div', { class: 'ch-avatar' });
    this.head = h('header', { class: 'chat-head' },
      h('button', { type: 'button', class: 'icon-btn back-btn', id: 'back-btn', 'aria-label': t('back'), title: t('back'), onclick: () => this.app.closeChat() }, icon('back')),
      this.avatarSlot,
      h('button', { type: 'button', class: 'ch-title', onclick: () => this.openInfo() }, this.title, this.subtitle),
      h('button', { type: 'button', class: 'icon-btn', id: 'info-btn', 'aria-label': t('info'), title: t('info'), onclick: () => this.openInfo() }, icon('info')),
      this.moreBtn = h('button', {
        type: 'button', class: 'icon-btn', id: 'chat-menu-btn', 'aria-label': t('chatActions'), title: t('chatActions'),
        'aria-haspopup': 'menu', onclick: () => this.openChatMenu(),
      }, icon('more')),
    );
    this.scroller = h('div', {
      class: 'messages', id: 'messages', tabindex: 0, role: 'list', 'aria-label': t('messages'),
      onkeydown: (e) => this.listKeys(e),
      oncontextmenu: (e) => {
        const row = e.target.closest('.msg');
        if (row) {
          e.preventDefault();
          this.openMenu(row);
        }
      },
    });
    this.loading = h('div', { class: 'loading-older', role: 'status' }, t('loadingOlder'));
    this.loading.hidden = true;
    this.toBottom = h('button', { type: 'button', class: 'to-bottom icon-btn', id: 'to-bottom', 'aria-label': t('toBottom'), title: t('toBottom'), onclick: () => this.vlist.scrollToBottom() }, icon('down'));
    this.toBottom.hidden = true;
    this.vlist = new VList(this.scroller, {
      key: (m) => (m.kind === 'start' ? 'start' : m.pending ? 'c' + m.client_id : 's' + m.seq),
      sig: (m, i, items) => this.sig(m, i, items),
      render: (m, i, items) => this.renderRow(m, i, items),
      onNearTop: () => this.loadOlder(),
      onScroll: (atBottom) => {
        this.toBottom.hidden = atBottom;
        if (atBottom) this.maybeMarkRead();
      },
    });

    this.input = h('textarea', {
      id: 'composer-input', rows: 1, dir: 'auto', placeholder: t('message'), 'aria-label': t('message'),
      onkeydown: (e) => this.composerKeys(e),
      oninput: () => this.onInput(),
    });
    this.contextBar = h('div', { class: 'context-bar', id: 'context-bar' });
    this.contextBar.hidden = true;
    this.emojiBtn = h('button', {
      type: 'button', class: 'icon-btn emoji-btn', id: 'emoji-btn', 'aria-label': t('emoji'), title: t('emoji'),
      'aria-haspopup': 'menu', onclick: () => this.openEmoji(),
    }, icon('smile'));
    this.form = h('form', { class: 'composer-row', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.emojiBtn,
      this.input,
      h('button', { type: 'submit', class: 'icon-btn send-btn', id: 'send-btn', 'aria-label': t('send'), title: t('send') }, icon('send')));
    this.leftNote = h('div', { class: 'left-note', id: 'left-note' },
      h('p', null, t('leftNote')),
      h('button', { type: 'button', id: 'remove-left', onclick: () => this.app.forget(this.key) }, t('removeFromList')));
    this.blockedText = h('p', { id: 'blocked-text' });
    this.blockedNote = h('div', { class: 'blocked-note', id: 'blocked-note', role: 'group', 'aria-labelledby': 'blocked-text' },
      this.blockedText,
      h('button', { type: 'button', id: 'composer-unblock', onclick: () => this.unblockPeer() }, t('unblock')));
    this.blockedNote.hidden = true;
    // A bot's chat: its commands offered while typing "/", and Start before anything was said.
    this.botCommands = h('ul', { class: 'bot-commands', id: 'bot-commands', role: 'listbox', 'aria-label': t('botCommands'), hidden: true });
    this.startBtn = h('button', { type: 'button', class: 'primary start-btn', id: 'bot-start', hidden: true, onclick: () => this.sendText('/start') }, t('startBot'));
    this.composer = h('footer', { class: 'composer' }, this.botCommands, this.startBtn, this.contextBar, this.form, this.leftNote, this.blockedNote);

    this.placeholder = h('div', { class: 'chat-empty', id: 'chat-empty' }, h('p', null, t('pickChat')));
    // The pinned message, under the header: a click shows it in place.
    this.pinText = h('span', { class: 'pin-text', dir: 'auto' });
    this.pinBar = h('button', {
      type: 'button', class: 'pin-bar', id: 'pin-bar', hidden: true,
      onclick: () => { if (this.conv && this.conv.pinned) this.showMessage(this.conv.pinned); },
    }, h('b', null, t('pinnedMessage')), this.pinText);
    this.body = h('section', { class: 'chat-body', 'aria-labelledby': 'chat-title' },
      this.head,
      this.pinBar, h('div', { class: 'messages-wrap' }, this.scroller, this.loading, this.toBottom), this.composer);
    this.body.hidden = true;
    this.el = h('div', { class: 'chat' }, this.placeholder, this.body);
  }

  /**
   * Watch whether the open direct chat's person is online (a watch lasts as long as the
   * connection: called again after each reconnect, and when their setting changed).
   */
  watchPresence() {
    const peer = this.peer;
    const users = peer ? [peer.id] : [];
    const watched = this.watched || [];
    if (this.client.state !== 'online' && this.client.state !== 'syncing') return;
    if (!users.length && !watched.length) return;
    this.watched = users;
    this.client.call('watch_presence', { users }).then((r) => {
      for (const u of users) this.model.setPresence(r.presence.find((p) => p.user === u) || { user: u, online: false });
      if (peer && this.peer && this.peer.id === peer.id) this.renderHeader();
    }, () => { this.watched = null; });
  }

  show(key) {
    if (this.key !== key) {
      this.keepUnsent();
      this.cancelContext();
      // What I had typed here and not sent is back.
      this.input.value = prefs.unsent()[key] || '';
      this.closeMenu();
    }
    if (this.key !== key) {
      // Opened with unread messages: a "new messages" line before the first, and a jump to it.
      const opened = this.model.get(key);
      this.unreadFrom = opened && opened.id != null && opened.unread > 0 ? (opened.read_seq || 0) + 1 : null;
      // A run longer than a few pages opens at the newest, as before.
      this.jumpTries = this.unreadFrom && opened.unread <= 4 * OLDER_PAGE ? 5 : 0;
    }
    this.key = key;
    this.placeholder.hidden = true;
    this.body.hidden = false;
    this.renderHeader();
    const c = this.conv;
    const tl = this.timeline;
    if (c && c.id == null) {
      tl.loaded = true;
      tl.hasOlder = false;
    }
    this.vlist.stick = true;
    this.renderRows();
    this.vlist.scrollToBottom();
    if (!tl.loaded) this.loadNewest();
    else this.jumpToUnread();
    this.loadMembers();
    this.maybeMarkRead();
    this.watchPresence();
    this.loadPeerProfile();
    this.renderBotBits();
  }

  /**
   * Once the first unread message is loaded, scroll it to the top (loading older pages a few
   * times if the unread run is longer than a page).
   */
  jumpToUnread() {
    if (!this.jumpTries) return;
    const tl = this.timeline;
    if (this.newLineSeq != null) {
      this.jumpTries = 0;
      this.vlist.scrollToIndex(this.vlist.indexOfKey('s' + this.newLineSeq));
      this.toBottom.hidden = this.vlist.stick;
    } else if (!tl.loaded) {
      // The first page is on its way; loadNewest calls again.
    } else if (tl.hasOlder && --this.jumpTries > 0) {
      this.loadOlder().then(() => this.jumpToUnread());
    } else {
      this.jumpTries = 0;
      this.vlist.scrollToBottom();
    }
  }

  hide() {
    this.keepUnsent();
    this.key = null;
    this.closeMenu();
    this.body.hidden = true;
    this.placeholder.hidden = false;
  }

  focusComposer() {
    if (!this.input.disabled && !this.conv?.left && !this.form.hidden) this.input.focus();
  }

  /** The peer of the open direct chat ({id, handle, display_name}), or null. */
  get peer() {
    const c = this.conv;
    return c && c.kind === 'direct' && c.peer ? c.peer : null;
  }

  /** A feed event touched this conversation. */
  onChange(r) {
    this.renderHeader();
    if (r.timeline) this.renderRows();
    if (r.marks) this.vlist.refresh();
    const c = this.conv;
    if (c && c.membersStale) this.loadMembers();
    this.maybeMarkRead();
  }

  /** After a reconnect: load what this view still lacks. */
  onSynced() {
    if (!this.key) return;
    if (!this.timeline.loaded) this.loadNewest();
    this.loadMembers();
  }

  async loadNewest() {
    const c = this.conv;
    const tl = this.timeline;
    if (!c || c.id == null || tl.loading) return;
    tl.loading = true;
    try {
      const r = await this.client.call('history', { conversation: c.id, limit: FIRST_PAGE });
      tl.addPage(r.messages, FIRST_PAGE, null);
      if (r.messages.length) tl.floor = Math.min(tl.floor ?? Infinity, r.messages[0].seq);
    } catch (e) {
      if (e.code !== 'offline' && e.code !== 'disconnected') toast(errorText(e));
    } finally {
      tl.loading = false;
    }
    if (this.key === String(c.id)) {
      this.renderRows();
      this.jumpToUnread();
      this.maybeMarkRead();
    }
  }

  async loadOlder() {
    const c = this.conv;
    const tl = this.timeline;
    if (!c || c.id == null || tl.loading || !tl.loaded || !tl.hasOlder) return;
    const before = tl.floor ?? tl.oldestSeq();
    if (before == null || before <= 1) {
      tl.hasOlder = false;
      this.renderRows();
      return;
    }
    tl.loading = true;
    this.loading.hidden = false;
    try {
      const r = await this.client.call('history', { conversation: c.id, before, limit: OLDER_PAGE });
      tl.addPage(r.messages, OLDER_PAGE, before);
      if (r.messages.length) tl.floor = Math.min(tl.floor ?? Infinity, r.messages[0].seq);
      if (tl.floor <= 1) tl.hasOlder = false;
    } catch {
      // Offline: scrolling up again retries.
    } finally {
      tl.loading = false;
      this.loading.hidden = true;
    }
    if (this.key === String(c.id)) this.renderRows();
  }

  async loadMembers() {
    const c = this.conv;
    if (!c || c.id == null || c.left || this.membersLoading) return;
    this.membersLoading = true;
    try {
      const r = await this.client.call('members', { conversation: c.id });
      this.model.setMembers(String(c.id), r.members);
      if (this.key === String(c.id)) {
        this.renderHeader();
        this.vlist.refresh();
      }
    } catch {
      // Not allowed any more, or offline: markers stay as they are.
    } finally {
      this.membersLoading = false;
    }
  }

  /** The pinned message's bar: its text, from the timeline or fetched once. */
  renderPin() {
    const c = this.conv;
    const seq = c && c.pinned;
    this.pinBar.hidden = !seq;
    if (!seq) return;
    const key = this.key;
    const m = this.timeline.get(seq) || (this.pinCache && this.pinCache.key === key + ':' + seq ? this.pinCache.m : null);
    this.pinText.textContent = m ? bodyText(m).replace(/\s+/g, ' ').slice(0, 160) : '';
    if (m || (this.pinCache && this.pinCache.key === key + ':' + seq)) return;
    this.pinCache = { key: key + ':' + seq, m: null };
    this.client.call('history', { conversation: c.id, before: seq + 1, limit: 1 }).then((r) => {
      const found = r.messages.find((x) => x.seq === seq);
      if (!found || !this.pinCache || this.pinCache.key !== key + ':' + seq) return;
      this.pinCache.m = found;
      if (this.key === key) this.renderPin();
    }, () => { this.pinCache = null; });
  }

  /** Pin a message (or unpin the pinned one) for everyone in the conversation. */
  pin(m) {
    const c = this.conv;
    const unpin = c.pinned === m.seq;
    this.client.enqueue({
      method: 'pin', conv: this.key,
      params: { conversation: c.id, seq: unpin ? null : m.seq, client_id: newClientId() },
    });
  }

  /** Forward a message: pick a chat, and it goes there as it is. */
  forward(m) {
    const from = this.conv.id;
    const model = this.model;
    const app = this.app;
    return openDialog(t('forwardTo'), (close) => {
      const list = h('ul', { class: 'members', id: 'forward-list' });
      const filter = h('input', {
        type: 'search', id: 'forward-filter', dir: 'auto', autocomplete: 'off', placeholder: t('searchChats'), 'aria-label': t('searchChats'),
        oninput: () => draw(),
      });
      const draw = () => {
        const q = filter.value.trim().toLowerCase();
        const chats = model.conversations().filter((c) => c.id != null && !c.left && !c.draft && (!q || c.title.toLowerCase().includes(q)));
        list.replaceChildren(...chats.slice(0, 50).map((c) => h('li', { 'data-key': String(c.id) },
          h('button', {
            type: 'button', class: 'fwd-target',
            onclick: () => {
              app.client.enqueue({
                method: 'forward', conv: String(c.id),
                params: { conversation: c.id, from, seq: m.seq, client_id: newClientId() },
              });
              toast(t('forwarded', { title: c.title }));
              close(c.id);
            },
          }, avatar(c.title, c.peer ? c.peer.id : c.id, c.kind), h('b', { dir: 'auto' }, c.title)))));
      };
      draw();
      return h('div', { class: 'dlg-body' }, filter, list);
    }, { id: 'forward' });
  }

  /** The handle, then "online" or "last seen 5 minutes ago" when they show it. */
  presenceLine(peer) {
    const p = this.model.presence.get(peer.id);
    let seen = null;
    if (p && p.online) seen = t('online');
    else if (p && p.last_seen != null) seen = t('lastSeen', { when: ago(p.last_seen) });
    const handle = h('bdi', { dir: 'ltr' }, '@' + peer.handle);
    const profile = this.profiles && this.profiles.get(peer.id);
    if (profile && profile.bot) return [handle, h('span', { class: 'bot-label', id: 'bot-label' }, ' · ' + t(profile.bot.kind === 'service' ? 'serviceLabel' : 'botLabel'))];
    if (!seen) return [handle];
    return [handle, h('span', { class: p.online ? 'presence online' : 'presence', id: 'chat-presence' }, ' · ' + seen)];
  }

  renderHeader() {
    const c = this.conv;
    if (!c) return;
    this.title.textContent = c.title;
    this.avatarSlot.replaceChildren(avatar(c.title, c.peer ? c.peer.id : c.id, c.kind));
    const typing = this.model.typingIn(this.key).map((x) => this.model.displayName(x.user, '@' + x.handle));
    let sub;
    if (typing.length) sub = tn(typing.length > 1 ? 'areTyping' : 'isTyping', { names: typing.join(', ') });
    else if (c.kind === 'direct' && c.peer) sub = this.presenceLine(c.peer);
    else sub = [t('membersN', { n: num(c.member_count || 0) })];
    this.subtitle.replaceChildren(...sub);
    this.subtitle.classList.toggle('typing', typing.length > 0);
    const left = Boolean(c.left);
    const peer = this.peer;
    const blocked = Boolean(peer && this.model.isBlocked(peer.id));
    this.moreBtn.hidden = !peer && c.id == null;
    this.form.hidden = left || blocked;
    this.leftNote.hidden = !left;
    this.blockedNote.hidden = left || !blocked;
    if (blocked) this.blockedText.replaceChildren(...tn('youBlocked', { handle: '@' + peer.handle }));
    this.renderPin();
    if (left || blocked) this.contextBar.hidden = true;
  }

  renderRows() {
    if (!this.key) return;
    const tl = this.timeline;
    // What I deleted for myself is not shown (it keeps its place in the server's pages).
    let items = tl.items().filter((m) => !m.hidden);
    if (tl.loaded && !tl.hasOlder) items = [{ kind: 'start', empty: items.length === 0 }, ...items];
    const firstNew = this.unreadFrom == null ? null : items.find((m) => m.seq >= this.unreadFrom && !m.pending && !this.isOwn(m));
    this.newLineSeq = firstNew ? firstNew.seq : null;
    this.vlist.setItems(items);
    this.renderBotBits();
    this.toBottom.hidden = this.vlist.stick;
  }

  // ---- rows -------------------------------------------------------------------------------

  statusOf(m) {
    if (m.pending) return m.failed ? 'failed' : 'sending';
    return this.model.status(this.key, m.seq);
  }

  isOwn(m) {
    return Boolean(m.pending) || (this.model.me && m.sender === this.model.me.id);
  }

  flags(m, i, items) {
    const prev = i > 0 ? items[i - 1] : null;
    const day = !prev || prev.kind === 'start' || !sameDay(prev.server_time, m.server_time);
    const first = day || !prev || prev.kind === 'system' || this.isOwn(prev) !== this.isOwn(m) ||
      prev.sender !== m.sender || m.server_time - prev.server_time > RUN_GAP_MS;
    return { day, first };
  }

  sig(m, i, items) {
    if (m.kind === 'start') return 'start' + m.empty;
    const f = this.flags(m, i, items);
    const quote = m.reply_to ? (this.timeline.get(m.reply_to)?.rev ?? -1) : '';
    const status = this.isOwn(m) ? this.statusOf(m) : '';
    return `${m.rev}|${f.day}|${f.first}|${status}|${quote}|${this.key}|${this.model.usersVersion}|${this.model.blockedVersion}|${this.isCollapsed(m)}|${m.seq === this.newLineSeq}`;
  }

  /** A group message from someone I block, not chosen to be shown. */
  isCollapsed(m) {
    return this.model.collapsed(this.conv, m) && !this.revealed.has(this.key + ':' + m.seq);
  }

  /** Shows a collapsed message (and keeps the focus on it). */
  reveal(seq) {
    this.revealed.add(this.key + ':' + seq);
    this.vlist.refresh();
    const el = this.vlist.reveal(this.vlist.indexOfKey('s' + seq));
    if (el) el.focus({ preventScroll: true });
  }

  renderRow(m, i, items) {
    if (m.kind === 'start') {
      const c = this.conv;
      const text = m.empty && c && c.id == null ? t('sayHello', { name: c.title }) : t('start');
      return h('div', { class: 'row start-row' }, h('span', null, text));
    }
    const f = this.flags(m, i, items);
    const dayLine = f.day ? h('div', { class: 'day' }, h('span', null, dayOf(m.server_time))) : null;
    const day = m.seq === this.newLineSeq && !m.pending
      ? [dayLine, h('div', { class: 'new-line', id: 'new-messages', role: 'separator' }, h('span', null, t('newMessages')))]
      : dayLine;
    if (m.kind === 'system') {
      return h('div', { class: 'row sys-row', role: 'listitem', 'data-seq': m.seq }, day,
        h('div', { class: 'sys' }, systemNodes(this.model, m)));
    }
    const own = this.isOwn(m);
    const c = this.conv;
    const group = c && c.kind !== 'direct';
    if (this.isCollapsed(m)) {
      return h('div', {
        class: `row msg collapsed${f.first ? ' first' : ''}`, role: 'listitem', tabindex: -1,
        'data-seq': m.seq, 'data-own': 'false', 'data-collapsed': 'true',
      }, day, h('div', { class: 'msg-line' },
        h('button', {
          type: 'button', class: 'bubble blocked-msg', tabindex: -1, 'aria-expanded': 'false',
          onclick: (e) => {
            e.stopPropagation();
            this.reveal(m.seq);
          },
        }, h('span', { class: 'text' }, t('blockedMessage')), ' ', h('span', { class: 'show-it' }, t('showIt')))));
    }
    const sender = !own && group && f.first
      ? h('div', { class: 'sender', dir: 'auto' }, senderName(this.model, m))
      : null;
    let quote = null;
    if (m.reply_to) {
      const target = this.timeline.get(m.reply_to);
      quote = h('button', {
        type: 'button', class: 'quote', tabindex: -1, 'data-seq': m.reply_to,
        onclick: (e) => {
          e.stopPropagation();
          this.jumpTo(m.reply_to);
        },
      },
      h('b', { dir: 'auto' }, target ? senderName(this.model, target) : '#' + num(m.reply_to)),
      h('span', { dir: 'auto' }, !target ? '' : this.isCollapsed(target) ? t('blockedMessage') : bodyText(target).slice(0, 140)));
    }
    const status = own ? this.statusOf(m) : null;
    const statusIcon = status && h('span', { class: 'status', 'data-status': status, title: t('status.' + status) },
      icon(status === 'sending' ? 'clock' : status === 'failed' ? 'close' : status === 'sent' ? 'check' : 'checks', t('status.' + status)));
    const reactions = m.reactions && m.reactions.length
      ? h('div', { class: 'reactions' }, m.reactions.map((r) => {
        const mine = m.mine && m.mine.has(r.emoji);
        return h('button', {
          type: 'button', class: 'chip' + (mine ? ' mine' : ''), tabindex: -1, 'aria-pressed': String(Boolean(mine)),
          'aria-label': `${r.emoji} ${num(r.count)}`,
          onclick: (e) => {
            e.stopPropagation();
            this.react(m, r.emoji);
          },
        }, r.emoji, ' ', h('span', null, num(r.count)));
      }))
      : null;
    const forwarded = m.forward
      ? h('div', { class: 'fwd-from', dir: 'auto' }, tn('forwardedFrom', { name: this.model.displayName(m.forward.from.id, m.forward.from.display_name || '@' + m.forward.from.handle) }))
      : null;
    const bubble = h('div', { class: 'bubble' },
      sender,
      forwarded,
      quote,
      h('div', { class: 'text' + (m.deleted ? ' deleted' : ''), dir: 'auto' },
        m.deleted || m.text == null ? bodyText(m) : m.entities && m.entities.length ? richText(m.text, m.entities) : linked(m.text)),
      this.keyboard(m),
      h('div', { class: 'meta' },
        m.edited_at && !m.deleted ? h('span', { class: 'edited' }, t('edited')) : null,
        h('time', null, timeOf(m.server_time)),
        statusIcon),
      reactions,
      m.failed && m.error ? h('div', { class: 'fail-note', dir: 'auto' }, m.error) : null);
    const more = m.pending || m.deleted ? null : h('button', {
      type: 'button', class: 'icon-btn row-menu', tabindex: -1, 'aria-label': t('actions'), title: t('actions'),
      onclick: (e) => {
        e.stopPropagation();
        this.openMenu(e.currentTarget.closest('.msg'));
      },
    }, icon('more'));
    return h('div', {
      class: `row msg${own ? ' own' : ''}${f.first ? ' first' : ''}${m.pending ? ' pending' : ''}`,
      role: 'listitem', tabindex: -1, 'data-seq': m.seq, 'data-client-id': m.client_id, 'data-status': status,
      'data-own': String(own),
    }, day, h('div', { class: 'msg-line' }, bubble, more));
  }

  /** A bot's buttons under its message: callback buttons press, link buttons open. */
  keyboard(m) {
    const rows = !m.deleted && m.reply_markup && m.reply_markup.inline_keyboard;
    if (!rows || !rows.length) return null;
    return h('div', { class: 'keyboard', role: 'group' }, rows.map((row) => h('div', { class: 'kb-row' }, row.map((b) => {
      if (b.url) {
        return h('a', { class: 'kb-btn', href: b.url, target: '_blank', rel: 'noopener noreferrer', dir: 'auto' }, b.text, ' ↗');
      }
      return h('button', {
        type: 'button', class: 'kb-btn', dir: 'auto', 'data-callback': b.callback_data,
        disabled: Boolean(this.conv && this.conv.left),
        onclick: (e) => {
          e.stopPropagation();
          this.press(m, b, e.currentTarget);
        },
      }, b.text);
    }))));
  }

  /** Press a callback button; the bot's answer comes as a `callback_answer` event. */
  async press(m, b, el) {
    const c = this.conv;
    if (!c || c.id == null || el.classList.contains('busy')) return;
    el.classList.add('busy');
    el.setAttribute('aria-busy', 'true');
    const done = () => {
      el.classList.remove('busy');
      el.removeAttribute('aria-busy');
    };
    try {
      const r = await this.client.call('press_button', { conversation: c.id, seq: m.seq, data: b.callback_data });
      this.pressed = this.pressed || new Map();
      const timer = setTimeout(() => {
        if (this.pressed.delete(r.pressed.query_id)) {
          done();
          toast(t('botNoAnswer'));
        }
      }, PRESS_WAIT_MS);
      this.pressed.set(r.pressed.query_id, { done, timer });
    } catch (e) {
      done();
      toast(t('actionFailed', { reason: errorText(e) }));
    }
  }

  /** The bot answered a press: show its notice (a dialog when it asks for an alert). */
  onCallbackAnswer(a) {
    const waiting = this.pressed && this.pressed.get(a.query_id);
    if (waiting) {
      clearTimeout(waiting.timer);
      this.pressed.delete(a.query_id);
      waiting.done();
    }
    if (!a.text) return;
    if (!a.show_alert) {
      toast(a.text);
      return;
    }
    // Titled with the bot's name, so it is plain who speaks (not the app).
    const pressedOn = this.model.timeline(String(a.conversation)).get(a.seq);
    const conv = this.model.get(String(a.conversation));
    const title = pressedOn ? senderName(this.model, pressedOn) : conv ? conv.title : t('appName');
    openDialog(title, (close) => h('div', { class: 'dlg-body' },
      h('p', { dir: 'auto' }, a.text),
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', class: 'primary', id: 'bot-alert-ok', autofocus: true, onclick: () => close() }, t('ok')))),
    { id: 'bot-alert' });
  }

  /** Scrolls to entry `seq` if it is loaded and highlights it. */
  /** Show message `seq` (a search result, a pinned message): older pages load until it is there. */
  async showMessage(seq) {
    const key = this.key;
    const tl = this.timeline;
    for (let tries = 40; tries > 0 && this.key === key && !tl.get(seq); tries--) {
      if (tl.loading) await new Promise((r) => setTimeout(r, 50));
      else if (!tl.loaded) await this.loadNewest();
      else if (tl.hasOlder) await this.loadOlder();
      else break;
    }
    if (this.key !== key || !tl.get(seq)) return;
    this.jumpTries = 0;
    this.vlist.stick = false;
    this.jumpTo(seq);
    this.toBottom.hidden = false;
  }

  jumpTo(seq) {
    const i = this.vlist.indexOfKey('s' + seq);
    const el = this.vlist.reveal(i);
    if (el) {
      el.classList.add('flash');
      el.focus({ preventScroll: true });
      setTimeout(() => el.classList.remove('flash'), 1200);
    }
  }

  entryOf(row) {
    if (!row) return null;
    const key = row.dataset.key;
    return this.vlist.items[this.vlist.indexOfKey(key)] || null;
  }

  // ---- keyboard in the list ---------------------------------------------------------------

  listKeys(e) {
    if (e.target.closest('.menu')) return;
    const rows = () => [...this.scroller.querySelectorAll('.msg')].sort((a, b) => this.indexOf(a) - this.indexOf(b));
    const current = e.target.closest('.msg');
    const move = (dir) => {
      const keys = this.vlist.keys;
      let i = current ? this.vlist.indexOfKey(current.dataset.key) : dir < 0 ? keys.length : -1;
      for (i += dir; i >= 0 && i < keys.length; i += dir) {
        const item = this.vlist.items[i];
        if (item.kind !== 'system' && item.kind !== 'start') break;
      }
      if (i < 0 || i >= keys.length) return;
      const el = this.vlist.reveal(i);
      if (el) el.focus({ preventScroll: true });
    };
    if (e.key === 'ArrowUp') {
      e.preventDefault();
      move(-1);
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      if (current && current === rows().at(-1)) this.focusComposer();
      else move(1);
    } else if (e.key === 'End' && !current) {
      this.vlist.scrollToBottom();
    } else if (current && current.dataset.collapsed && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      const m = this.entryOf(current);
      if (m) this.reveal(m.seq);
    } else if (current && (e.key === 'Enter' || e.key === ' ' || e.key === 'ContextMenu')) {
      e.preventDefault();
      this.openMenu(current);
    } else if (current && e.key === 'Escape') {
      this.focusComposer();
    }
  }

  indexOf(el) {
    return this.vlist.indexOfKey(el.dataset.key);
  }

  // ---- the actions menu -------------------------------------------------------------------

  openMenu(row) {
    const m = this.entryOf(row);
    if (!m || m.pending || m.deleted || m.kind !== 'text' || this.isCollapsed(m)) return;
    this.closeMenu();
    const own = this.isOwn(m);
    const c = this.conv;
    const canWrite = !c.left;
    const close = () => this.closeMenu(false);
    const item = (label, fn, extra) => menuItem(label, fn, close, extra);
    const items = [];
    if (canWrite) {
      items.push(h('div', { class: 'quick-reactions', role: 'group' }, REACTIONS.map((emoji) =>
        item(emoji, () => this.react(m, emoji), { class: 'react-btn', 'aria-label': t('react', { emoji }), title: t('react', { emoji }) }))));
      items.push(item(t('reply'), () => this.startReply(m), { id: 'act-reply' }));
      if (own && m.text != null) items.push(item(t('edit'), () => this.startEdit(m), { id: 'act-edit' }));
    }
    if (c.id != null && m.text != null) items.push(item(t('forward'), () => this.forward(m), { id: 'act-forward' }));
    if (canWrite && c.id != null && (c.kind === 'direct' || c.role === 'owner' || c.role === 'admin')) {
      items.push(item(t(c.pinned === m.seq ? 'unpin' : 'pin'), () => this.pin(m), { id: 'act-pin' }));
    }
    if (m.text != null && navigator.clipboard) items.push(item(t('copy'), () => navigator.clipboard.writeText(m.text).catch(() => {}), { id: 'act-copy' }));
    if (own && canWrite) items.push(item(t('delete'), () => this.deleteEntry(m), { id: 'act-delete', class: 'danger' }));
    if (c.id != null) items.push(item(t('deleteForMe'), () => this.hideEntry(m), { id: 'act-hide', class: 'danger' }));
    const key = row.dataset.key;
    if (!own && canWrite && c.id != null) {
      const sender = this.senderOf(m);
      items.push(item(t('reportMessage'), () => this.reportEntry(m).then(() => this.refocus(key)), { id: 'act-report', class: 'danger' }));
      if (c.kind !== 'direct') {
        const blocked = this.model.isBlocked(sender.id);
        items.push(item(tn(blocked ? 'unblockUser' : 'blockUser', { handle: '@' + sender.handle }),
          () => (blocked ? this.unblock(sender) : this.block(sender)).then(() => this.refocus(key)), { id: 'act-block', class: blocked ? null : 'danger' }));
      }
    }
    this.menu = popupMenu(row.querySelector('.bubble'), items, {
      id: 'msg-menu', label: t('actions'), end: own,
      onClose: (refocus) => {
        this.menu = null;
        if (refocus) this.refocus(key);
      },
    });
  }

  /** Focus back on a row (after its menu, or a dialog opened from it), or on the chat's menu button. */
  refocus(rowKey) {
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected && !active.closest('.menu')) return;
    if (rowKey == null) {
      if (!this.moreBtn.hidden) this.moreBtn.focus();
      return;
    }
    const rowEl = this.vlist.reveal(this.vlist.indexOfKey(rowKey));
    if (rowEl) rowEl.focus({ preventScroll: true });
  }

  closeMenu(refocus = false) {
    if (this.menu) this.menu.close(refocus);
  }

  /** The emoji picker: a grid of buttons; the one chosen goes in at the cursor. */
  openEmoji() {
    this.closeMenu();
    const input = this.input;
    const insert = (emoji) => {
      const { selectionStart: a, selectionEnd: b, value } = input;
      input.value = value.slice(0, a) + emoji + value.slice(b);
      input.focus();
      input.setSelectionRange(a + emoji.length, a + emoji.length);
      this.onInput();
    };
    const items = EMOJI.map((emoji) => h('button', {
      type: 'button', role: 'menuitem', tabindex: -1, class: 'emoji-pick', 'aria-label': emoji,
      onclick: () => {
        this.closeMenu(false);
        insert(emoji);
      },
    }, emoji));
    this.emojiBtn.setAttribute('aria-expanded', 'true');
    this.menu = popupMenu(this.emojiBtn, items, {
      id: 'emoji-menu', label: t('emoji'),
      onClose: (refocus) => {
        this.menu = null;
        this.emojiBtn.setAttribute('aria-expanded', 'false');
        if (refocus) input.focus();
      },
    });
  }

  /** The chat's menu: mute or unmute; in a direct chat also contacts, block, report the peer. */
  openChatMenu() {
    const peer = this.peer;
    const key = this.key;
    if (!key) return;
    this.closeMenu();
    const close = () => this.closeMenu(false);
    const notifier = this.app.notifier;
    const after = () => {
      this.app.renderList();
      this.refocus();
    };
    const items = notifier.muted(key)
      ? [menuItem(t('unmute'), () => { notifier.unmute(key); after(); }, close, { id: 'act-unmute' })]
      : MUTE_FOR.map((x) => menuItem(t('muteFor.' + x.id), () => { notifier.mute(key, x.ms); after(); }, close, { id: 'act-mute-' + x.id }));
    const c = this.conv;
    if (c && c.id != null) {
      items.push(
        menuItem(t(c.archived ? 'unarchive' : 'archive'), () => this.archive(!c.archived), close, { id: 'act-archive' }),
        menuItem(t('deleteChat'), () => this.clearHistory(), close, { id: 'act-clear', class: 'danger' }));
    }
    if (peer) {
      const blocked = this.model.isBlocked(peer.id);
      const contact = this.model.isContact(peer.id);
      items.unshift(
        menuItem(t(contact ? 'removeContact' : 'addContact'), () => this.setContact(peer, !contact).then(() => this.refocus()), close, { id: 'act-contact' }),
        menuItem(tn(blocked ? 'unblockUser' : 'blockUser', { handle: '@' + peer.handle }),
          () => (blocked ? this.unblock(peer) : this.block(peer)).then(() => this.refocus()), close, { id: 'act-block', class: blocked ? null : 'danger' }));
      items.push(menuItem(tn('reportUser', { handle: '@' + peer.handle }), () => this.reportUser(peer).then(() => this.refocus()), close, { id: 'act-report-user', class: 'danger' }));
    }
    this.moreBtn.setAttribute('aria-expanded', 'true');
    this.menu = popupMenu(this.moreBtn, items, {
      id: 'chat-menu', label: t('chatActions'), end: true,
      onClose: (refocus) => {
        this.menu = null;
        this.moreBtn.setAttribute('aria-expanded', 'false');
        if (refocus) this.moreBtn.focus();
      },
    });
  }

  // ---- actions ----------------------------------------------------------------------------

  /** Archive this chat for me (or take it out): it moves under "Archived" in my list. */
  async archive(archived) {
    const c = this.conv;
    try {
      await this.client.call('archive', { conversation: c.id, archived });
      c.archived = archived;
      this.app.renderList();
      toast(t(archived ? 'archivedToast' : 'unarchivedToast'));
      if (archived) this.app.closeChat();
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
    }
  }

  /** Delete this chat's history for me (the others keep theirs); a group I left goes too. */
  async clearHistory() {
    const c = this.conv;
    const key = this.key;
    if (!(await confirmDialog(t('confirmDeleteChat'), t('deleteChat')))) return;
    try {
      await this.client.call('clear_history', { conversation: c.id });
      this.model.forget(key);
      this.app.closeChat();
      this.app.renderList();
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
    }
  }

  /** The sender of entry `m` as a user ({id, handle, display_name}). */
  senderOf(m) {
    return this.model.users.get(m.sender) || { id: m.sender, handle: m.sender_handle, display_name: m.sender_handle };
  }

  async block(user) {
    if (!(await confirmDialog(tn('confirmBlock', { handle: '@' + user.handle }), t('block')))) return;
    try {
      await this.client.call('block', { handle: user.handle });
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
      return;
    }
    this.model.setBlock(user, true);
    this.app.afterBlockChange();
    toast(tn('blockedToast', { handle: '@' + user.handle }));
  }

  async unblock(user) {
    try {
      await this.client.call('unblock', { handle: user.handle });
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
      return false;
    }
    this.model.setBlock(user, false);
    this.app.afterBlockChange();
    toast(tn('unblockedToast', { handle: '@' + user.handle }));
    return true;
  }

  async unblockPeer() {
    const peer = this.peer;
    if (peer && (await this.unblock(peer))) this.focusComposer();
  }

  async setContact(user, on) {
    try {
      await this.client.call(on ? 'add_contact' : 'remove_contact', { handle: user.handle });
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
      return;
    }
    this.model.setContact(user, on);
    toast(tn(on ? 'contactAdded' : 'contactRemoved', { handle: '@' + user.handle }));
  }

  reportEntry(m) {
    const sender = this.senderOf(m);
    const name = this.model.displayName(sender.id, '@' + sender.handle);
    return reportDialog(this.app, { conversation: this.conv.id, seq: m.seq }, { label: tn('reportAbout', { name }), text: bodyText(m) });
  }

  reportUser(user) {
    return reportDialog(this.app, { handle: user.handle }, { label: tn('reportAboutUser', { name: user.display_name || user.handle, handle: '@' + user.handle }) });
  }

  react(m, emoji) {
    const remove = Boolean(m.mine && m.mine.has(emoji));
    this.client.enqueue({
      method: 'react', conv: this.key,
      params: { conversation: this.conv.id, seq: m.seq, client_id: newClientId(), emoji, remove },
    });
  }

  async deleteEntry(m) {
    const key = this.key;
    if (!(await confirmDialog(t('confirmDelete'), t('delete')))) return;
    this.client.enqueue({
      method: 'delete', conv: key,
      params: { conversation: Number(key), seq: m.seq, client_id: newClientId() },
    });
    this.focusComposer();
  }

  /** Delete a message for me only: it goes from my history (on my other devices too). */
  async hideEntry(m) {
    const key = this.key;
    if (!(await confirmDialog(t('confirmDeleteForMe'), t('deleteForMe')))) return;
    try {
      await this.client.call('hide_message', { conversation: Number(key), seq: m.seq });
      m.hidden = true;
      this.timeline.version++;
      if (this.key === key) this.renderRows();
    } catch (e) {
      toast(t('actionFailed', { reason: errorText(e) }));
    }
    this.focusComposer();
  }

  startReply(m) {
    this.editing = null;
    this.reply = m;
    this.showContext(t('replyTo', { name: senderName(this.model, m) }), bodyText(m));
    this.focusComposer();
  }

  startEdit(m) {
    this.reply = null;
    this.editing = m;
    this.showContext(t('editing'), bodyText(m));
    this.input.value = m.text || '';
    this.focusComposer();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  showContext(label, text) {
    this.contextBar.replaceChildren(
      icon(this.editing ? 'compose' : 'reply'),
      h('div', { class: 'ctx-text' }, h('b', null, label), h('span', { dir: 'auto' }, text.slice(0, 200))),
      h('button', { type: 'button', class: 'icon-btn', id: 'ctx-cancel', 'aria-label': t('cancel'), title: t('cancel'), onclick: () => { this.cancelContext(); this.focusComposer(); } }, icon('close')));
    this.contextBar.hidden = false;
  }

  cancelContext() {
    if (this.editing) this.input.value = (this.key && prefs.unsent()[this.key]) || '';
    this.reply = null;
    this.editing = null;
    this.contextBar.hidden = true;
  }

  composerKeys(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'Escape' && (this.reply || this.editing)) {
      e.preventDefault();
      this.cancelContext();
    } else if (e.key === 'Escape' && this.app.narrow()) {
      this.app.closeChat();
    } else if (e.key === 'ArrowUp' && !this.input.value) {
      const own = this.timeline.items().filter((m) => !m.pending && !m.deleted && m.kind === 'text' && this.isOwn(m) && m.text != null);
      if (own.length) {
        e.preventDefault();
        this.startEdit(own[own.length - 1]);
      } else if (this.vlist.keys.length) {
        e.preventDefault();
        this.scroller.focus();
        this.listKeys({ key: 'ArrowUp', target: this.scroller, preventDefault() {} });
      }
    }
  }

  /** Keeps what is typed in the composer (not an edit) for this conversation. */
  keepUnsent() {
    clearTimeout(this.unsentTimer);
    if (this.key && !this.editing) prefs.setUnsent(this.key, this.input.value);
  }

  /** The profile of the open direct chat's person (once per person): is it a bot, and what can it do. */
  loadPeerProfile() {
    const peer = this.peer;
    if (!peer) return;
    this.profiles = this.profiles || new Map();
    if (this.profiles.has(peer.id)) return;
    this.profiles.set(peer.id, null);
    this.client.call('profile', { handle: peer.handle }).then((r) => {
      this.profiles.set(peer.id, r.profile);
      if (this.peer && this.peer.id === peer.id) {
        this.renderHeader();
        this.renderBotBits();
      }
    }, () => this.profiles.delete(peer.id));
  }

  /** The open chat's bot, if it is one: {kind, commands}. */
  get bot() {
    const peer = this.peer;
    const p = peer && this.profiles && this.profiles.get(peer.id);
    return (p && p.bot) || null;
  }

  /** Start (a bot's chat with nothing said yet) and the commands matching what is typed. */
  renderBotBits() {
    const bot = this.bot;
    const tl = this.timeline;
    const empty = tl.loaded && !tl.items().some((m) => m.kind === 'text');
    this.startBtn.hidden = !bot || !empty || this.form.hidden;
    const typed = this.input.value;
    const match = /^\/(\w*)$/.exec(typed);
    const commands = bot && match && !this.editing ? (bot.commands || []).filter((c) => c.command.startsWith(match[1])) : [];
    this.botCommands.hidden = !commands.length;
    this.botCommands.replaceChildren(...commands.map((c) => h('li', { role: 'option' }, h('button', {
      type: 'button', class: 'bot-command', dataset: { command: c.command },
      onclick: () => {
        this.input.value = '';
        this.sendText('/' + c.command);
      },
    }, h('b', { dir: 'ltr' }, '/' + c.command), ' ', h('span', { class: 'muted', dir: 'auto' }, c.description)))));
  }

  /** Send a text as if typed (Start, a bot's command). */
  sendText(text) {
    this.input.value = text;
    this.submit();
    this.renderBotBits();
  }

  onInput() {
    this.renderBotBits();
    clearTimeout(this.unsentTimer);
    this.unsentTimer = setTimeout(() => {
      this.keepUnsent();
      this.app.renderList();
    }, 400);
    const c = this.conv;
    if (!c || c.id == null || !this.input.value || this.editing) return;
    const now = Date.now();
    if (now - this.lastTyping < 3000) return;
    this.lastTyping = now;
    this.client.call('typing', { conversation: c.id }).catch(() => {});
  }

  submit() {
    const c = this.conv;
    const text = this.input.value.trim();
    if (!c || !text || c.left || this.form.hidden) return;
    const max = (this.client.limits && this.client.limits.max_text_chars) || 4096;
    if ([...text].length > max) {
      toast(t('err.too_large'));
      return;
    }
    const client_id = newClientId();
    if (this.editing) {
      this.client.enqueue({
        method: 'edit', conv: this.key,
        params: { conversation: c.id, seq: this.editing.seq, client_id, text },
      });
    } else {
      const params = c.id != null ? { conversation: c.id, client_id, text } : { peer: c.peer.handle, client_id, text };
      if (this.reply) params.reply_to = this.reply.seq;
      const me = this.model.me;
      const pending = {
        client_id, text, reply_to: params.reply_to, kind: 'text', conversation: c.id,
        sender: me.id, sender_handle: me.handle, server_time: Date.now(),
      };
      this.timeline.addPending(pending);
      this.client.enqueue({ method: 'send', conv: this.key, params, pending });
    }
    // An edit gives the composer back what was typed before it; a send clears that.
    if (this.editing) this.input.value = prefs.unsent()[this.key] || '';
    else {
      this.input.value = '';
      prefs.setUnsent(this.key, '');
    }
    this.reply = null;
    this.editing = null;
    this.contextBar.hidden = true;
    this.lastTyping = 0;
    this.vlist.stick = true;
    this.renderRows();
    this.vlist.scrollToBottom();
  }

  /** Marks everything shown as read when the newest message is in view and the page is visible. */
  maybeMarkRead() {
    const c = this.conv;
    if (!c || c.id == null || document.visibilityState !== 'visible' || !this.vlist.stick) return;
    const newest = this.timeline.newestSeq();
    if (newest && this.model.markRead(this.key, newest)) {
      this.client.mark(c.id, { read: newest });
      this.app.renderList();
    }
  }

  openInfo() {
    if (this.conv) infoDialog(this.app, this.key);
  }
}
