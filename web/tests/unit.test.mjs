// Unit tests of the client's DOM-free modules (feed cursor, timeline model, safety state,
// backoff, the string tables), run in node. The modules are plain browser ES modules without imports of their own; they are loaded
// from their source as data: URLs, since node would read web/public/*.js as CommonJS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './helpers.mjs';

async function load(name) {
  const src = readFileSync(join(REPO, 'web/public/js', name), 'utf8');
  return import('data:text/javascript;base64,' + Buffer.from(src).toString('base64'));
}

const { PtsTracker } = await load('tracker.js');
const { Model, Timeline, lowerBound } = await load('model.js');
const { backoffDelay, toBase64, fromBase64 } = await load('util.js');
const { STRINGS } = await load('i18n.js');
const { RecoveryKey, RecoveryCodeError } = await load('recovery.js');

const ev = (pts) => ({ pts, event: { typing: { conversation: 1, user: 1, handle: 'a' } } });
const delivered = (steps) => steps.filter((s) => s.deliver).map((s) => s.deliver.pts);

test('tracker: consecutive live events are delivered once, duplicates dropped', () => {
  const t = new PtsTracker(0);
  const out = [];
  t.onConnected();
  t.onSyncPage({ events: [], pts: 0, more: false }, out);
  t.onLive(ev(1), out);
  t.onLive(ev(2), out);
  t.onLive(ev(2), out);
  t.onLive(ev(1), out);
  assert.deepEqual(delivered(out), [1, 2]);
  assert.equal(t.last, 2);
});

test('tracker: a gap holds live events, syncs, then releases them in order', () => {
  const t = new PtsTracker(5);
  let out = [];
  t.onConnected();
  t.onSyncPage({ events: [], pts: 5, more: false }, out);
  out = [];
  t.onLive(ev(8), out);
  assert.deepEqual(out, [{ sync: 5 }]);
  t.onLive(ev(9), out);
  t.onSyncPage({ events: [ev(6), ev(7), ev(8)], pts: 8, more: false }, out);
  assert.deepEqual(delivered(out), [6, 7, 8, 9]);
  assert.deepEqual(out.at(-1), { synced: 9 });
});

test('tracker: paged sync repeats while more; reset restarts from the page', () => {
  const t = new PtsTracker(0);
  const out = [];
  t.onConnected();
  t.onSyncPage({ events: [ev(1), ev(2)], pts: 2, more: true }, out);
  assert.deepEqual(out.at(-1), { sync: 2 });
  t.onSyncPage({ events: [ev(3)], pts: 3, more: false }, out);
  assert.deepEqual(delivered(out), [1, 2, 3]);

  const r = new PtsTracker(3);
  const out2 = [];
  r.onConnected();
  r.onSyncPage({ events: [ev(50), ev(51)], pts: 51, more: false, reset: true }, out2);
  assert.ok(out2.some((s) => s.reset));
  assert.deepEqual(delivered(out2), [50, 51]);
});

test('tracker: overflowing the held buffer syncs again instead of losing events', () => {
  const t = new PtsTracker(0, 2);
  const out = [];
  t.onConnected();
  for (const p of [1, 2, 3, 4]) t.onLive(ev(p), out);
  t.onSyncPage({ events: [], pts: 0, more: false }, out);
  assert.deepEqual(out.at(-1), { sync: 0 });
  t.onSyncPage({ events: [ev(1), ev(2), ev(3), ev(4)], pts: 4, more: false }, out);
  assert.deepEqual(delivered(out), [1, 2, 3, 4]);
});

test('backoff: full jitter stays under the growing ceiling and the cap', () => {
  assert.equal(backoffDelay(0, 500, 30000, () => 0.999), 499);
  assert.equal(backoffDelay(3, 500, 30000, () => 0.5), 2000);
  assert.equal(backoffDelay(50, 500, 30000, () => 0.999), 29970);
  assert.equal(backoffDelay(5, 500, 30000, () => 0), 0);
});

test('base64 round trip (standard alphabet, padding)', () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
  assert.equal(toBase64(bytes), Buffer.from(bytes).toString('base64'));
  assert.deepEqual([...fromBase64(toBase64(bytes))], [...bytes]);
});

const msg = (seq, extra = {}) => ({
  conversation: 3, seq, sender: 2, sender_handle: 'bob', sender_device: 9, client_id: 'c' + seq,
  server_time: 1000 + seq, kind: 'text', content_type: 'text/plain', text: 'm' + seq, ...extra,
});

