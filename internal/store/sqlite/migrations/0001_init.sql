-- fleetgov schema, SQLite. Times are INTEGER microseconds since the Unix
-- epoch in UTC, NULL for a zero time. Lists are JSON text. Hashes and audit
-- details are BLOBs, stored verbatim.

CREATE TABLE tenants (
	id         TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	team       TEXT    NOT NULL,
	owner      TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	sandbox    INTEGER NOT NULL,
	created_at INTEGER,
	updated_at INTEGER,
	retired_at INTEGER
);

CREATE TABLE credentials (
	id         TEXT NOT NULL PRIMARY KEY,
	kind       TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	agent_id   TEXT NOT NULL,
	hash       BLOB UNIQUE,
	prefix     TEXT NOT NULL,
	label      TEXT NOT NULL,
	created_at INTEGER,
	revoked_at INTEGER
);
CREATE INDEX credentials_tenant ON credentials (tenant_id, created_at);
CREATE INDEX credentials_agent ON credentials (agent_id);

CREATE TABLE agents (
	id               TEXT NOT NULL PRIMARY KEY,
	tenant_id        TEXT NOT NULL,
	name             TEXT NOT NULL,
	archetype        TEXT NOT NULL,
	spec_id          TEXT NOT NULL,
	spec_version     TEXT NOT NULL,
	library_version  TEXT NOT NULL,
	owner            TEXT NOT NULL,
	status           TEXT NOT NULL,
	last_review      INTEGER,
	tools            TEXT NOT NULL,
	escalation_path  TEXT NOT NULL,
	shared_resources TEXT NOT NULL,
	registered_at    INTEGER,
	updated_at       INTEGER
);
CREATE INDEX agents_tenant ON agents (tenant_id, id);

CREATE TABLE spec_revisions (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	agent_id      TEXT NOT NULL REFERENCES agents (id) DEFERRABLE INITIALLY DEFERRED,
	spec_id       TEXT NOT NULL,
	version       TEXT NOT NULL,
	digest        TEXT NOT NULL,
	source        TEXT NOT NULL,
	registered_at INTEGER,
	registered_by TEXT NOT NULL,
	UNIQUE (agent_id, version)
);

CREATE TABLE fleet_loads (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	digest           TEXT NOT NULL,
	library_version  TEXT NOT NULL,
	contract_version TEXT NOT NULL,
	source           TEXT NOT NULL,
	loaded_at        INTEGER,
	loaded_by        TEXT NOT NULL
);

CREATE TABLE exceptions (
	id          TEXT    NOT NULL PRIMARY KEY,
	clause_id   TEXT    NOT NULL,
	tier        TEXT    NOT NULL,
	tenant_id   TEXT    NOT NULL,
	agent_id    TEXT    NOT NULL,
	limit_value REAL,
	allow       TEXT    NOT NULL,
	waive       INTEGER NOT NULL,
	reason      TEXT    NOT NULL,
	approved_by TEXT    NOT NULL,
	created_at  INTEGER,
	expires_at  INTEGER,
	revoked_at  INTEGER,
	revoked_by  TEXT    NOT NULL
);
CREATE INDEX exceptions_lookup ON exceptions (tenant_id, agent_id, clause_id);

CREATE TABLE audit_records (
	partition_name TEXT    NOT NULL,
	seq            INTEGER NOT NULL,
	recorded_at    INTEGER,
	actor          TEXT    NOT NULL,
	action         TEXT    NOT NULL,
	object         TEXT    NOT NULL,
	outcome        TEXT    NOT NULL,
	trace_id       TEXT    NOT NULL,
	detail         BLOB,
	prev_hash      BLOB,
	hash           BLOB    NOT NULL,
	PRIMARY KEY (partition_name, seq)
) WITHOUT ROWID;
