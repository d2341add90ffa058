-- chapar SQLite schema, version 5: the account itself. A recovery key (the public half; the
-- person keeps the private one) and a short bio.
ALTER TABLE users ADD COLUMN recovery_key BLOB;
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
