-- One pipeline for every credential type (issue 15).
-- Keep in step with ../postgres/0006_credential_types.sql.

-- What a request asked beyond the common fields, in its credential type's
-- own terms (a JWT's audience, …): JSON, kept while it waits for approvals.
ALTER TABLE requests ADD COLUMN params TEXT NOT NULL DEFAULT '{}';

-- The intent recorded before signing now carries the SHA-256 of the exact
-- bytes about to be signed (NULL for intents recorded before this migration).
ALTER TABLE issuance_intents ADD COLUMN tbs_sha256 BLOB;

-- A bearer credential (a JWT without `cnf`) is bound to no holder key:
-- key_algorithm becomes optional. SQLite cannot drop a NOT NULL constraint,
-- so the table is rebuilt; no other table references it.
CREATE TABLE credentials_v6 (
    id              TEXT    NOT NULL PRIMARY KEY,
    credential_type TEXT    NOT NULL,
    serial          BLOB    NOT NULL UNIQUE,
    subject_id      TEXT    NOT NULL REFERENCES subjects (id),
    profile         TEXT    NOT NULL REFERENCES profiles (name),
    request_id      TEXT    NOT NULL REFERENCES requests (id),
    issuer_id       TEXT    NOT NULL REFERENCES authorities (id),
    key_algorithm   TEXT,
    key_fingerprint TEXT    NOT NULL,
    names           TEXT    NOT NULL,  -- JSON SanSet
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    der             BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
INSERT INTO credentials_v6
    SELECT id, credential_type, serial, subject_id, profile, request_id, issuer_id, key_algorithm, key_fingerprint,
           names, not_before, not_after, status, der, created_at
    FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v6 RENAME TO credentials;
CREATE INDEX credentials_by_created ON credentials (created_at, id);
CREATE INDEX credentials_by_subject ON credentials (subject_id, created_at, id);
CREATE INDEX credentials_by_profile ON credentials (profile, created_at, id);
CREATE INDEX credentials_by_status  ON credentials (status, created_at, id);
CREATE INDEX credentials_by_issuer  ON credentials (issuer_id, not_after);
