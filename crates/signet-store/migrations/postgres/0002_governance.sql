-- Operators, their roles and tokens; stored policy versions; approvals.
-- Keep in step with ../sqlite/0002_governance.sql.

CREATE TABLE operators (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL CONSTRAINT operators_name_key UNIQUE,
    roles       TEXT    NOT NULL,
    sites       TEXT    NOT NULL,
    all_sites   BOOLEAN NOT NULL,
    teams       TEXT    NOT NULL,
    subject_id  TEXT,
    disabled    BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

INSERT INTO operators (id, name, roles, sites, all_sites, teams, subject_id, disabled, created_at, updated_at)
    SELECT 'op_' || substr(id, 5), 'token-' || substr(id, 5),
           CASE role WHEN 'admin' THEN '["admin","registration_officer"]' ELSE json_build_array(role)::text END,
           '[]', TRUE, '[]', NULL, FALSE, created_at, created_at
    FROM operator_tokens;
ALTER TABLE operator_tokens ADD COLUMN operator_id TEXT NOT NULL DEFAULT '';
UPDATE operator_tokens SET operator_id = 'op_' || substr(id, 5);
ALTER TABLE operator_tokens DROP COLUMN role;
CREATE INDEX operator_tokens_by_operator ON operator_tokens (operator_id);

ALTER TABLE subjects ADD COLUMN site TEXT NOT NULL DEFAULT 'default';
ALTER TABLE profiles ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';
ALTER TABLE requests ADD COLUMN requested_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN break_glass BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN expires_at BIGINT;
ALTER TABLE requests ADD COLUMN key_spki BYTEA;

CREATE TABLE approvals (
    request_id  TEXT    NOT NULL REFERENCES requests (id),
    approver    TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE policies (
    version     BIGINT  NOT NULL PRIMARY KEY,
    text        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE FUNCTION policies_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policy versions are immutable';
END;
$$;
CREATE TRIGGER policies_no_update BEFORE UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION policies_immutable();
