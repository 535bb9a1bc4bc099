-- At most one active authority key per role (one root, one issuing CA):
-- two server processes starting at once on an empty store cannot both
-- record their own CAs; the second is refused and, started again, uses the
-- first one's. A rollover retires the old key before it inserts the new one.
-- Keep in step with ../postgres/0004_one_active_authority.sql.

CREATE UNIQUE INDEX authorities_one_active_per_role ON authorities (role) WHERE state = 'active';