test('timeline: entries are kept in seq order whatever order they arrive in', () => {
  const t = new Timeline('3');
  for (const s of [5, 2, 9, 1, 7]) t.insert(msg(s));
  t.insert(msg(5)); // a duplicate changes nothing
  assert.deepEqual(t.items().map((m) => m.seq), [1, 2, 5, 7, 9]);
  assert.equal(lowerBound([1, 3, 5], 4), 2);
});

test('timeline: edits, deletions and reactions change the row they name', () => {
  const t = new Timeline('3');
  t.insert(msg(1));
  t.applyChange(msg(2, { kind: 'edit', target: 1, text: 'fixed' }), 1);
  t.applyChange(msg(3, { kind: 'reaction', target: 1, text: '👍', sender: 1 }), 1);
  t.applyChange(msg(4, { kind: 'reaction', target: 1, text: '👍' }), 1);
  assert.equal(t.get(1).text, 'fixed');
  assert.deepEqual(t.get(1).reactions, [{ emoji: '👍', count: 2 }]);
  assert.ok(t.get(1).mine.has('👍'));
  t.applyChange(msg(5, { kind: 'reaction', target: 1, text: '👍', sender: 1, remove: true }), 1);
  assert.deepEqual(t.get(1).reactions, [{ emoji: '👍', count: 1 }]);
  t.applyChange(msg(6, { kind: 'delete', target: 1 }), 1);
  assert.ok(t.get(1).deleted);
  assert.equal(t.get(1).text, undefined);
  assert.deepEqual(t.items().map((m) => m.seq), [1]);
});

test('timeline: a pending send is shown once, before and after its acknowledgement', () => {
  const t = new Timeline('3');
  const me = { id: 1, handle: 'sara' };
  t.insert(msg(1));
  t.addPending({ client_id: 'web-x', text: 'hi', server_time: 5 });
  assert.equal(t.items().length, 2);
  t.confirm('web-x', { conversation: 3, seq: 2, server_time: 6 }, me);
  assert.deepEqual(t.items().map((m) => [m.seq, m.text, Boolean(m.pending)]), [[1, 'm1', false], [2, 'hi', false]]);
  // The server's copy replaces the local one; still one row.
  t.insert(msg(2, { sender: 1, client_id: 'web-x', text: 'hi' }));
  assert.equal(t.items().length, 2);
  // The event first, then the reply: the pending row goes when the event arrives.
  t.addPending({ client_id: 'web-y', text: 'again', server_time: 7 });
  t.insert(msg(3, { sender: 1, client_id: 'web-y', text: 'again' }));
  t.confirm('web-y', { conversation: 3, seq: 3, server_time: 8 }, me);
  assert.deepEqual(t.items().map((m) => m.seq), [1, 2, 3]);
});

test('model: list order, unread counts, receipts and delivery state', () => {
  const m = new Model();
  m.me = { id: 1, handle: 'sara', display_name: 'Sara' };
  m.setConversations([
    { id: 3, kind: 'direct', title: 'Bob', peer: { id: 2, handle: 'bob', display_name: 'Bob' }, role: 'member', member_count: 2, last_seq: 0, read_seq: 0, unread: 0, updated_at: 10 },
    { id: 4, kind: 'group', title: 'G', role: 'owner', member_count: 3, last_seq: 0, read_seq: 0, unread: 0, updated_at: 20 },
  ]);
  assert.deepEqual(m.conversations().map((c) => c.id), [4, 3]);
  m.applyFeed({ pts: 1, event: { message: msg(1, { server_time: 30 }) } });
  assert.deepEqual(m.conversations().map((c) => c.id), [3, 4]);
  assert.equal(m.get(3).unread, 1);
  assert.equal(m.applyFeed({ pts: 2, event: { message: msg(1, { conversation: 99 }) } }).refresh, true);

  m.applyFeed({ pts: 3, event: { message: msg(2, { sender: 1, sender_handle: 'sara' }) } });
  assert.equal(m.status('3', 2), 'sent');
  m.applyFeed({ pts: 4, event: { receipt: { conversation: 3, user: 2, handle: 'bob', delivered_seq: 2, read_seq: 0 } } });
  assert.equal(m.status('3', 2), 'delivered');
  m.applyFeed({ pts: 5, event: { receipt: { conversation: 3, user: 2, handle: 'bob', delivered_seq: 2, read_seq: 2 } } });
  assert.equal(m.status('3', 2), 'read');
  // Our own markers (another device of ours) do not make our messages "read".
  m.applyFeed({ pts: 6, event: { receipt: { conversation: 4, user: 1, handle: 'sara', delivered_seq: 9, read_seq: 9 } } });
  assert.equal(m.status('4', 9), 'sent');
});

