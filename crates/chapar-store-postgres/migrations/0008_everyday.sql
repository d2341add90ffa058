-- chapar PostgreSQL schema, version 8: a pinned message per conversation, and where a
-- forwarded message came from (JSON: {from: {id, handle, display_name}, server_time}).
ALTER TABLE conversations ADD COLUMN pinned_seq BIGINT;
ALTER TABLE messages ADD COLUMN forward TEXT;
-- What a person set about one of their conversations for themselves: archived, and their
-- history cleared up to a seq. No row: neither.
CREATE TABLE chat_state (
    user_id         BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    archived        BOOLEAN NOT NULL DEFAULT FALSE,
    cleared_seq     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conversation_id)
);
-- Messages a person deleted for themselves (the others keep them).
CREATE TABLE hidden_messages (
    user_id         BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, seq)
);
-- A group's description (empty: none).
ALTER TABLE conversations ADD COLUMN description TEXT NOT NULL DEFAULT '';
