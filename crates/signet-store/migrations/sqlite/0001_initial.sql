-- Signet schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and indexes, with SQLite's native types.
--
-- Conventions: ids are prefixed hex TEXT; times are INTEGER unix seconds (UTC);
-- enums are their lower-case TEXT names; lists, name sets and event details
-- are JSON TEXT. STRICT tables make SQLite enforce the declared types.

CREATE TABLE subjects (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    owner       TEXT,
    purpose     TEXT,
    assurance   TEXT    NOT NULL,
    attributes  TEXT    NOT NULL,  -- JSON object of strings
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX subjects_by_created ON subjects (created_at, id);

CREATE TABLE profiles (
    name                TEXT    NOT NULL PRIMARY KEY,
    description         TEXT    NOT NULL,
    credential_type     TEXT    NOT NULL,
    key_algorithms      TEXT    NOT NULL,  -- JSON array
    default_ttl_seconds INTEGER NOT NULL,
    max_ttl_seconds     INTEGER NOT NULL,
    names               TEXT    NOT NULL,  -- JSON NameRules
    require_names       INTEGER NOT NULL,
    ext_key_usages      TEXT    NOT NULL,  -- JSON array
    is_ca               INTEGER NOT NULL,
    path_len            INTEGER,
    required_assurance  TEXT    NOT NULL,
    subject_kinds       TEXT    NOT NULL,  -- JSON array
    version             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE authorities (
    id              TEXT    NOT NULL PRIMARY KEY,
    role            TEXT    NOT NULL,
    key_algorithm   TEXT    NOT NULL,
    key_ref         TEXT    NOT NULL,
    certificate_der BLOB    NOT NULL,
    active          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

-- A request row is written once, in its final state, with its outcome
-- (upserted if it already exists).
CREATE TABLE requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    subject_id            TEXT    NOT NULL REFERENCES subjects (id),
    profile               TEXT    NOT NULL REFERENCES profiles (name),
    profile_version       INTEGER NOT NULL,
    credential_type       TEXT    NOT NULL,
    requested_names       TEXT    NOT NULL,  -- JSON SanSet
    requested_ttl_seconds INTEGER,
    key_algorithm         TEXT,
    key_fingerprint       TEXT,
    requested_by          TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    reason                TEXT,
    credential_id         TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_subject ON requests (subject_id, created_at, id);
CREATE INDEX requests_by_state   ON requests (state, created_at, id);

CREATE TABLE credentials (
    id              TEXT    NOT NULL PRIMARY KEY,
    credential_type TEXT    NOT NULL,
    serial          BLOB    NOT NULL UNIQUE,
    subject_id      TEXT    NOT NULL REFERENCES subjects (id),
    profile         TEXT    NOT NULL REFERENCES profiles (name),
    request_id      TEXT    NOT NULL REFERENCES requests (id),
    issuer_id       TEXT    NOT NULL REFERENCES authorities (id),
    key_algorithm   TEXT    NOT NULL,
    key_fingerprint TEXT    NOT NULL,
    names           TEXT    NOT NULL,  -- JSON SanSet
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    der             BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX credentials_by_created ON credentials (created_at, id);
CREATE INDEX credentials_by_subject ON credentials (subject_id, created_at, id);
CREATE INDEX credentials_by_profile ON credentials (profile, created_at, id);
CREATE INDEX credentials_by_status  ON credentials (status, created_at, id);

-- Written before signing, so a crash between signing and commit leaves a
-- trace. No foreign keys: recording an intent must not depend on other rows.
CREATE TABLE issuance_intents (
    serial          BLOB    NOT NULL PRIMARY KEY,
    request_id      TEXT    NOT NULL,
    subject_id      TEXT    NOT NULL,
    profile         TEXT    NOT NULL,
    key_fingerprint TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The append-only event log. AUTOINCREMENT: an index is never reused, even
-- after the newest row is rolled back or removed. No foreign keys: the log
-- records facts about rows, it does not depend on them.
-- The tamper-evident log: one entry per event. `event_index` is the entry's
-- leaf index in the Merkle tree, assigned by the store (0, 1, 2, … without
-- gaps) inside the appending transaction; `entry` is the exact canonical
-- JSON the leaf hash covers; `leaf_hash` = SHA-256(0x00 || entry).
CREATE TABLE events (
    event_index   INTEGER NOT NULL PRIMARY KEY,
    event_type    TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    subject_id    TEXT,
    request_id    TEXT,
    credential_id TEXT,
    reason        TEXT,
    details       TEXT    NOT NULL,  -- JSON
    trace_id      TEXT,
    event_time    INTEGER NOT NULL,
    entry         BLOB    NOT NULL,
    leaf_hash     BLOB    NOT NULL
) STRICT;
CREATE INDEX events_by_subject ON events (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX events_by_credential ON events (credential_id) WHERE credential_id IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE operator_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL UNIQUE,  -- SHA-256 of the secret, never the secret
    role        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked     INTEGER NOT NULL
) STRICT;

-- The Merkle tree over `events`: the hash of every complete subtree, by
-- level (0 = leaves) and index; written by the sequencer, never changed.
CREATE TABLE log_nodes (
    level       INTEGER NOT NULL,
    node_index  INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    PRIMARY KEY (level, node_index)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER log_nodes_no_update BEFORE UPDATE ON log_nodes
BEGIN
    SELECT RAISE(ABORT, 'log nodes are immutable');
END;

-- How much of `events` the tree covers, and its root. One row.
CREATE TABLE log_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB    NOT NULL
) STRICT;
INSERT INTO log_state (id, tree_size, root_hash)
    VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

-- Signed checkpoints (C2SP signed notes), one per tree size signed.
CREATE TABLE log_checkpoints (
    tree_size   INTEGER NOT NULL PRIMARY KEY,
    root_hash   BLOB    NOT NULL,
    note        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- How far each forwarding sink (NATS JetStream, …) has delivered the log:
-- the index of the last entry it acknowledged.
CREATE TABLE log_forwarding (
    sink      TEXT    NOT NULL PRIMARY KEY,
    position  INTEGER  NOT NULL
) STRICT;
