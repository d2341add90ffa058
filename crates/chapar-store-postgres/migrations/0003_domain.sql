-- chapar PostgreSQL schema, version 3 (the same as the SQLite store's 0003_domain.sql): invites expire; a deletion finds the edits of a message.

-- Unix ms after which the invite is refused; NULL: it never expires.
ALTER TABLE invites ADD COLUMN expires_at BIGINT;

-- Edit, delete and reaction entries by the message they act on (a deletion clears its edits).
CREATE INDEX messages_target ON messages(conversation_id, target) WHERE target IS NOT NULL;
