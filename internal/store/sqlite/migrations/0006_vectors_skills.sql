-- The gateway's vector store and skill registry.
--
-- Vector collections live in their tenant's namespace: every key starts with
-- the tenant and every query names it, so no read or write crosses it.
-- Vectors are BLOBs of little-endian float32 values; metadata is a JSON
-- object kept byte for byte, NULL when there is none. points counts the
-- collection's points, kept by the writes. Times are INTEGER microseconds,
-- NULL for zero.
CREATE TABLE vector_collections (
	tenant     TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	dims       INTEGER NOT NULL,
	metric     TEXT    NOT NULL,
	points     INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER,
	created_by TEXT    NOT NULL,
	PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

-- A rowid table: its rows carry kilobytes of vector each, which a
-- WITHOUT ROWID table would store in its index pages.
CREATE TABLE vector_points (
	tenant     TEXT    NOT NULL,
	collection TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	vector     BLOB    NOT NULL,
	metadata   BLOB,
	content    TEXT    NOT NULL,
	updated_at INTEGER,
	PRIMARY KEY (tenant, collection, id),
	FOREIGN KEY (tenant, collection) REFERENCES vector_collections (tenant, name) ON DELETE CASCADE
);

-- Every released version of every skill, immutable. owner is a tenant or
-- '_platform' (fleet-wide skills); reads filter on owner and visibility.
CREATE TABLE skills (
	owner        TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	version      TEXT    NOT NULL,
	visibility   TEXT    NOT NULL,
	description  TEXT    NOT NULL,
	skill_md     TEXT    NOT NULL,
	digest       TEXT    NOT NULL,
	published_at INTEGER,
	published_by TEXT    NOT NULL,
	PRIMARY KEY (owner, name, version)
);
CREATE INDEX skills_shared ON skills (visibility, owner, name);
