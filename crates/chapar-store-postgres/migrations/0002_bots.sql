-- chapar PostgreSQL schema, version 2 (the same model as the SQLite store's 0002_bots.sql):
-- bots, service accounts, and messages with formatting and buttons. Expand-only: nodes of
-- schema 1 keep working on it. A bot is a user (users.kind 'bot' or 'service') with one device
-- that sends its messages; its feed rows are its updates, including 'callback' rows.

-- JSON array of entities and JSON inline keyboard; NULL when the message has none.
ALTER TABLE messages ADD COLUMN entities TEXT;
ALTER TABLE messages ADD COLUMN reply_markup TEXT;

CREATE TABLE bots (
    user_id         BIGINT PRIMARY KEY REFERENCES users(id),
    owner_id        BIGINT NOT NULL REFERENCES users(id),
    device_id       BIGINT NOT NULL REFERENCES devices(id),
    -- 'bot' (Bot API) or 'service' (service HTTP API).
    kind            TEXT NOT NULL,
    -- SHA-256 of the token's secret (the part after "<id>:"); NULL when revoked.
    token_hash      BYTEA UNIQUE,
    -- Privacy mode off: the bot receives every group message.
    read_all        BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON: menu commands, webhook (url, secret_token, max_connections, set_at), update types.
    commands        TEXT NOT NULL DEFAULT '[]',
    webhook         TEXT,
    allowed_updates TEXT NOT NULL DEFAULT '[]',
    -- Feed pts below this are confirmed updates, never delivered again.
    confirmed_pts   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX bots_owner ON bots(owner_id);

-- A person allowed a service account to message them.
CREATE TABLE consents (
    user_id    BIGINT NOT NULL REFERENCES users(id),
    service_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, service_id)
);
