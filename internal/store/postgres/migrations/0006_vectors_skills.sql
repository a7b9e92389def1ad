-- The gateway's vector store and skill registry.
--
-- Vector collections live in their tenant's namespace: every key starts with
-- the tenant and every query names it, so no read or write crosses it.
-- Vectors are bytea of little-endian float32 values; metadata is a JSON
-- object kept byte for byte (bytea, not jsonb), NULL when there is none.
-- points counts the collection's points, kept by the writes. Times are
-- timestamptz, NULL for zero. Keys use COLLATE "C" (bytewise, as in SQLite
-- and Go).
CREATE TABLE vector_collections (
	tenant     text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	dims       integer NOT NULL,
	metric     text    NOT NULL,
	points     bigint  NOT NULL DEFAULT 0,
	created_at timestamptz,
	created_by text    NOT NULL,
	PRIMARY KEY (tenant, name)
);

CREATE TABLE vector_points (
	tenant     text COLLATE "C" NOT NULL,
	collection text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	vector     bytea   NOT NULL,
	metadata   bytea,
	content    text    NOT NULL,
	updated_at timestamptz,
	PRIMARY KEY (tenant, collection, id),
	FOREIGN KEY (tenant, collection) REFERENCES vector_collections (tenant, name) ON DELETE CASCADE
);

-- Every released version of every skill, immutable. owner is a tenant or
-- '_platform' (fleet-wide skills); reads filter on owner and visibility.
CREATE TABLE skills (
	owner        text COLLATE "C" NOT NULL,
	name         text COLLATE "C" NOT NULL,
	version      text COLLATE "C" NOT NULL,
	visibility   text    NOT NULL,
	description  text    NOT NULL,
	skill_md     text    NOT NULL,
	digest       text    NOT NULL,
	published_at timestamptz,
	published_by text    NOT NULL,
	PRIMARY KEY (owner, name, version)
);
CREATE INDEX skills_shared ON skills (visibility, owner, name);
