-- One pipeline for every credential type (issue 15).
-- Keep in step with ../sqlite/0006_credential_types.sql.

-- What a request asked beyond the common fields, in its credential type's
-- own terms (a JWT's audience, …): JSON, kept while it waits for approvals.
ALTER TABLE requests ADD COLUMN params TEXT NOT NULL DEFAULT '{}';

-- The intent recorded before signing now carries the SHA-256 of the exact
-- bytes about to be signed (NULL for intents recorded before this migration).
ALTER TABLE issuance_intents ADD COLUMN tbs_sha256 BYTEA;

-- A bearer credential (a JWT without `cnf`) is bound to no holder key.
ALTER TABLE credentials ALTER COLUMN key_algorithm DROP NOT NULL;
