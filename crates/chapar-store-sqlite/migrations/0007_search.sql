-- chapar SQLite schema, version 7: message search. The words of each findable message
-- (chapar_core::search::words, already folded, joined by spaces) under the message's rowid.
-- Contentless: the index keeps no copy of the text, and a deleted message's words go with
-- its row here.
CREATE VIRTUAL TABLE message_search USING fts5(
    words,
    tokenize = 'unicode61 remove_diacritics 0',
    content = '',
    contentless_delete = 1
);
