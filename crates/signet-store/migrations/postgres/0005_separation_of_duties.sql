-- Separation of duties that one admin cannot satisfy alone.
-- Keep in step with ../sqlite/0005_separation_of_duties.sql.

ALTER TABLE operators ADD COLUMN sponsors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE operators ADD COLUMN enrolment_verifier BYTEA;
ALTER TABLE operators ADD COLUMN enrolment_expires_at BIGINT;

CREATE TABLE operator_grants (
    id            TEXT    NOT NULL PRIMARY KEY,
    operator_id   TEXT    NOT NULL REFERENCES operators (id),
    before_access TEXT    NOT NULL,
    after_access  TEXT    NOT NULL,
    enrolment     TEXT,
    requested_by  TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    decided_by    TEXT,
    decided_at    BIGINT
);
CREATE INDEX operator_grants_by_time ON operator_grants (created_at, id);