test('model: a draft direct chat becomes the real conversation with its pending sends', () => {
  const m = new Model();
  m.me = { id: 1, handle: 'sara' };
  const key = m.draft({ id: 2, handle: 'bob', display_name: 'Bob' });
  assert.equal(key, 'peer:bob');
  m.timeline(key).addPending({ client_id: 'web-1', text: 'hi', server_time: 1 });
  const real = m.resolveDraft('bob', 7);
  assert.equal(real, '7');
  assert.equal(m.get('peer:bob'), undefined);
  assert.equal(m.timeline('7').pending.length, 1);
});

test('model: system entries rename, count members, and notice we were removed', () => {
  const m = new Model();
  m.me = { id: 1, handle: 'sara' };
  m.setConversations([{ id: 4, kind: 'group', title: 'G', role: 'member', member_count: 3, last_seq: 0, read_seq: 0, unread: 0, updated_at: 1 }]);
  m.applyFeed({ pts: 1, event: { message: msg(1, { conversation: 4, kind: 'system', system: { action: 'renamed', title: 'New' } }) } });
  m.applyFeed({ pts: 2, event: { message: msg(2, { conversation: 4, kind: 'system', system: { action: 'added', handles: ['x', 'y'] } }) } });
  assert.equal(m.get(4).title, 'New');
  assert.equal(m.get(4).member_count, 5);
  m.applyFeed({ pts: 3, event: { message: msg(3, { conversation: 4, kind: 'system', system: { action: 'removed', handles: ['sara'] } }) } });
  assert.ok(m.get(4).left);
});

const users = {
  sara: { id: 1, handle: 'sara', display_name: 'Sara' },
  bob: { id: 2, handle: 'bob', display_name: 'Bob' },
  cy: { id: 5, handle: 'cy', display_name: 'Cy' },
};
const group = (id, extra = {}) => ({ id, kind: 'group', title: 'G' + id, role: 'member', member_count: 3, last_seq: 0, read_seq: 0, unread: 0, updated_at: 1, ...extra });

test('model: blocking collapses a group\'s messages from that person, never a direct chat\'s or my own', () => {
  const m = new Model();
  m.me = users.sara;
  const g = group(4);
  const direct = { id: 3, kind: 'direct', title: 'Bob', peer: users.bob };
  m.setConversations([g, direct]);
  const fromBob = msg(1, { conversation: 4 });
  assert.equal(m.collapsed(m.get(4), fromBob), false);
  const v = m.blockedVersion;
  m.setBlocked([users.bob]);
  assert.ok(m.blockedVersion > v, 'rows re-render when the set changes');
  assert.ok(m.isBlocked(2));
  assert.equal(m.collapsed(m.get(4), fromBob), true);
  assert.equal(m.collapsed(m.get(3), msg(1)), false, 'a direct chat is blocked as a whole, not row by row');
  assert.equal(m.collapsed(m.get(4), msg(2, { conversation: 4, sender: 5, sender_handle: 'cy' })), false);
  assert.equal(m.collapsed(m.get(4), msg(3, { conversation: 4, kind: 'system', system: { action: 'left' } })), false);
  assert.equal(m.collapsed(m.get(4), msg(4, { conversation: 4, sender: 1, sender_handle: 'sara' })), false);
  // Blocking again changes nothing; unblocking shows them again.
  const v2 = m.blockedVersion;
  m.setBlock(users.bob, true);
  assert.equal(m.blockedVersion, v2);
  m.setBlock(users.bob, false);
  assert.ok(m.blockedVersion > v2);
  assert.equal(m.collapsed(m.get(4), fromBob), false);
  m.setBlock(users.cy, true);
  m.setBlock(users.bob, true);
  assert.deepEqual(m.blockedList().map((u) => u.handle), ['bob', 'cy']);
  // Contacts are their own set.
  m.setContacts([users.cy]);
  m.setContact(users.bob, true);
  assert.deepEqual(m.contactList().map((u) => u.handle), ['bob', 'cy']);
  m.setContact(users.cy, false);
  assert.ok(!m.isContact(5) && m.isContact(2));
});

