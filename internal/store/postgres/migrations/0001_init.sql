-- fleetgov schema, PostgreSQL. Identifiers use COLLATE "C" so that ordering
-- is bytewise, as in SQLite and Go. Times are timestamptz (microseconds),
-- NULL for a zero time. Lists are JSON text (not jsonb, which would not
-- keep them byte for byte). Hashes and audit details are bytea, verbatim.

CREATE TABLE tenants (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	name       text    NOT NULL,
	team       text    NOT NULL,
	owner      text    NOT NULL,
	kind       text    NOT NULL,
	sandbox    boolean NOT NULL,
	created_at timestamptz,
	updated_at timestamptz,
	retired_at timestamptz
);

CREATE TABLE credentials (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	kind       text  NOT NULL,
	tenant_id  text COLLATE "C" NOT NULL,
	agent_id   text COLLATE "C" NOT NULL,
	hash       bytea UNIQUE,
	prefix     text  NOT NULL,
	label      text  NOT NULL,
	created_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX credentials_tenant ON credentials (tenant_id, created_at);
CREATE INDEX credentials_agent ON credentials (agent_id);

CREATE TABLE agents (
	id               text COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id        text COLLATE "C" NOT NULL,
	name             text NOT NULL,
	archetype        text NOT NULL,
	spec_id          text NOT NULL,
	spec_version     text NOT NULL,
	library_version  text NOT NULL,
	owner            text NOT NULL,
	status           text NOT NULL,
	last_review      timestamptz,
	tools            text NOT NULL,
	escalation_path  text NOT NULL,
	shared_resources text NOT NULL,
	registered_at    timestamptz,
	updated_at       timestamptz
);
CREATE INDEX agents_tenant ON agents (tenant_id, id);

CREATE TABLE spec_revisions (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent_id      text COLLATE "C" NOT NULL REFERENCES agents (id) DEFERRABLE INITIALLY DEFERRED,
	spec_id       text NOT NULL,
	version       text NOT NULL,
	digest        text NOT NULL,
	source        text NOT NULL,
	registered_at timestamptz,
	registered_by text NOT NULL,
	UNIQUE (agent_id, version)
);

CREATE TABLE fleet_loads (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	digest           text NOT NULL,
	library_version  text NOT NULL,
	contract_version text NOT NULL,
	source           text NOT NULL,
	loaded_at        timestamptz,
	loaded_by        text NOT NULL
);

CREATE TABLE exceptions (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	clause_id   text COLLATE "C" NOT NULL,
	tier        text    NOT NULL,
	tenant_id   text COLLATE "C" NOT NULL,
	agent_id    text COLLATE "C" NOT NULL,
	limit_value double precision,
	allow       text    NOT NULL,
	waive       boolean NOT NULL,
	reason      text    NOT NULL,
	approved_by text    NOT NULL,
	created_at  timestamptz,
	expires_at  timestamptz,
	revoked_at  timestamptz,
	revoked_by  text    NOT NULL
);
CREATE INDEX exceptions_lookup ON exceptions (tenant_id, agent_id, clause_id);

CREATE TABLE audit_records (
	partition_name text COLLATE "C" NOT NULL,
	seq            bigint NOT NULL,
	recorded_at    timestamptz,
	actor          text   NOT NULL,
	action         text   NOT NULL,
	object         text   NOT NULL,
	outcome        text   NOT NULL,
	trace_id       text   NOT NULL,
	detail         bytea,
	prev_hash      bytea,
	hash           bytea  NOT NULL,
	PRIMARY KEY (partition_name, seq)
);
