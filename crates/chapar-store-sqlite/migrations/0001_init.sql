-- chapar SQLite schema, version 1.
-- Times are Unix milliseconds. Seqs and pts are dense counters kept by the single writer.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    handle       TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    kind         TEXT NOT NULL DEFAULT 'person',
    -- Newest pts of this user's feed.
    pts          INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE devices (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    public_key BLOB NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    device_id  INTEGER NOT NULL REFERENCES devices(id),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_device ON sessions(device_id);

CREATE TABLE link_codes (
    code_hash  BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE invites (
    code_hash BLOB PRIMARY KEY,
    uses_left INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL DEFAULT '',
    last_seq         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- "min_user_id:max_user_id" for direct conversations: one per pair.
    direct_key       TEXT UNIQUE,
    -- CreateGroup idempotency: (creator device, client_id).
    creator_device   INTEGER,
    create_client_id TEXT
);
CREATE UNIQUE INDEX conversations_create ON conversations(creator_device, create_client_id);
CREATE INDEX conversations_updated ON conversations(updated_at);

CREATE TABLE members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    role            TEXT NOT NULL,
    -- First seq this member may read.
    joined_seq      INTEGER NOT NULL,
    -- Order of joining, for choosing the next owner.
    joined_order    INTEGER NOT NULL,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id);

CREATE TABLE messages (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    seq             INTEGER NOT NULL,
    sender_id       INTEGER NOT NULL,
    sender_device   INTEGER NOT NULL,
    -- NULL for system entries (they have no idempotency key).
    client_id       TEXT,
    server_time     INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    text            TEXT,
    data            BLOB,
    reply_to        INTEGER,
    target          INTEGER,
    remove          INTEGER NOT NULL DEFAULT 0,
    system          TEXT,
    edited_at       INTEGER,
    deleted         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, seq)
);
-- Idempotency of every client-initiated append.
CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_device, client_id);

CREATE TABLE reactions (
    conversation_id INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    emoji           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq, user_id, emoji)
) WITHOUT ROWID;

CREATE TABLE feed (
    user_id         INTEGER NOT NULL,
    pts             INTEGER NOT NULL,
    -- 'message' (joins messages on conversation_id, seq) or 'receipt' (payload is JSON).
    kind            TEXT NOT NULL,
    conversation_id INTEGER NOT NULL,
    seq             INTEGER,
    payload         TEXT,
    PRIMARY KEY (user_id, pts)
) WITHOUT ROWID;
