// What the page knows: conversations (as the server lists them, kept current by feed events),
// each opened conversation's timeline (its loaded log entries, plus our own sends still in the
// outbox), members' delivery and read markers, who is typing, and safety: the people I block,
// my contacts, and the group invitations waiting for my answer. No DOM, no sockets: the UI
// calls in with server data and feed events, and re-renders from here.

/** Log entries shown as rows; edits, deletions and reactions change a row instead. */
const SHOWN = new Set(['text', 'system', 'unknown']);
const TYPING_MS = 6000;

/** Index of the first element of a sorted array that is >= x. */
export function lowerBound(arr, x) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const convKey = (c) => (c.id != null ? String(c.id) : 'peer:' + c.peer.handle);

/** One conversation's loaded entries, in seq order, then our unacknowledged sends. */
export class Timeline {
  constructor(key) {
    this.key = key;
    this.bySeq = new Map();
    this.seqs = [];
    this.pending = []; // {client_id, text, reply_to, pending: true, server_time}
    this.loaded = false; // the newest page is here; live entries are appended from then on
    this.hasOlder = true;
    this.loading = false;
    this.version = 0;
    this.cache = null;
  }

  get size() {
    return this.seqs.length + this.pending.length;
  }

  /** Rows to show: entries by seq, then pending sends. */
  items() {
    if (!this.cache || this.cache.version !== this.version) {
      const rows = new Array(this.seqs.length);
      for (let i = 0; i < this.seqs.length; i++) rows[i] = this.bySeq.get(this.seqs[i]);
      this.cache = { version: this.version, rows: rows.concat(this.pending) };
    }
    return this.cache.rows;
  }

  get(seq) {
    return this.bySeq.get(seq);
  }

  oldestSeq() {
    return this.seqs.length ? this.seqs[0] : null;
  }

  newestSeq() {
    return this.seqs.length ? this.seqs[this.seqs.length - 1] : 0;
  }

  /** Adds a shown entry (or keeps the copy we have: it already carries later changes). */
  insert(m) {
    if (!SHOWN.has(m.kind)) return false;
    if (this.bySeq.has(m.seq)) {
      const old = this.bySeq.get(m.seq);
      if (!old.confirmedLocally) return false;
      // Our own send, shown from its reply: the server's copy replaces it.
      m.rev = (old.rev || 0) + 1;
      this.bySeq.set(m.seq, m);
      this.version++;
      return true;
    }
    m.rev = m.rev || 0;
    const i = lowerBound(this.seqs, m.seq);
    this.seqs.splice(i, 0, m.seq);
    this.bySeq.set(m.seq, m);
    this.dropPending(m);
    this.version++;
    return true;
  }

  /** Adds a history page (oldest first). */
  addPage(messages, limit, before) {
    for (const m of messages) this.insert(m);
    if (before != null || !this.loaded) {
      // A short page means the start of what this member may see.
      if (messages.length < limit) this.hasOlder = false;
    }
    this.loaded = true;
    this.version++;
  }

  /** Applies an edit, deletion or reaction entry to the row it names. */
  applyChange(m, meId) {
    const t = this.bySeq.get(m.target);
    if (!t) return false;
    if (m.kind === 'edit') {
      t.text = m.text;
      t.data = m.data;
      // Edits by bots carry the message's formatting and buttons after the edit.
      t.entities = m.entities;
      t.reply_markup = m.reply_markup;
      t.edited_at = m.server_time;
    } else if (m.kind === 'delete') {
      t.deleted = true;
      t.text = undefined;
      t.data = undefined;
      t.reactions = [];
    } else if (m.kind === 'reaction') {
      const emoji = m.text || '';
      const list = (t.reactions = (t.reactions || []).map((r) => ({ ...r })));
      const r = list.find((x) => x.emoji === emoji);
      if (m.remove) {
        if (r) r.count -= 1;
      } else if (r) r.count += 1;
      else list.push({ emoji, count: 1 });
      t.reactions = list.filter((x) => x.count > 0);
      if (m.sender === meId) {
        t.mine = new Set(t.mine || []);
        if (m.remove) t.mine.delete(emoji);
        else t.mine.add(emoji);
      }
    } else {
      return false;
    }
    t.rev = (t.rev || 0) + 1;
    this.version++;
    return true;
  }

  addPending(p) {
    if (this.pending.some((x) => x.client_id === p.client_id)) return;
    this.pending.push({ ...p, pending: true, rev: 0 });
    this.version++;
  }

