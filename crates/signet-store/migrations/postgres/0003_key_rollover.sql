-- Key rollover: every authority key has a rotation slot
-- (prepared -> active -> retired -> destroyed) and the times it was retired
-- and destroyed. `active` is kept, equal to `state = 'active'`.
-- Keep in step with ../sqlite/0003_key_rollover.sql.

ALTER TABLE authorities ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
ALTER TABLE authorities ADD COLUMN retired_at BIGINT;
ALTER TABLE authorities ADD COLUMN destroyed_at BIGINT;
UPDATE authorities SET state = CASE WHEN active THEN 'active' ELSE 'retired' END;

-- Is any certificate of this issuer still valid? (destroying a retired key)
CREATE INDEX credentials_by_issuer ON credentials (issuer_id, not_after);
