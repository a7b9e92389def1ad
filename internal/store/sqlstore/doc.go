// Package sqlstore implements store.Store once for the SQL backends; the
// store/sqlite and store/postgres packages only open a database/sql pool,
// supply a Dialect and their migrations, and wrap the result.
//
// Queries are written once with PostgreSQL placeholders ($1, $2, ...) and
// standard SQL that both SQLite (3.35 or newer) and PostgreSQL accept:
// INSERT ... ON CONFLICT, RETURNING, NULLS FIRST. The Dialect rewrites
// placeholders, encodes times, names the statement that serializes audit
// appends and recognises unique-constraint violations.
//
// Storage conventions, identical on both backends:
//
//   - Times are stored in UTC at microsecond precision (truncated on write)
//     and read back in UTC; a zero time.Time is stored as NULL and read back
//     as zero.
//   - Byte slices (credential hashes, audit Detail, PrevHash, Hash) are stored
//     verbatim; an empty slice is stored as NULL and read back as nil.
//   - Lists (Agent.Tools, Agent.SharedResources, Exception.Allow) are stored
//     as JSON text, so nil reads back as nil and an empty non-nil slice as an
//     empty non-nil slice.
//   - Exception.Limit and GovCheck.Amount are nullable floats: nil and a
//     pointer to 0 differ.
//   - JSON payloads of the governance state (GovPlan.Raw, the Request and
//     Response of checks and outcomes, IdempotencyRecord.Response,
//     Fixture.Raw) are byte slices like the others: BLOB or bytea, never
//     jsonb, so that they hash and replay byte for byte.
//   - GovCheck.Review is JSON text with its own stable keys (DecidedAt as
//     RFC 3339 in UTC microseconds, omitted when zero); nil is NULL, so nil
//     and a pointer to an empty Review differ.
//   - List methods return nil when nothing matches.
//
// Semantics the store contract leaves open, decided here:
//
//   - SyncTenants ignores the CreatedAt, UpdatedAt and RetiredAt fields of
//     its input: a new tenant gets CreatedAt = UpdatedAt = at; a tenant whose
//     fields changed, or that was retired and reappears, gets UpdatedAt = at
//     (and RetiredAt cleared); an unchanged tenant is not touched; a tenant
//     that is absent gets RetiredAt = UpdatedAt = at, once.
//   - PutAgent keeps the RegisteredAt of the agent's first registration (it
//     takes the given one only while the stored one is zero) and overwrites
//     every other field. A revision with an empty AgentID takes the agent's
//     ID; a different AgentID is an error. On ErrConflict nothing is written.
//   - GetSpecRevision with an empty version returns the revision whose
//     Version is the agent's SpecVersion.
//   - ListSpecRevisions orders by registration (insertion) order;
//     ListFleetLoads orders newest recorded first (by ID).
//   - Orderings by time put zero times first; ID ties and ID orderings are
//     bytewise (COLLATE "C" on PostgreSQL), as Go compares strings.
//   - Filters match exactly: ExceptionFilter{AgentID: "a"} does not return
//     tenant-wide exceptions (AgentID ""). ExceptionFilter.ActiveAt keeps an
//     exception unless it was revoked at or before ActiveAt or expires at or
//     before it; a zero ExpiresAt means it never expires.
//   - SyncTenants, RevokeCredential and RevokeException refuse a zero time.
//   - AppendAudit stores Time as given (normalized), zero included.
//   - Errors that carry ErrNotFound or ErrConflict are detected before the
//     database reports a failure, so inside Atomic they leave the
//     transaction usable: fn may handle them and go on.
//
// The governance state (store.GovernanceTx) lives in gov_* tables, each keyed
// by the account first, and every query names the account. Its writes need
// no advisory lock: on SQLite write transactions are exclusive anyway, and on
// several PostgreSQL replicas at READ COMMITTED the statements below are
// correct through the row locks they take:
//
//   - PutPlan increments the plan's head row (gov_plans) with one INSERT ...
//     ON CONFLICT DO UPDATE ... RETURNING, which locks the row until the
//     transaction ends; a concurrent PutPlan waits and then increments the
//     committed version. SetPlanStatus updates the head row first and so
//     takes the same lock. The head row holds the current version and
//     status; gov_plan_revisions holds every revision, the current one's
//     status kept equal to the head's.
//   - BindGovernanceAgent, PutIdempotency, PutDeliveryStatement,
//     PutSigningKey, CreateCheck and CreateOutcome insert with ON CONFLICT DO
//     NOTHING: a concurrent insert of the same key waits for the first to
//     commit and then does nothing, so exactly one writer wins, and the
//     loser learns it without a failed statement.
//   - Inside Atomic, take plan rows before the audit partition (PutPlan, then
//     AppendAudit), as the governance agent does; two transactions taking
//     them in opposite orders can deadlock on PostgreSQL, which then aborts
//     one of them.
//
// Semantics of the governance state that the contract leaves open, decided
// here and documented on store.GovernanceTx: a new plan is PlanActive unless
// its Status is set; check and outcome IDs are unique across accounts;
// PutSigningKey never replaces a key; RevokeToken keeps the first
// revocation; list methods filter on the account even when it is empty.
//
// Atomic runs on the writer connection; fn must use the Tx it is given. On
// SQLite, calling a writing method of the Store itself from inside fn waits
// for the one writer connection that fn holds, forever.
package sqlstore
