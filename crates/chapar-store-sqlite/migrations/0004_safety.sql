-- chapar SQLite schema, version 4: safety. Blocks and contacts, privacy settings, operators and
-- suspensions, session idle time, group invitations, reports, daily counters, the audit log.

-- A direct conversation either of whose people blocks the other (no appends).
ALTER TABLE conversations ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;

-- Privacy settings as JSON (NULL: the defaults).
ALTER TABLE users ADD COLUMN privacy TEXT;
ALTER TABLE users ADD COLUMN operator INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN suspended_at INTEGER;
ALTER TABLE users ADD COLUMN suspend_reason TEXT;

-- Last use of a session; existing sessions count as used at their creation.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
UPDATE sessions SET last_used_at = created_at;

-- What one user set about another: 'block' or 'contact'.
CREATE TABLE relations (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    other_id   INTEGER NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, other_id, kind)
) WITHOUT ROWID;

CREATE TABLE invitations (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    inviter_id      INTEGER NOT NULL REFERENCES users(id),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX invitations_user ON invitations(user_id, created_at);

-- Per-user counters per day (days since the Unix epoch), for daily limits.
CREATE TABLE daily_counts (
    user_id INTEGER NOT NULL,
    what    TEXT NOT NULL,
    day     INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (user_id, what, day)
) WITHOUT ROWID;

CREATE TABLE reports (
    id              INTEGER PRIMARY KEY,
    reporter_id     INTEGER NOT NULL REFERENCES users(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    conversation_id INTEGER,
    seq             INTEGER,
    -- The message's text when it was reported.
    text            TEXT,
    reason          TEXT NOT NULL,
    comment         TEXT,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    resolution      TEXT
);
CREATE INDEX reports_open ON reports(id) WHERE resolved_at IS NULL;

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    operator_id INTEGER REFERENCES users(id),
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
