-- chapar PostgreSQL schema, version 6 (the same as the SQLite store's 0006_find.sql): finding
-- people. Prefix search by display name reads this index (by handle, the handle's own index).
CREATE INDEX users_name ON users(lower(display_name) text_pattern_ops);
CREATE INDEX users_handle_prefix ON users(handle text_pattern_ops);
