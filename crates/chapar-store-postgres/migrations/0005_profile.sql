-- chapar PostgreSQL schema, version 5 (the same as the SQLite store's 0005_profile.sql): the
-- account itself. A recovery key (the public half; the person keeps the private one) and a short
-- bio.
ALTER TABLE users ADD COLUMN recovery_key BYTEA;
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
