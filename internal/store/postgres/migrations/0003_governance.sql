-- AdCP campaign governance: one governance agent per account and its state.
-- Every table is keyed by the account first; no query reads across accounts.
-- Plans, requests and responses (raw, request, response) are bytea kept byte
-- for byte (not jsonb), since they are hashed and replayed; a human review is
-- JSON text, NULL when there is none. Times are timestamptz, NULL for zero.
-- Keys and the columns lists order by use COLLATE "C" (bytewise, as in
-- SQLite and Go).

-- An adcp_principal credential authenticates as an AdCP agent URL.
ALTER TABLE credentials ADD COLUMN agent_url text NOT NULL DEFAULT '';

CREATE TABLE gov_bindings (
	account  text COLLATE "C" NOT NULL PRIMARY KEY,
	url      text    NOT NULL,
	builtin  boolean NOT NULL,
	bound_at timestamptz,
	bound_by text    NOT NULL
);

-- gov_plans points at each plan's current revision. PutPlan increments
-- version with one upsert, whose row lock also serializes concurrent syncs
-- of one plan across replicas.
CREATE TABLE gov_plans (
	account text COLLATE "C" NOT NULL,
	plan_id text COLLATE "C" NOT NULL,
	version integer NOT NULL,
	status  text    NOT NULL,
	PRIMARY KEY (account, plan_id)
);

-- Every revision of every plan, kept forever (its plan_hash with it).
CREATE TABLE gov_plan_revisions (
	account   text COLLATE "C" NOT NULL,
	plan_id   text COLLATE "C" NOT NULL,
	version   integer NOT NULL,
	status    text    NOT NULL,
	owner     text    NOT NULL,
	raw       bytea,
	hash      text    NOT NULL,
	synced_at timestamptz,
	synced_by text    NOT NULL,
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
	id            text COLLATE "C" NOT NULL PRIMARY KEY,
	account       text COLLATE "C" NOT NULL,
	plan_id       text COLLATE "C" NOT NULL,
	plan_version  integer NOT NULL,
	plan_hash     text    NOT NULL,
	sub           text COLLATE "C" NOT NULL,
	check_type    text    NOT NULL,
	phase         text    NOT NULL,
	caller        text    NOT NULL,
	principal     text    NOT NULL,
	tool          text    NOT NULL,
	audience      text    NOT NULL,
	purchase_type text    NOT NULL,
	amount        double precision,
	currency      text    NOT NULL,
	status        text COLLATE "C" NOT NULL,
	verdict       text    NOT NULL,
	jti           text    NOT NULL,
	expires_at    timestamptz,
	request       bytea,
	response      bytea,
	review        text,
	created_at    timestamptz,
	action_key    text COLLATE "C" NOT NULL DEFAULT ''
);
-- For the re-check loop guard: an action's latest checks under a revision.
CREATE INDEX gov_checks_action ON gov_checks (account, plan_id, action_key, plan_version, created_at, id);
CREATE INDEX gov_checks_plan ON gov_checks (account, plan_id, created_at);
CREATE INDEX gov_checks_sub ON gov_checks (account, sub, created_at);
CREATE INDEX gov_checks_status ON gov_checks (account, status, created_at);

CREATE TABLE gov_actions (
	account       text COLLATE "C" NOT NULL,
	sub           text COLLATE "C" NOT NULL,
	plan_id       text COLLATE "C" NOT NULL,
	buyer         text COLLATE "C" NOT NULL,
	seller        text COLLATE "C" NOT NULL,
	tool          text    NOT NULL,
	purchase_type text    NOT NULL,
	currency      text    NOT NULL,
	authorized    double precision NOT NULL,
	committed     double precision NOT NULL,
	settlement    text    NOT NULL,
	settled_at    timestamptz,
	rechecks      integer NOT NULL,
	media_buy_id  text    NOT NULL,
	created_at    timestamptz,
	updated_at    timestamptz,
	PRIMARY KEY (account, sub)
);
CREATE INDEX gov_actions_plan ON gov_actions (account, plan_id, created_at);
-- For the ledger: a plan's settled commitments.
CREATE INDEX gov_actions_settled ON gov_actions (account, plan_id, settlement);
-- For the aggregation-window fragmentation defense.
CREATE INDEX gov_actions_parties ON gov_actions (account, buyer, settlement, created_at);

CREATE TABLE gov_outcomes (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	account    text COLLATE "C" NOT NULL,
	plan_id    text COLLATE "C" NOT NULL,
	check_id   text NOT NULL,
	sub        text NOT NULL,
	outcome    text NOT NULL,
	committed  double precision NOT NULL,
	reporter   text NOT NULL,
	request    bytea,
	response   bytea,
	created_at timestamptz
);
CREATE INDEX gov_outcomes_plan ON gov_outcomes (account, plan_id, created_at);

CREATE TABLE gov_delivery_statements (
	account      text COLLATE "C" NOT NULL,
	sub          text COLLATE "C" NOT NULL,
	statement_id text COLLATE "C" NOT NULL,
	digest       text   NOT NULL,
	sequence     bigint NOT NULL,
	period_start timestamptz,
	period_end   timestamptz,
	spend        double precision NOT NULL,
	currency     text   NOT NULL,
	created_at   timestamptz,
	PRIMARY KEY (account, sub, statement_id)
);

CREATE TABLE gov_idempotency (
	account      text COLLATE "C" NOT NULL,
	principal    text COLLATE "C" NOT NULL,
	task         text COLLATE "C" NOT NULL,
	idem_key     text COLLATE "C" NOT NULL,
	request_hash text NOT NULL,
	response     bytea,
	created_at   timestamptz,
	expires_at   timestamptz,
	PRIMARY KEY (account, principal, task, idem_key)
);

CREATE TABLE gov_signing_keys (
	account    text COLLATE "C" NOT NULL,
	kid        text COLLATE "C" NOT NULL,
	public_key bytea,
	sealed     bytea,
	created_at timestamptz,
	retired_at timestamptz,
	revoked_at timestamptz,
	PRIMARY KEY (account, kid)
);

CREATE TABLE gov_revoked_tokens (
	account    text COLLATE "C" NOT NULL,
	jti        text COLLATE "C" NOT NULL,
	revoked_at timestamptz,
	PRIMARY KEY (account, jti)
);

CREATE TABLE gov_fixtures (
	account    text COLLATE "C" NOT NULL,
	kind       text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	raw        bytea,
	updated_at timestamptz,
	PRIMARY KEY (account, kind, id)
);
