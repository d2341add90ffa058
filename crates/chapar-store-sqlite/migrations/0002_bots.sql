-- chapar SQLite schema, version 2: bots, service accounts, and messages with formatting and
-- buttons. A bot is a user (users.kind 'bot' or 'service') with one device that sends its
-- messages; its feed rows are its updates, including 'callback' rows (button presses).

-- JSON array of entities and JSON inline keyboard; NULL when the message has none.
ALTER TABLE messages ADD COLUMN entities TEXT;
ALTER TABLE messages ADD COLUMN reply_markup TEXT;

CREATE TABLE bots (
    user_id         INTEGER PRIMARY KEY REFERENCES users(id),
    owner_id        INTEGER NOT NULL REFERENCES users(id),
    device_id       INTEGER NOT NULL REFERENCES devices(id),
    -- 'bot' (Bot API) or 'service' (service HTTP API).
    kind            TEXT NOT NULL,
    -- SHA-256 of the token's secret (the part after "<id>:"); NULL when revoked.
    token_hash      BLOB UNIQUE,
    -- Privacy mode off: the bot receives every group message.
    read_all        INTEGER NOT NULL DEFAULT 0,
    -- JSON: menu commands, webhook (url, secret_token, max_connections, set_at), update types.
    commands        TEXT NOT NULL DEFAULT '[]',
    webhook         TEXT,
    allowed_updates TEXT NOT NULL DEFAULT '[]',
    -- Feed pts below this are confirmed updates, never delivered again.
    confirmed_pts   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX bots_owner ON bots(owner_id);

-- A person allowed a service account to message them.
CREATE TABLE consents (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    service_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, service_id)
) WITHOUT ROWID;
