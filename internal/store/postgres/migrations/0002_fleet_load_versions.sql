-- Each fleet load records the digest of every library version it held, so
-- that a released version edited in place is detected on the next load.
ALTER TABLE fleet_loads ADD COLUMN library_versions TEXT NOT NULL DEFAULT '{}';
