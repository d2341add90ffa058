-- chapar SQLite schema, version 6: finding people. Prefix search by display name reads this
-- index (by handle it reads the handle's own unique index).
CREATE INDEX users_name ON users(lower(display_name));
