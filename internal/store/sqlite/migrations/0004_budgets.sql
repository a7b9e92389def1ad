-- The budget ledger. budget_windows holds each window's running totals;
-- Reserve raises reserved with a conditional update, so concurrent
-- reservations never admit more than the limit.
CREATE TABLE budget_windows (
	scope    TEXT   NOT NULL,
	period   TEXT   NOT NULL,
	reserved BIGINT NOT NULL DEFAULT 0,
	spent    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, period)
);

CREATE TABLE budget_reservations (
	id         TEXT   NOT NULL PRIMARY KEY,
	tenant     TEXT   NOT NULL,
	agent      TEXT   NOT NULL,
	amount     BIGINT NOT NULL,
	windows    TEXT   NOT NULL, -- JSON: [{"scope":…,"period":…,"limit":…}]
	created_at INTEGER NOT NULL,
	settled_at INTEGER,
	actual     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX budget_reservations_open ON budget_reservations (created_at) WHERE settled_at IS NULL;
