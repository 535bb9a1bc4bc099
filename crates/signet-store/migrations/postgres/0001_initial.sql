-- Signet schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql:
-- the same tables, columns and indexes, with PostgreSQL's native types.
--
-- Conventions: ids are prefixed hex TEXT; times are BIGINT unix seconds (UTC);
-- enums are their lower-case TEXT names; lists, name sets and event details
-- are JSON TEXT (the same text on both backends). Unique constraints are named
-- explicitly: the store maps these names to conflict errors.

CREATE TABLE subjects (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL CONSTRAINT subjects_name_key UNIQUE,
    kind        TEXT    NOT NULL,
    owner       TEXT,
    purpose     TEXT,
    assurance   TEXT    NOT NULL,
    attributes  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX subjects_by_created ON subjects (created_at, id);

CREATE TABLE profiles (
    name                TEXT    NOT NULL PRIMARY KEY,
    description         TEXT    NOT NULL,
    credential_type     TEXT    NOT NULL,
    key_algorithms      TEXT    NOT NULL,
    default_ttl_seconds BIGINT  NOT NULL,
    max_ttl_seconds     BIGINT  NOT NULL,
    names               TEXT    NOT NULL,
    require_names       BOOLEAN NOT NULL,
    ext_key_usages      TEXT    NOT NULL,
    is_ca               BOOLEAN NOT NULL,
    path_len            BIGINT,
    required_assurance  TEXT    NOT NULL,
    subject_kinds       TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

CREATE TABLE authorities (
    id              TEXT    NOT NULL PRIMARY KEY,
    role            TEXT    NOT NULL,
    key_algorithm   TEXT    NOT NULL,
    key_ref         TEXT    NOT NULL,
    certificate_der BYTEA   NOT NULL,
    active          BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    subject_id            TEXT    NOT NULL REFERENCES subjects (id),
    profile               TEXT    NOT NULL REFERENCES profiles (name),
    profile_version       BIGINT  NOT NULL,
    credential_type       TEXT    NOT NULL,
    requested_names       TEXT    NOT NULL,
    requested_ttl_seconds BIGINT,
    key_algorithm         TEXT,
    key_fingerprint       TEXT,
    requested_by          TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    reason                TEXT,
    credential_id         TEXT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);
CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_subject ON requests (subject_id, created_at, id);
CREATE INDEX requests_by_state   ON requests (state, created_at, id);

CREATE TABLE credentials (
    id              TEXT    NOT NULL PRIMARY KEY,
    credential_type TEXT    NOT NULL,
    serial          BYTEA   NOT NULL CONSTRAINT credentials_serial_key UNIQUE,
    subject_id      TEXT    NOT NULL REFERENCES subjects (id),
    profile         TEXT    NOT NULL REFERENCES profiles (name),
    request_id      TEXT    NOT NULL REFERENCES requests (id),
    issuer_id       TEXT    NOT NULL REFERENCES authorities (id),
    key_algorithm   TEXT    NOT NULL,
    key_fingerprint TEXT    NOT NULL,
    names           TEXT    NOT NULL,
    not_before      BIGINT  NOT NULL,
    not_after       BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    der             BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX credentials_by_created ON credentials (created_at, id);
CREATE INDEX credentials_by_subject ON credentials (subject_id, created_at, id);
CREATE INDEX credentials_by_profile ON credentials (profile, created_at, id);
CREATE INDEX credentials_by_status  ON credentials (status, created_at, id);

CREATE TABLE issuance_intents (
    serial          BYTEA   NOT NULL CONSTRAINT issuance_intents_pkey PRIMARY KEY,
    request_id      TEXT    NOT NULL,
    subject_id      TEXT    NOT NULL,
    profile         TEXT    NOT NULL,
    key_fingerprint TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);

-- The append-only event log. Writers that append take
-- `LOCK TABLE events IN EXCLUSIVE MODE` first (see the store), so indexes are
-- assigned in commit order and a reader paging by index never skips a row
-- that commits later with a smaller index.
-- The tamper-evident log: one entry per event. `event_index` is the entry's
-- leaf index in the Merkle tree, assigned by the store (0, 1, 2, … without
-- gaps) inside the appending transaction, under the table lock; `entry` is
-- the exact canonical JSON the leaf hash covers; `leaf_hash` = SHA-256(0x00 || entry).
CREATE TABLE events (
    event_index   BIGINT  NOT NULL PRIMARY KEY,
    event_type    TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    subject_id    TEXT,
    request_id    TEXT,
    credential_id TEXT,
    reason        TEXT,
    details       TEXT    NOT NULL,
    trace_id      TEXT,
    event_time    BIGINT  NOT NULL,
    entry         BYTEA   NOT NULL,
    leaf_hash     BYTEA   NOT NULL
);
CREATE INDEX events_by_subject ON events (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX events_by_credential ON events (credential_id) WHERE credential_id IS NOT NULL;
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE operator_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BYTEA   NOT NULL CONSTRAINT operator_tokens_secret_hash_key UNIQUE,
    role        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    revoked     BOOLEAN NOT NULL
);

-- The Merkle tree over `events`: the hash of every complete subtree, by
-- level (0 = leaves) and index; written by the sequencer, never changed.
CREATE TABLE log_nodes (
    level       BIGINT   NOT NULL,
    node_index  BIGINT   NOT NULL,
    hash        BYTEA    NOT NULL,
    PRIMARY KEY (level, node_index)
);
CREATE FUNCTION log_nodes_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'log nodes are immutable';
END;
$$;
CREATE TRIGGER log_nodes_no_update BEFORE UPDATE ON log_nodes
    FOR EACH ROW EXECUTE FUNCTION log_nodes_immutable();

-- How much of `events` the tree covers, and its root. One row.
CREATE TABLE log_state (
    id         SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    tree_size  BIGINT   NOT NULL,
    root_hash  BYTEA    NOT NULL
);
INSERT INTO log_state (id, tree_size, root_hash)
    VALUES (1, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

-- Signed checkpoints (C2SP signed notes), one per tree size signed.
CREATE TABLE log_checkpoints (
    tree_size   BIGINT  NOT NULL PRIMARY KEY,
    root_hash   BYTEA   NOT NULL,
    note        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- How far each forwarding sink (NATS JetStream, …) has delivered the log:
-- the index of the last entry it acknowledged.
CREATE TABLE log_forwarding (
    sink      TEXT    NOT NULL PRIMARY KEY,
    position  BIGINT  NOT NULL
);
