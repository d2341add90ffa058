// The signed-in screen: connection status, group invitations waiting for an answer, the
// conversation list, and the open conversation. On a wide screen both panes show side by side;
// on a phone one at a time (data-view).

import { h, icon } from '../util.js';
import { t, tn, num, shortWhen, errorText } from '../i18n.js';
import { convKey } from '../model.js';
import { avatar, toast } from './common.js';
import { ChatView, previewText } from './chat.js';
import { newChatDialog, newGroupDialog, settingsDialog } from './dialogs.js';
import { recoveryKeyDialog } from './account.js';
import { prefs } from '../storage.js';
import { Notifier } from './notify.js';

export class App {
  constructor(root, client, model) {
    this.root = root;
    this.client = client;
    this.model = model;
    this.listFrame = 0;
    this.refreshTimer = null;
    this.typingTimer = null;
    this.openKey = null;
    this.wantedKey = decodeURIComponent((location.hash.match(/^#c=(.+)$/) || [])[1] || '') || null;
    // A person's link (#u=handle): their chat opens once signed in.
    this.wantedPeer = (location.hash.match(/^#u=@?([A-Za-z0-9_]{1,64})$/) || [])[1] || null;
    this.notifier = new Notifier(this);
    this.restoreOutbox();
    this.wire();
    this.build();
    setInterval(() => this.renderStatus(), 1000);
  }

  /** Our sends still in the outbox (from before a reload) show as pending. */
  restoreOutbox() {
    for (const e of this.client.outbox) {
      if (e.method === 'send' && e.pending) this.model.timeline(e.conv).addPending(e.pending);
    }
  }

  wire() {
    const c = this.client;
    const m = this.model;
    c.addEventListener('state', () => this.renderStatus());
    c.addEventListener('outbox', () => this.renderStatus());
    c.addEventListener('synced', () => {
      if (this.wantedPeer) this.openPeerLink();
      this.refreshList(0);
      this.loadSafety();
      // A watch ends with its connection.
      this.chat.watched = null;
      this.chat.watchPresence();
    });
    c.addEventListener('reset', () => {
      m.timelines.clear();
      this.restoreOutbox();
      this.refreshList(0);
      if (this.openKey) this.chat.show(this.openKey);
    });
    c.addEventListener('feed', (e) => {
      const r = m.applyFeed(e.detail);
      // Live only: what arrives while catching up after a reconnect is not news.
      if (c.state === 'online' && e.detail.event.message) this.notifier.onMessage(e.detail.event.message, convKey({ id: e.detail.event.message.conversation }));
      if (r.invitations) this.renderInvites();
      if (r.refresh) this.refreshList();
      if (r.list) this.renderList();
      if (r.key && r.key === this.openKey) this.chat.onChange(r);
    });
    c.addEventListener('typing', (e) => {
      const key = m.setTyping(e.detail);
      this.renderList();
      if (key === this.openKey) this.chat.renderHeader();
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => {
        this.renderList();
        if (this.openKey) this.chat.renderHeader();
      }, 6500);
    });
    c.addEventListener('callback_answer', (e) => this.chat.onCallbackAnswer(e.detail));
    c.addEventListener('presence', (e) => {
      const reset = m.setPresence(e.detail);
      const peer = this.chat.peer;
      if (!peer || peer.id !== e.detail.user) return;
      this.chat.renderHeader();
      // Their setting changed: the watch ended; watching again asks what it allows now.
      if (reset) {
        this.chat.watched = null;
        this.chat.watchPresence();
      }
    });
    // "last seen 3 minutes ago" ages.
    setInterval(() => { if (this.chat.peer) this.chat.renderHeader(); }, 30000);
    // Another of my devices blocked someone, changed my contacts or answered an invitation.
    c.addEventListener('settings_changed', (e) => {
      // Another device archived or deleted a chat: the list as the server has it now.
      // The open chat's history is read again: a message deleted for me goes, and a chat
      // deleted for me closes.
      if (e.detail.what === 'chats') {
        const open = this.openKey;
        m.forgetAll();
        this.refreshList(0, () => {
          if (!open || this.openKey !== open) return;
          if (m.get(open)) this.chat.show(open);
          else this.closeChat();
        });
      }
      if (['blocked', 'contacts', 'invitations'].includes(e.detail.what)) this.loadSafety();
      if (e.detail.what === 'profile') c.call('me').then((r) => this.setMe(r.me.user), () => {});
    });
    c.addEventListener('sent', (e) => this.onSent(e.detail));
    c.addEventListener('failed', (e) => {
      const { entry, error } = e.detail;
      // Refused: perhaps a block this device did not know of (made on another one).
      if (error.code === 'forbidden') this.loadSafety();
      if (entry.method === 'send') {
        m.timeline(entry.conv).failPending(entry.params.client_id, errorText(error));
        if (this.openKey === entry.conv) this.chat.renderRows();
        toast(t('sendFailed', { reason: errorText(error) }));
      } else {
        toast(t('actionFailed', { reason: errorText(error) }));
      }
    });
    document.addEventListener('visibilitychange', () => this.chat && this.chat.maybeMarkRead());
    // A person's link followed while the app is open.
    addEventListener('hashchange', () => {
      const peer = (location.hash.match(/^#u=@?([A-Za-z0-9_]{1,64})$/) || [])[1];
      if (!peer) return;
      this.wantedPeer = peer;
      if (c.state === 'online') this.openPeerLink();
    });
    addEventListener('popstate', () => {
      this.pushed = false;
      if (!location.hash && this.openKey) this.closeChat(false);
    });
  }

  /** Open the chat a person's link names (#u=handle), or say there is no such person. */
  async openPeerLink() {
    const handle = this.wantedPeer;
    this.wantedPeer = null;
    history.replaceState(null, '', location.pathname);
    if (this.model.me && handle.toLowerCase() === this.model.me.handle.toLowerCase()) return;
    try {
      const { user } = await this.client.call('user', { handle });
      this.open(this.model.draft(user));
    } catch (e) {
      toast(e.code === 'not_found' ? t('noSuchUser', { handle }) : errorText(e));
    }
  }

  /** After a send: offer notifications once, above the chat list. */
  offerNotifications() {
    if (this.offered) return;
    this.offered = true;
    const box = this.notifier.offer();
    if (box) this.invites.before(box);
  }

  onSent({ entry, result }) {
    if (entry.method === 'send') this.offerNotifications();
    if (entry.method !== 'send' || !result.sent) return;
    const m = this.model;
    let key = entry.conv;
    if (entry.params.peer) {
      // The first message to someone made the direct conversation: it has an id now.
      const real = m.resolveDraft(entry.params.peer, result.sent.conversation) || String(result.sent.conversation);
      if (this.openKey === key) this.open(real, { replace: true, focus: false });
      key = real;
      this.refreshList(0);
    }
    m.timeline(key).confirm(entry.params.client_id, result.sent, m.me);
    if (this.openKey === key) this.chat.renderRows();
  }

  /** For search by member names: the members of groups whose list is not loaded yet (a few). */
  async loadAllMembers() {
    if (this.membersLoading) return;
    this.membersLoading = true;
    try {
      const groups = this.model.conversations().filter((c) => c.kind === 'group' && c.id != null && !c.members && !c.left).slice(0, 50);
      for (const c of groups) {
        try {
          const r = await this.client.call('members', { conversation: c.id });
          this.model.setMembers(String(c.id), r.members);
        } catch {
          break;
        }
      }
    } finally {
      this.membersLoading = false;
    }
    if (this.query) this.drawList();
  }

  /** My profile changed (here or on another device): keep it and show it. */
  setMe(user) {
    this.model.me = user;
    this.client.adopt({ user, device_id: this.client.session.device_id });
    this.renderList();
    if (this.openKey) this.chat.renderRows();
  }

  narrow() {
    return matchMedia('(max-width: 759px)').matches;
  }

  /** Builds (or rebuilds, after a language change) the whole screen. */
  build() {
    this.status = h('div', { class: 'status-bar', id: 'conn-status', role: 'status', 'aria-live': 'polite' });
    this.list = h('ul', {
      class: 'conv-list', id: 'conv-list', role: 'listbox', 'aria-label': t('chats'),
      onkeydown: (e) => this.listKeys(e),
    });
    this.empty = h('p', { class: 'empty-note', id: 'no-chats' }, t('noChats'));
    // Messages found by the search box (the server's search_messages), under the chats.
    this.hits = h('section', { class: 'msg-hits', id: 'msg-hits', 'aria-label': t('foundMessages'), hidden: true });
    this.noMatches = h('p', { class: 'empty-note', id: 'no-matches', hidden: true });
    // Search by title and by the names and handles of the people in each chat.
    const search = h('input', {
      type: 'search', id: 'conv-search', dir: 'auto', autocomplete: 'off', placeholder: t('searchChats'),
      'aria-label': t('searchChats'), 'aria-controls': 'conv-list', value: this.query || '',
      oninput: () => {
        this.query = search.value;
        this.drawList();
      },
      onfocus: () => this.loadAllMembers(),
      onkeydown: (e) => {
        if (e.key === 'Escape' && search.value) {
          e.stopPropagation();
          search.value = this.query = '';
          this.drawList();
        } else if (e.key === 'ArrowDown') {
          e.preventDefault();
          const first = this.list.querySelector('.conv-item');
          if (first) first.focus();
        }
      },
    });
    this.invites = h('section', { class: 'invites', id: 'invitations', 'aria-label': t('invitations'), 'aria-live': 'polite' });
    const me = this.model.me;
    const sidebar = h('aside', { class: 'sidebar', 'aria-label': t('chats') },
      h('header', { class: 'side-head' },
        h('button', { type: 'button', class: 'icon-btn', id: 'menu-btn', 'aria-label': t('menu'), title: t('menu'), onclick: () => settingsDialog(this) }, icon('menu')),
        h('div', { class: 'brand' }, h('h1', null, t('chats')), h('small', { dir: 'ltr' }, me ? '@' + me.handle : '')),
        h('button', { type: 'button', class: 'icon-btn', id: 'new-group-btn', 'aria-label': t('newGroup'), title: t('newGroup'), onclick: () => newGroupDialog(this) }, icon('group')),
        h('button', { type: 'button', class: 'icon-btn', id: 'new-chat-btn', 'aria-label': t('newMessage'), title: t('newMessage'), onclick: () => newChatDialog(this) }, icon('compose')),
      ),
      h('div', { class: 'conv-search' }, search),
      this.invites,
      this.list,
      this.empty,
      this.noMatches,
      this.hits,
    );
    this.chat = new ChatView(this);
    this.shell = h('div', { class: 'app', id: 'app-shell', 'data-view': 'list' }, this.status, h('div', { class: 'panes' }, sidebar, this.chat.el));
    this.root.replaceChildren(this.shell);
    this.renderStatus();
    this.renderList();
    this.renderInvites();
    if (sessionStorage.getItem('chapar.offerRecovery')) {
      sessionStorage.removeItem('chapar.offerRecovery');
      recoveryKeyDialog(this, { first: true });
    }
    if (this.openKey) {
      const key = this.openKey;
      this.openKey = null;
      this.open(key, { replace: true, focus: false });
    }
  }

  /** The people I block, my contacts and my invitations, from the server. */
  async loadSafety() {
    const c = this.client;
    const m = this.model;
    const [blocked, contacts, invitations] = await Promise.allSettled([c.call('blocked'), c.call('contacts'), c.call('invitations')]);
    if (blocked.status === 'fulfilled') {
      const before = m.blockedList().map((u) => u.id).join();
      m.setBlocked(blocked.value.users);
      if (m.blockedList().map((u) => u.id).join() !== before) this.afterBlockChange();
    }
    if (contacts.status === 'fulfilled') m.setContacts(contacts.value.users);
    if (invitations.status === 'fulfilled') {
      m.setInvitations(invitations.value.invitations);
      this.renderInvites();
    }
  }

  /** Someone was blocked or unblocked: the open chat (composer, collapsed rows) and the list. */
  afterBlockChange() {
    if (this.openKey) {
      this.chat.renderHeader();
      this.chat.vlist.refresh();
    }
    this.renderList();
  }

  /** Invitations to groups, above the list: "@x invites you to …" with Accept and Decline. */
  renderInvites() {
    const list = this.model.invitationList();
    const focused = this.invites.contains(document.activeElement);
    this.invites.hidden = list.length === 0;
    this.invites.replaceChildren(...list.map((inv) => {
      const id = 'invite-text-' + inv.conversation;
      const busy = (on) => {
        for (const b of item.querySelectorAll('button')) b.disabled = on;
      };
      const item = h('div', { class: 'invite', role: 'group', 'aria-labelledby': id, 'data-conversation': inv.conversation },
        avatar(inv.title, inv.conversation, 'group'),
        h('div', { class: 'invite-main' },
          h('p', { id, class: 'invite-text' }, tn('invitesYou', { who: '@' + inv.inviter.handle, title: inv.title })),
          h('p', { class: 'muted' }, h('bdi', null, inv.inviter.display_name), ' · ', shortWhen(inv.created_at)),
          h('div', { class: 'invite-actions' },
            h('button', {
              type: 'button', class: 'primary invite-accept', 'aria-label': t('acceptInvite', { title: inv.title }),
              onclick: () => this.answerInvite(inv, true, busy),
            }, t('accept')),
            h('button', {
              type: 'button', class: 'invite-decline', 'aria-label': t('declineInvite', { title: inv.title }),
              onclick: () => this.answerInvite(inv, false, busy),
            }, t('decline')))));
      return item;
    }));
    if (focused && !this.invites.contains(document.activeElement)) {
      const next = this.invites.querySelector('button') || this.list.querySelector('[tabindex="0"]');
      if (next) next.focus();
    }
  }

  /** Accept (and open the group) or decline an invitation. */
  async answerInvite(inv, accept, busy) {
    busy(true);
    let r;
    try {
      r = await this.client.call(accept ? 'accept_invitation' : 'decline_invitation', { conversation: inv.conversation });
    } catch (e) {
      busy(false);
      if (e.code === 'not_found') {
        this.model.removeInvitation(inv.conversation);
        this.renderInvites();
        toast(t('inviteGone'));
      } else {
        toast(t('actionFailed', { reason: errorText(e) }));
      }
      return;
    }
    this.model.removeInvitation(inv.conversation);
    if (!accept) {
      this.renderInvites();
      return;
    }
    const key = this.model.upsertConversation(r.conversation);
    this.renderInvites();
    this.renderList();
    this.open(key);
  }

  renderStatus() {
    const c = this.client;
    const queued = c.outbox.length;
    let text = '';
    let retry = false;
    if (c.state === 'connecting') text = t('conn.connecting');
    else if (c.state === 'syncing') text = t('conn.syncing');
    else if (c.state === 'offline') text = t('conn.offline');
    else if (c.state === 'reconnecting') {
      const secs = c.retryAt ? Math.ceil((c.retryAt - Date.now()) / 1000) : 0;
      text = secs > 0 ? t('conn.reconnectingIn', { n: num(secs) }) : t('conn.reconnecting');
      retry = secs > 1;
    }
    if (queued && c.state !== 'online') text += ' · ' + t('queued', { n: num(queued) });
    document.body.dataset.conn = c.state;
    this.status.hidden = !text;
    const parts = [h('span', null, text)];
    if (retry) parts.push(h('button', { type: 'button', class: 'link-btn', onclick: () => c.connectNow() }, t('conn.retry')));
    this.status.replaceChildren(...parts);
  }

  /** Fetch the list from the server (debounced). */
  refreshList(delay = 150, then = null) {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        const r = await this.client.call('conversations');
        this.model.setConversations(r.conversations);
        this.renderList();
        if (then) then();
        if (this.openKey) {
          this.chat.renderHeader();
          // The server's read marker may be behind what is on screen (a mark lost offline).
          this.chat.maybeMarkRead();
        }
        if (this.wantedKey && this.model.get(this.wantedKey)) {
          const key = this.wantedKey;
          this.wantedKey = null;
          if (!this.openKey) this.open(key, { replace: true, focus: false });
        }
      } catch {
        // Offline: the next 'synced' fetches it again.
      }
    }, delay);
  }

  renderList() {
    if (this.listFrame) return;
    this.listFrame = requestAnimationFrame(() => {
      this.listFrame = 0;
      this.drawList();
    });
  }

  drawList() {
    const m = this.model;
    const every = m.conversations().filter((c) => !c.draft);
    // Archived chats wait under a row of their own (searching finds them too).
    const archived = every.filter((c) => c.archived);
    const all = this.showArchived ? archived : every.filter((c) => !c.archived);
    const q = searchKey(this.query || '');
    const convs = q ? every.filter((c) => matches(c, q)) : all;
    const focusedKey = this.list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const items = convs.map((c) => this.listItem(c));
    const toggle = !q && (archived.length || this.showArchived)
      ? h('li', { class: 'archive-row' }, h('button', {
        type: 'button', id: 'archived-toggle', class: 'archived-toggle',
        onclick: () => {
          this.showArchived = !this.showArchived;
          this.drawList();
        },
      }, this.showArchived ? t('backToChats') : t('archivedN', { n: num(archived.length) })))
      : null;
    this.list.replaceChildren(...(this.showArchived && toggle ? [toggle] : []), ...items, ...(!this.showArchived && toggle ? [toggle] : []));
    this.empty.hidden = all.length > 0;
    this.noMatches.hidden = !q || convs.length > 0;
    if (q && !convs.length) this.noMatches.textContent = t('noMatches', { q: this.query.trim() });
    const focusKey = focusedKey || this.openKey || (convs[0] && convs[0].id != null && String(convs[0].id));
    const target = items.find((el) => el.dataset.key === focusKey) || items[0];
    if (target) target.tabIndex = 0;
    if (focusedKey && target) target.focus({ preventScroll: true });
    this.searchMessagesSoon();
    const unread = all.reduce((n, c) => n + (c.unread || 0), 0);
    document.title = (unread ? `(${num(unread)}) ` : '') + t('appName');
  }

  /** Search messages for the search box's text, a moment after the typing stops. */
  searchMessagesSoon() {
    const q = (this.query || '').trim();
    if (q === this.hitsFor) return;
    clearTimeout(this.hitsTimer);
    if ([...q].length < 2) {
      this.hitsFor = q;
      this.hits.hidden = true;
      this.hits.replaceChildren();
      return;
    }
    this.hitsTimer = setTimeout(async () => {
      this.hitsFor = q;
      let found;
      try {
        found = (await this.client.call('search_messages', { query: q })).messages;
      } catch {
        // Offline, too short after folding, or too many searches: the chats still show.
        this.hitsFor = null;
        return;
      }
      if ((this.query || '').trim() !== q) return;
      this.renderHits(found);
    }, 300);
  }

  renderHits(found) {
    const m = this.model;
    const items = found.map((msg) => {
      const key = String(msg.conversation);
      const c = m.get(key);
      const title = c ? c.title : '#' + num(msg.conversation);
      const who = msg.sender === (m.me && m.me.id) ? t('you') : msg.sender_name || '@' + msg.sender_handle;
      return h('li', null, h('button', {
        type: 'button', class: 'msg-hit', dataset: { key, seq: msg.seq },
        onclick: () => {
          this.open(key);
          this.chat.showMessage(msg.seq);
        },
      },
      h('span', { class: 'hit-head' }, h('b', { dir: 'auto' }, title), h('small', { class: 'muted' }, shortWhen(msg.server_time))),
      h('span', { class: 'hit-text', dir: 'auto' }, h('bdi', null, who + ': '), (msg.text || '').replace(/\s+/g, ' ').slice(0, 140))));
    });
    this.hits.replaceChildren(
      h('h2', { class: 'hits-title' }, t('foundMessages')),
      items.length ? h('ul', { class: 'hit-list' }, items) : h('p', { class: 'empty-note', id: 'no-hits' }, t('noMessagesFound')));
    this.hits.hidden = false;
  }

  listItem(c) {
    const m = this.model;
    const key = convKey(c);
    const typing = m.typingIn(key);
    const last = c.last_message;
    const text = last ? previewText(m, c, last) : '';
    const unsent = key !== this.openKey && prefs.unsent()[key];
    const preview = typing.length
      ? h('span', { class: 'ci-preview typing' }, t('typing'))
      : unsent
        ? h('span', { class: 'ci-preview', dir: 'auto' }, h('bdi', { class: 'unsent-label' }, t('unsentLabel')), unsent.replace(/\s+/g, ' ').slice(0, 120))
        : text && text.who
        ? h('span', { class: 'ci-preview', dir: 'auto' }, h('bdi', null, text.who), text.body)
        : h('span', { class: 'ci-preview', dir: Array.isArray(text) ? null : 'auto' }, text);
    const muted = this.notifier.muted(key);
    const unread = c.unread > 0
      ? h('span', { class: 'badge' + (muted ? ' muted' : ''), 'aria-label': t(muted ? 'unreadMutedN' : 'unreadN', { n: c.unread }) }, num(c.unread))
      : null;
    return h('li', {
      role: 'option', id: 'conv-' + key, class: 'conv-item', tabindex: -1,
      'aria-selected': String(key === this.openKey), dataset: { key, unread: c.unread || 0 },
      onclick: () => this.open(key),
    },
      avatar(c.title, c.peer ? c.peer.id : c.id, c.kind),
      h('div', { class: 'ci-main' },
        h('div', { class: 'ci-top' },
          h('span', { class: 'ci-title', dir: 'auto' }, c.title),
          h('time', { class: 'ci-time' }, shortWhen(c.updated_at))),
        h('div', { class: 'ci-bottom' }, preview, unread)),
    );
  }

  listKeys(e) {
    const items = [...this.list.children];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    let next = -1;
    if (e.key === 'ArrowDown') next = Math.min(items.length - 1, i + 1);
    else if (e.key === 'ArrowUp') next = Math.max(0, i - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = items.length - 1;
    else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.open(items[i].dataset.key);
      return;
    }
    if (next < 0) return;
    e.preventDefault();
    items[i].tabIndex = -1;
    items[next].tabIndex = 0;
    items[next].focus();
  }

  /** Shows conversation `key` (on a phone, as its own screen with a history entry). */
  open(key, { replace = false, focus = true } = {}) {
    key = String(key);
    if (!this.model.get(key)) return;
    const wasOpen = this.openKey;
    this.openKey = key;
    this.shell.dataset.view = 'chat';
    const hash = '#c=' + encodeURIComponent(key);
    if (location.hash !== hash) {
      if (this.narrow() && !replace && !wasOpen) {
        history.pushState(null, '', hash);
        this.pushed = true;
      } else history.replaceState(null, '', hash);
    }
    this.chat.show(key);
    this.drawList();
    if (focus) this.chat.focusComposer();
  }

  /** A group I left goes from the list (it comes back only if I am added again). */
  forget(key) {
    const c = this.model.get(key);
    if (!c || !c.left) return;
    this.model.forget(key);
    this.closeChat();
  }

  /** Back to the list (phones). */
  closeChat(popHistory = true) {
    const key = this.openKey;
    this.openKey = null;
    this.shell.dataset.view = 'list';
    this.chat.hide();
    if (popHistory && this.pushed) history.back();
    else if (location.hash) history.replaceState(null, '', location.pathname);
    this.pushed = false;
    this.drawList();
    const item = this.list.querySelector(`[data-key="${CSS.escape(key || '')}"]`);
    if (item) item.focus();
  }
}

/** Lower case, without `@`, with Arabic yeh and kaf read as Persian ones: how search compares. */
function searchKey(s) {
  return s.trim().toLowerCase().replace(/^@/, '').replace(/ي/g, 'ی').replace(/ك/g, 'ک');
}

/** Whether a conversation's title, or a person in it, matches the search. */
function matches(c, q) {
  const names = [c.title];
  if (c.peer) names.push(c.peer.handle, c.peer.display_name);
  for (const x of c.members || []) names.push(x.user.handle, x.user.display_name);
  return names.some((n) => n && searchKey(n).includes(q));
}
