-- AdCP campaign governance: one governance agent per account and its state.
-- Every table is keyed by the account first; no query reads across accounts.
-- Plans, requests and responses (raw, request, response) are BLOBs kept byte
-- for byte, since they are hashed and replayed; a human review is JSON text,
-- NULL when there is none. Times are INTEGER microseconds, NULL for zero.

-- An adcp_principal credential authenticates as an AdCP agent URL.
ALTER TABLE credentials ADD COLUMN agent_url TEXT NOT NULL DEFAULT '';

CREATE TABLE gov_bindings (
	account  TEXT    NOT NULL PRIMARY KEY,
	url      TEXT    NOT NULL,
	builtin  INTEGER NOT NULL,
	bound_at INTEGER,
	bound_by TEXT    NOT NULL
);

-- gov_plans points at each plan's current revision. PutPlan increments
-- version with one upsert, which also serializes concurrent syncs of a plan.
CREATE TABLE gov_plans (
	account TEXT    NOT NULL,
	plan_id TEXT    NOT NULL,
	version INTEGER NOT NULL,
	status  TEXT    NOT NULL,
	PRIMARY KEY (account, plan_id)
) WITHOUT ROWID;

-- Every revision of every plan, kept forever (its plan_hash with it).
CREATE TABLE gov_plan_revisions (
	account   TEXT    NOT NULL,
	plan_id   TEXT    NOT NULL,
	version   INTEGER NOT NULL,
	status    TEXT    NOT NULL,
	owner     TEXT    NOT NULL,
	raw       BLOB,
	hash      TEXT    NOT NULL,
	synced_at INTEGER,
	synced_by TEXT    NOT NULL,
	PRIMARY KEY (account, plan_id, version),
	FOREIGN KEY (account, plan_id) REFERENCES gov_plans (account, plan_id)
);

-- The member plans each portfolio plan's current revision names, so that a
-- check on a member finds the portfolio whose cap binds it.
CREATE TABLE gov_portfolio_members (
	account      TEXT NOT NULL,
	portfolio_id TEXT NOT NULL,
	member_id    TEXT NOT NULL,
	PRIMARY KEY (account, portfolio_id, member_id)
);
CREATE INDEX gov_portfolio_members_member ON gov_portfolio_members (account, member_id);

-- Check IDs are unique across accounts; every lookup also names the account.
CREATE TABLE gov_checks (
	id            TEXT    NOT NULL PRIMARY KEY,
	account       TEXT    NOT NULL,
	plan_id       TEXT    NOT NULL,
	plan_version  INTEGER NOT NULL,
	plan_hash     TEXT    NOT NULL,
	sub           TEXT    NOT NULL,
	check_type    TEXT    NOT NULL,
	phase         TEXT    NOT NULL,
	caller        TEXT    NOT NULL,
	principal     TEXT    NOT NULL,
	tool          TEXT    NOT NULL,
	audience      TEXT    NOT NULL,
	purchase_type TEXT    NOT NULL,
	amount        REAL,
	currency      TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	verdict       TEXT    NOT NULL,
	jti           TEXT    NOT NULL,
	expires_at    INTEGER,
	request       BLOB,
	response      BLOB,
	review        TEXT,
	created_at    INTEGER,
	action_key    TEXT    NOT NULL DEFAULT ''
);
-- For the re-check loop guard: an action's latest checks under a revision.
CREATE INDEX gov_checks_action ON gov_checks (account, plan_id, action_key, plan_version, created_at, id);
CREATE INDEX gov_checks_plan ON gov_checks (account, plan_id, created_at);
CREATE INDEX gov_checks_sub ON gov_checks (account, sub, created_at);
CREATE INDEX gov_checks_status ON gov_checks (account, status, created_at);

CREATE TABLE gov_actions (
	account       TEXT    NOT NULL,
	sub           TEXT    NOT NULL,
	plan_id       TEXT    NOT NULL,
	buyer         TEXT    NOT NULL,
	seller        TEXT    NOT NULL,
	tool          TEXT    NOT NULL,
	purchase_type TEXT    NOT NULL,
	currency      TEXT    NOT NULL,
	authorized    REAL    NOT NULL,
	committed     REAL    NOT NULL,
	settlement    TEXT    NOT NULL,
	settled_at    INTEGER,
	rechecks      INTEGER NOT NULL,
	media_buy_id  TEXT    NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER,
	PRIMARY KEY (account, sub)
);
CREATE INDEX gov_actions_plan ON gov_actions (account, plan_id, created_at);
-- For the ledger: a plan's settled commitments.
CREATE INDEX gov_actions_settled ON gov_actions (account, plan_id, settlement);
-- For the aggregation-window fragmentation defense.
CREATE INDEX gov_actions_parties ON gov_actions (account, buyer, settlement, created_at);

CREATE TABLE gov_outcomes (
	id         TEXT NOT NULL PRIMARY KEY,
	account    TEXT NOT NULL,
	plan_id    TEXT NOT NULL,
	check_id   TEXT NOT NULL,
	sub        TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	committed  REAL NOT NULL,
	reporter   TEXT NOT NULL,
	request    BLOB,
	response   BLOB,
	created_at INTEGER
);
CREATE INDEX gov_outcomes_plan ON gov_outcomes (account, plan_id, created_at);

CREATE TABLE gov_delivery_statements (
	account      TEXT    NOT NULL,
	sub          TEXT    NOT NULL,
	statement_id TEXT    NOT NULL,
	digest       TEXT    NOT NULL,
	sequence     INTEGER NOT NULL,
	period_start INTEGER,
	period_end   INTEGER,
	spend        REAL    NOT NULL,
	currency     TEXT    NOT NULL,
	created_at   INTEGER,
	PRIMARY KEY (account, sub, statement_id)
);

CREATE TABLE gov_idempotency (
	account      TEXT NOT NULL,
	principal    TEXT NOT NULL,
	task         TEXT NOT NULL,
	idem_key     TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	response     BLOB,
	created_at   INTEGER,
	expires_at   INTEGER,
	PRIMARY KEY (account, principal, task, idem_key)
);

CREATE TABLE gov_signing_keys (
	account    TEXT NOT NULL,
	kid        TEXT NOT NULL,
	public_key BLOB,
	sealed     BLOB,
	created_at INTEGER,
	retired_at INTEGER,
	revoked_at INTEGER,
	PRIMARY KEY (account, kid)
);

CREATE TABLE gov_revoked_tokens (
	account    TEXT NOT NULL,
	jti        TEXT NOT NULL,
	revoked_at INTEGER,
	PRIMARY KEY (account, jti)
) WITHOUT ROWID;

CREATE TABLE gov_fixtures (
	account    TEXT NOT NULL,
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	raw        BLOB,
	updated_at INTEGER,
	PRIMARY KEY (account, kind, id)
);
