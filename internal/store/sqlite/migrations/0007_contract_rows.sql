-- Each fleet load records the digest of every row of the isolation contract,
-- so that a row changed without a new contract version is refused on the
-- next load, also after a restart.
ALTER TABLE fleet_loads ADD COLUMN contract_rows TEXT NOT NULL DEFAULT '{}';