test('model: invitations from the list and from events, newest first, answered once', () => {
  const m = new Model();
  m.me = users.sara;
  m.setConversations([group(4)]);
  const inv = (conversation, created_at) => ({ conversation, title: 'T' + conversation, inviter: users.bob, created_at });
  m.setInvitations([inv(7, 10), inv(8, 30)]);
  assert.deepEqual(m.applyFeed({ pts: 1, event: { invitation: inv(9, 20) } }), { invitations: true });
  assert.deepEqual(m.invitationList().map((i) => i.conversation), [8, 9, 7]);
  // The same group again replaces it; a group we are in (an event replayed) is not shown.
  m.applyFeed({ pts: 2, event: { invitation: inv(9, 40) } });
  assert.deepEqual(m.invitationList().map((i) => i.conversation), [9, 8, 7]);
  assert.deepEqual(m.applyFeed({ pts: 3, event: { invitation: inv(4, 50) } }), { invitations: false });
  // Answered here, or joined on another device (our `joined` entry): gone.
  assert.ok(m.removeInvitation(7));
  assert.ok(!m.removeInvitation(7));
  const r = m.applyFeed({ pts: 4, event: { message: msg(1, { conversation: 8, kind: 'system', sender: 1, sender_handle: 'sara', system: { action: 'joined', handles: ['sara'] } }) } });
  assert.equal(r.invitations, true);
  assert.equal(r.refresh, true, 'the new group is fetched');
  assert.deepEqual(m.invitationList().map((i) => i.conversation), [9]);
  // The server's list replaces what we had.
  m.setInvitations([]);
  assert.deepEqual(m.invitationList(), []);
});

test('model: joins count members (ours is already counted); a refused send keeps its reason', () => {
  const m = new Model();
  m.me = users.sara;
  m.setConversations([group(4, { member_count: 2 })]);
  m.applyFeed({ pts: 1, event: { message: msg(1, { conversation: 4, kind: 'system', sender: 5, sender_handle: 'cy', system: { action: 'joined', handles: ['cy'] } }) } });
  assert.equal(m.get(4).member_count, 3);
  m.applyFeed({ pts: 2, event: { message: msg(2, { conversation: 4, kind: 'system', sender: 1, sender_handle: 'sara', system: { action: 'joined', handles: ['sara'] } }) } });
  assert.equal(m.get(4).member_count, 3);
  m.applyFeed({ pts: 3, event: { message: msg(3, { conversation: 4, kind: 'system', system: { action: 'invited', handles: ['x'] } }) } });
  assert.equal(m.get(4).member_count, 3, 'an invitation is not a member');

  const t = new Timeline('3');
  t.addPending({ client_id: 'web-z', text: 'hi', server_time: 1 });
  t.failPending('web-z', 'Not allowed: @bob does not accept messages from you');
  assert.deepEqual([t.pending[0].failed, t.pending[0].error], [true, 'Not allowed: @bob does not accept messages from you']);
});

test('strings: English and Persian have the same keys and the same placeholders', () => {
  const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort().join();
  assert.deepEqual(Object.keys(STRINGS.fa).sort(), Object.keys(STRINGS.en).sort());
  for (const [k, en] of Object.entries(STRINGS.en)) assert.equal(holes(STRINGS.fa[k]), holes(en), k);
});

test('recovery codes: the SDK\'s format (Crockford base32 of seed and checksum), read back loosely, typos caught', async () => {
  // The code of the seed 0, 1, ..., 31, as the Rust SDK writes it.
  const fixed = await RecoveryKey.fromSeed(Uint8Array.from({ length: 32 }, (_, i) => i));
  const code = await fixed.toCode();
  assert.equal(code, '000G-40R4-0M30-E209-185G-R38E-1W81-24GK-2GAH-C5RR-34D1-P70X-3RFP-63ED');
  const loose = await RecoveryKey.fromCode(code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o'));
  assert.deepEqual([...loose.publicKey], [...fixed.publicKey]);
  assert.equal(fixed.publicKey.length, 32);

  const fresh = await RecoveryKey.generate();
  const back = await RecoveryKey.fromCode(await fresh.toCode());
  assert.deepEqual([...back.seed], [...fresh.seed]);

  const kind = async (c) => RecoveryKey.fromCode(c).then(() => 'ok', (e) => (e instanceof RecoveryCodeError ? e.kind : String(e)));
  assert.equal(await kind(code.replace('000G', '001G')), 'checksum');
  assert.equal(await kind('ABCD'), 'length');
  assert.equal(await kind(code.replace('0', 'U')), 'symbol');
});

test('ago: how long ago, in words, English and Persian', async () => {
  const { ago, setLang } = await load('i18n.js');
  // setLang sets the page's language and direction; node has no page, so a stand-in.
  const had = globalThis.document;
  globalThis.document = { documentElement: {}, title: '' };
  const now = Date.UTC(2026, 11, 3, 12);
  setLang('en');
  assert.equal(ago(now - 10_000, now), 'now');
  assert.equal(ago(now - 5 * 60_000, now), '5 minutes ago');
  assert.equal(ago(now - 3 * 3_600_000, now), '3 hours ago');
  assert.equal(ago(now - 86_400_000, now), 'yesterday');
  assert.equal(ago(now - 400 * 86_400_000, now), 'last year');
  setLang('fa');
  assert.equal(ago(now - 5 * 60_000, now), '۵ دقیقه پیش');
  setLang('en');
  globalThis.document = had;
});