  dropPending(m) {
    const i = this.pending.findIndex((p) => p.client_id === m.client_id);
    if (i >= 0) {
      this.pending.splice(i, 1);
      this.version++;
    }
  }

  /** Our send was acknowledged with `seq`: show it there until the server's copy arrives. */
  confirm(client_id, sent, me) {
    const i = this.pending.findIndex((p) => p.client_id === client_id);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    this.version++;
    if (this.bySeq.has(sent.seq)) return;
    this.insert({
      conversation: sent.conversation,
      seq: sent.seq,
      sender: me.id,
      sender_handle: me.handle,
      client_id,
      server_time: sent.server_time,
      kind: 'text',
      content_type: 'text/plain',
      text: p.text,
      reply_to: p.reply_to,
      confirmedLocally: true,
    });
  }

  /** Our send was refused: it stays, marked, with the server's reason when there is one. */
  failPending(client_id, reason) {
    const p = this.pending.find((x) => x.client_id === client_id);
    if (p) {
      p.failed = true;
      if (reason) p.error = reason;
      p.rev++;
      this.version++;
    }
  }
}

export class Model {
  constructor() {
    this.me = null; // {id, handle, display_name}
    this.deviceId = null;
    this.convs = new Map(); // key -> conversation (server shape + marks, left, draft)
    this.timelines = new Map();
    this.users = new Map(); // id -> {id, handle, display_name}
    this.typing = new Map(); // key -> Map(handle -> {until, user})
    this.usersVersion = 0; // bumped when names may have changed (rows show names)
    this.blocked = new Map(); // user id -> {id, handle, display_name}: the people I block
    this.contacts = new Map(); // user id -> user: my contacts
    this.invitations = new Map(); // conversation id (string) -> invitation waiting for my answer
    this.blockedVersion = 0; // bumped when the blocked set changes (rows may collapse)
    this.presence = new Map(); // user id -> {online, last_seen}: the people watched
  }

  /** A conversation leaves this device's list and its history (until the server lists it again). */
  forget(key) {
    this.convs.delete(String(key));
    this.timelines.delete(String(key));
  }

  /** Everything of the list and the histories goes; the server's list is read again. */
  forgetAll() {
    this.convs.clear();
    this.timelines.clear();
  }

  /**
   * A presence answer or event. Neither online nor last seen: show nothing for them (their
   * setting changed); true then, so the caller can watch again.
   */
  setPresence(p) {
    if (!p.online && p.last_seen == null) {
      this.presence.delete(p.user);
      return true;
    }
    this.presence.set(p.user, { online: p.online, last_seen: p.last_seen ?? null });
    return false;
  }

  // ---- safety: blocks, contacts, invitations ----------------------------------------------

  setBlocked(list) {
    this.blocked = new Map(list.map((u) => [u.id, u]));
    for (const u of list) this.users.set(u.id, u);
    this.blockedVersion++;
  }

  /** I blocked (`on`) or unblocked `user` ({id, handle, display_name}). */
  setBlock(user, on) {
    if (on === this.blocked.has(user.id)) return;
    if (on) this.blocked.set(user.id, user);
    else this.blocked.delete(user.id);
    this.blockedVersion++;
  }

  isBlocked(userId) {
    return userId != null && this.blocked.has(userId);
  }

  /** The people I block, by handle. */
  blockedList() {
    return [...this.blocked.values()].sort((a, b) => a.handle.localeCompare(b.handle));
  }

  setContacts(list) {
    this.contacts = new Map(list.map((u) => [u.id, u]));
  }

  setContact(user, on) {
    if (on) this.contacts.set(user.id, user);
    else this.contacts.delete(user.id);
  }

  isContact(userId) {
    return userId != null && this.contacts.has(userId);
  }

  contactList() {
    return [...this.contacts.values()].sort((a, b) => a.handle.localeCompare(b.handle));
  }

  /**
   * Whether entry `m` of conversation `c` is shown collapsed: a message in a group (not a
   * direct chat, where the whole chat says it is blocked) from someone I block.
   */
  collapsed(c, m) {
    return Boolean(c && c.kind !== 'direct' && m && m.kind === 'text' && !m.pending &&
      !(this.me && m.sender === this.me.id) && this.blocked.has(m.sender));
  }

  /** The server's list of invitations replaces ours. */
  setInvitations(list) {
    this.invitations = new Map(list.map((i) => [String(i.conversation), i]));
  }

