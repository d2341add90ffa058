-- chapar PostgreSQL schema, version 7: message search. The words of each findable message
-- (chapar_core::search::words, already folded) as lexemes, built without PostgreSQL's parser
-- (array_to_tsvector), so what is found does not depend on the database's locale.
CREATE TABLE message_search (
    conversation_id BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    words           tsvector NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX message_search_words ON message_search USING gin (words);
