-- Audit records name the acting agent, the isolation contract row of the
-- shared resource and the call's cost in micro-USD. Records written before
-- have none of them (empty, 0) and keep their hashes: see store.Seal.
ALTER TABLE audit_records ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
