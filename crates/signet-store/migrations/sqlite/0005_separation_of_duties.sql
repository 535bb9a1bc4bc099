-- Separation of duties that one admin cannot satisfy alone.
-- Keep in step with ../postgres/0005_separation_of_duties.sql.

-- Who made each operator what it is (JSON array of {by, act, at}): an
-- approval by an operator its requester sponsored recently does not count.
ALTER TABLE operators ADD COLUMN sponsors TEXT NOT NULL DEFAULT '[]';
-- A pending enrolment: the SHA-256 of a secret only the operator knows,
-- redeemed once for its first token before it expires.
ALTER TABLE operators ADD COLUMN enrolment_verifier BLOB;
ALTER TABLE operators ADD COLUMN enrolment_expires_at INTEGER;

-- A privileged change to an operator (roles that approve, apply policy or
-- administer; their reach; a re-enrolment), asked by one admin and applied
-- only when a different admin approves it. Access sets are JSON.
CREATE TABLE operator_grants (
    id            TEXT    NOT NULL PRIMARY KEY,
    operator_id   TEXT    NOT NULL REFERENCES operators (id),
    before_access TEXT    NOT NULL,
    after_access  TEXT    NOT NULL,
    enrolment     TEXT,
    requested_by  TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    decided_by    TEXT,
    decided_at    INTEGER
) STRICT;
CREATE INDEX operator_grants_by_time ON operator_grants (created_at, id);
