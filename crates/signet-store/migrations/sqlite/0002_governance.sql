-- Operators, their roles and tokens; stored policy versions; approvals.
-- Keep in step with ../postgres/0002_governance.sql.

-- A caller of the operator API. Roles, sites and teams are JSON arrays of
-- strings; what they allow is decided by the active Cedar policy set.
CREATE TABLE operators (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    roles       TEXT    NOT NULL,
    sites       TEXT    NOT NULL,
    all_sites   INTEGER NOT NULL,
    teams       TEXT    NOT NULL,
    subject_id  TEXT,
    disabled    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Every token created before operators existed becomes the token of an
-- operator of its own, with the token's role (the bootstrap admin also
-- enrols subjects and submits requests, as it does now).
INSERT INTO operators (id, name, roles, sites, all_sites, teams, subject_id, disabled, created_at, updated_at)
    SELECT 'op_' || substr(id, 5), 'token-' || substr(id, 5),
           CASE role WHEN 'admin' THEN '["admin","registration_officer"]' ELSE json_array(role) END,
           '[]', 1, '[]', NULL, 0, created_at, created_at
    FROM operator_tokens;
ALTER TABLE operator_tokens ADD COLUMN operator_id TEXT NOT NULL DEFAULT '';
UPDATE operator_tokens SET operator_id = 'op_' || substr(id, 5);
ALTER TABLE operator_tokens DROP COLUMN role;
CREATE INDEX operator_tokens_by_operator ON operator_tokens (operator_id);

ALTER TABLE subjects ADD COLUMN site TEXT NOT NULL DEFAULT 'default';

-- Scopes and approval rules (JSON), beside the profile's other rules.
ALTER TABLE profiles ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';

ALTER TABLE requests ADD COLUMN requested_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN expires_at INTEGER;
-- The key to bind, kept while a request waits for approvals.
ALTER TABLE requests ADD COLUMN key_spki BLOB;

-- One approver's verdict on a pending request: one row per approver, so a
-- person counts once.
CREATE TABLE approvals (
    request_id  TEXT    NOT NULL REFERENCES requests (id),
    approver    TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
) STRICT;

-- Every policy set ever activated; the highest version is the active one.
-- No row: the built-in default set is active.
CREATE TABLE policies (
    version     INTEGER NOT NULL PRIMARY KEY,
    text        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies
BEGIN
    SELECT RAISE(ABORT, 'policy versions are immutable');
END;
CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies
BEGIN
    SELECT RAISE(ABORT, 'policy versions are immutable');
END;
