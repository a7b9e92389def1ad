-- Audit records name the acting agent, the isolation contract row of the
-- shared resource and the call's cost in micro-USD. Records written before
-- have none of them (empty, 0) and keep their hashes: see store.Seal.
ALTER TABLE audit_records
	ADD COLUMN agent       text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN resource    text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