  /** An invitation arrived (a second one to the same group replaces the first). */
  addInvitation(inv) {
    const key = String(inv.conversation);
    // A group we are already in (the event replayed after we joined) needs no answer.
    const c = this.convs.get(key);
    if (c && !c.left) return false;
    this.invitations.set(key, inv);
    return true;
  }

  removeInvitation(conversation) {
    return this.invitations.delete(String(conversation));
  }

  /** Invitations waiting for an answer, newest first. */
  invitationList() {
    return [...this.invitations.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  }

  conversations() {
    return [...this.convs.values()].sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0) || (b.id || 0) - (a.id || 0));
  }

  get(key) {
    return this.convs.get(String(key));
  }

  /** The server's list replaces ours (kept: markers we know, drafts not yet sent). */
  setConversations(list) {
    const next = new Map();
    for (const c of list) {
      const key = String(c.id);
      const old = this.convs.get(key);
      next.set(key, { ...c, marks: old ? old.marks : new Map(), left: false });
      if (c.peer) this.users.set(c.peer.id, c.peer);
    }
    for (const [key, c] of this.convs) {
      if (c.draft) next.set(key, c);
      else if (!next.has(key) && c.left) next.set(key, c);
    }
    this.convs = next;
  }

  upsertConversation(c) {
    const key = String(c.id);
    const old = this.convs.get(key);
    this.convs.set(key, { ...c, marks: old ? old.marks : new Map(), left: false });
    if (c.peer) this.users.set(c.peer.id, c.peer);
    return key;
  }

  /** A direct conversation that exists only here until its first message. */
  draft(user) {
    for (const c of this.convs.values()) if (c.peer && c.peer.id === user.id && c.kind === 'direct') return convKey(c);
    const c = {
      id: null,
      kind: 'direct',
      title: user.display_name,
      peer: user,
      role: 'member',
      member_count: 2,
      last_seq: 0,
      read_seq: 0,
      unread: 0,
      updated_at: Date.now(),
      marks: new Map(),
      draft: true,
    };
    this.users.set(user.id, user);
    const key = convKey(c);
    this.convs.set(key, c);
    return key;
  }

  /** The draft with `handle` now has a server id: move what it shows. */
  resolveDraft(handle, id) {
    const dkey = 'peer:' + handle;
    const draft = this.convs.get(dkey);
    if (!draft) return null;
    this.convs.delete(dkey);
    const key = String(id);
    if (!this.convs.has(key)) this.convs.set(key, { ...draft, id, draft: false });
    const dt = this.timelines.get(dkey);
    if (dt) {
      this.timelines.delete(dkey);
      const t = this.timeline(key);
      for (const p of dt.pending) t.addPending(p);
    }
    return key;
  }

  timeline(key) {
    key = String(key);
    let t = this.timelines.get(key);
    if (!t) {
      t = new Timeline(key);
      this.timelines.set(key, t);
    }
    return t;
  }

  /**
   * A feed event. Returns what changed: {key, list, timeline, refresh} (refresh: the
   * conversation is new to us; fetch the list again).
   */
  applyFeed(ev) {
    const e = ev.event;
    if (e.message) return this.applyMessage(e.message);
    if (e.receipt) return this.applyReceipt(e.receipt);
    if (e.invitation) return { invitations: this.addInvitation(e.invitation) };
    return {};
  }

  applyMessage(m) {
    const key = String(m.conversation);
    // We joined (perhaps from another device): the invitation is answered.
    const joined = m.kind === 'system' && m.system && m.system.action === 'joined' && this.me && m.sender === this.me.id;
    const invitations = joined && this.removeInvitation(key);
    const c = this.convs.get(key);
    const t = this.timelines.get(key);
    const meId = this.me && this.me.id;
    let timeline = false;
    if (t) timeline = SHOWN.has(m.kind) ? t.insert(m) : t.applyChange(m, meId);
    if (!c) return { key, timeline, refresh: true, invitations };
    c.last_seq = Math.max(c.last_seq || 0, m.seq);
    c.updated_at = Math.max(c.updated_at || 0, m.server_time);
    if (SHOWN.has(m.kind)) {
      c.last_message = m;
      if (m.kind === 'text' && m.sender !== meId) c.unread = (c.unread || 0) + 1;
      if (m.sender === meId) {
        // Sending means having read everything before it.
        c.read_seq = m.seq;
        c.unread = 0;
      }
    } else if (c.last_message && c.last_message.seq === m.target) {
      if (m.kind === 'edit') c.last_message = { ...c.last_message, text: m.text, edited_at: m.server_time };
      if (m.kind === 'delete') c.last_message = { ...c.last_message, text: undefined, deleted: true };
    }
    if (m.kind === 'system' && m.system) this.applySystem(c, m);
    this.stopTyping(key, m.sender_handle);
    return { key, list: true, timeline, invitations };
  }

  applySystem(c, m) {
    const s = m.system;
    const me = this.me && this.me.handle;
    if (s.action === 'renamed' && s.title) c.title = s.title;
    if (s.action === 'pinned') c.pinned = m.target;
    if (s.action === 'unpinned' && c.pinned === m.target) c.pinned = null;
    if (s.action === 'added') c.member_count = (c.member_count || 0) + (s.handles || []).length;
    // Our own join: the conversation we have was listed after it, with us counted.
    if (s.action === 'joined' && m.sender_handle !== me) c.member_count = (c.member_count || 0) + 1;
    if (s.action === 'removed' || s.action === 'left') {
      const gone = s.action === 'left' ? [m.sender_handle] : s.handles || [];
      c.member_count = Math.max(0, (c.member_count || 0) - gone.length);
      if (gone.includes(me)) c.left = true;
    }
    if (s.action === 'role_changed' && (s.handles || []).includes(me) && s.role) c.role = s.role;
    c.membersStale = true;
  }

  applyReceipt(r) {
    const key = String(r.conversation);
    const c = this.convs.get(key);
    if (!c) return { key, refresh: true };
    const old = c.marks.get(r.user) || { delivered: 0, read: 0 };
    c.marks.set(r.user, {
      delivered: Math.max(old.delivered, r.delivered_seq),
      read: Math.max(old.read, r.read_seq),
    });
    if (this.me && r.user === this.me.id && r.read_seq > (c.read_seq || 0)) {
      // Read on another device of ours.
      c.read_seq = r.read_seq;
      this.recountUnread(c);
    }
    return { key, list: true, timeline: true, marks: true };
  }

  setMembers(key, members) {
    const c = this.get(key);
    if (!c) return;
    c.members = members;
    c.membersStale = false;
    c.member_count = members.length;
    for (const m of members) {
      const known = this.users.get(m.user.id);
      if (!known || known.display_name !== m.user.display_name) this.usersVersion++;
      this.users.set(m.user.id, m.user);
      const old = c.marks.get(m.user.id) || { delivered: 0, read: 0 };
      c.marks.set(m.user.id, {
        delivered: Math.max(old.delivered, m.delivered_seq),
        read: Math.max(old.read, m.read_seq),
      });
    }
  }

  /** We read up to `seq` here. */
  markRead(key, seq) {
    const c = this.get(key);
    if (!c || seq <= (c.read_seq || 0)) return false;
    c.read_seq = seq;
    this.recountUnread(c);
    return true;
  }

  recountUnread(c) {
    if (c.read_seq >= c.last_seq) {
      c.unread = 0;
      return;
    }
    const t = this.timelines.get(convKey(c));
    if (t && t.loaded && t.oldestSeq() != null && t.oldestSeq() <= c.read_seq) {
      let n = 0;
      for (const s of t.seqs) {
        const m = t.bySeq.get(s);
        if (s > c.read_seq && m.kind === 'text' && m.sender !== this.me.id) n++;
      }
      c.unread = n;
    }
  }

  /** Delivery state of our own entry `seq`: 'sent', 'delivered' or 'read' (someone has it). */
  status(key, seq) {
    const c = this.get(key);
    if (!c) return 'sent';
    let state = 'sent';
    for (const [user, m] of c.marks) {
      if (this.me && user === this.me.id) continue;
      if (m.read >= seq) return 'read';
      if (m.delivered >= seq) state = 'delivered';
    }
    return state;
  }

  setTyping(t) {
    const key = String(t.conversation);
    let map = this.typing.get(key);
    if (!map) this.typing.set(key, (map = new Map()));
    map.set(t.handle, { until: Date.now() + TYPING_MS, user: t.user });
    return key;
  }

  stopTyping(key, handle) {
    const map = this.typing.get(key);
    if (map) map.delete(handle);
  }

  /** Who is typing in `key` right now: [{handle, user}]. */
  typingIn(key) {
    const map = this.typing.get(String(key));
    if (!map) return [];
    const now = Date.now();
    for (const [h, t] of map) if (t.until < now) map.delete(h);
    return [...map].map(([handle, t]) => ({ handle, user: t.user }));
  }

  displayName(userId, handle) {
    const u = this.users.get(userId);
    return (u && u.display_name) || handle;
  }
}
