package store

import (
	"context"
	"encoding/json"
	"time"
)

// GovernanceTx is the state of the AdCP campaign governance agents, one per
// account (a tenant of kind advertising). Every record carries its Account;
// no method reads across accounts: another account's object is ErrNotFound,
// as a missing one is, and list methods given an empty account match only
// records whose Account is empty. It is part of Tx, so governance writes
// join the audit log in one transaction.
//
// JSON payloads (Raw, Request, Response) are kept byte for byte, since they
// are hashed and replayed; an empty one reads back as nil. GovCheck.Amount
// and GovCheck.Review keep nil apart from a zero value. Times read back in
// UTC at microsecond precision. Lists are ordered as each method says, zero
// times first in oldest-first orders, ties broken by the record's key.
type GovernanceTx interface {
	// BindGovernanceAgent records the account's one governance agent and
	// returns the stored binding. If the account already binds an agent with
	// another URL it returns ErrConflict together with that existing binding
	// (so that the caller can name it) and changes nothing; the same URL
	// again is a no-op returning the existing binding. Of concurrent binds
	// of one account, also across replicas, exactly one URL wins.
	BindGovernanceAgent(ctx context.Context, b GovernanceBinding) (GovernanceBinding, error)
	// GovernanceBinding returns the account's binding.
	GovernanceBinding(ctx context.Context, account string) (GovernanceBinding, error)
	// UnbindGovernanceAgent removes the account's binding (ErrNotFound if none).
	UnbindGovernanceAgent(ctx context.Context, account string) error

	// PutPlan stores a plan revision: a new (Account, PlanID) gets Version 1,
	// an existing one Version+1 (p.Version is ignored). The revision is kept
	// forever. It returns the stored plan. Status is kept from the previous
	// revision unless p.Status is set; a new plan's is PlanActive unless set.
	// Concurrent PutPlans of one plan, also across replicas, take successive
	// versions: none is lost or repeated.
	PutPlan(ctx context.Context, p GovPlan) (GovPlan, error)
	// GetPlan returns a plan's current revision.
	GetPlan(ctx context.Context, account, planID string) (GovPlan, error)
	// GetPlanRevision returns one revision of a plan; the current one equals
	// GetPlan's.
	GetPlanRevision(ctx context.Context, account, planID string, version int) (GovPlan, error)
	// ListPlanRevisions returns every revision of a plan, oldest first.
	ListPlanRevisions(ctx context.Context, account, planID string) ([]GovPlan, error)
	// PortfolioParents returns the IDs of the account's plans whose current
	// revision names planID among its Members, sorted.
	PortfolioParents(ctx context.Context, account, planID string) ([]string, error)
	// SetPlanStatus changes the current revision's status without a new
	// revision; older revisions keep theirs. Later PutPlans keep the status
	// unless they set one, also when they run concurrently.
	SetPlanStatus(ctx context.Context, account, planID, status string) error

	// CreateCheck stores a check. Its ID must be unique across accounts
	// (ErrConflict), though only its account can read it.
	CreateCheck(ctx context.Context, c GovCheck) error
	// GetCheck returns a check of the account.
	GetCheck(ctx context.Context, account, checkID string) (GovCheck, error)
	// UpdateCheck replaces a check's mutable fields: Status, Verdict,
	// Response, Review, JTI, ExpiresAt (a nil or zero value clears them). The
	// check is the one (c.Account, c.ID) names, else ErrNotFound; c's other
	// fields are ignored.
	UpdateCheck(ctx context.Context, c GovCheck) error
	// ListChecks returns an account's checks matching f, oldest first
	// (CreatedAt, then ID), or newest first when f.Newest is set; at most
	// f.Limit of them when it is positive.
	ListChecks(ctx context.Context, f CheckFilter) ([]GovCheck, error)
	// CheckVerdicts returns the Verdicts of the checks ListChecks(f)
	// returns, in its order, without reading the checks whole.
	CheckVerdicts(ctx context.Context, f CheckFilter) ([]string, error)

	// PutAction creates or replaces a governed action, keyed by (Account,
	// Sub). A replacement overwrites every field, CreatedAt included.
	PutAction(ctx context.Context, a GovAction) error
	// GetAction returns a governed action.
	GetAction(ctx context.Context, account, sub string) (GovAction, error)
	// ListActions returns an account's actions matching f, oldest first
	// (CreatedAt, then Sub).
	ListActions(ctx context.Context, f ActionFilter) ([]GovAction, error)
	// SumActions totals the Committed amounts of an account's actions
	// matching f, grouped by PurchaseType and Seller, in that order; groups
	// with no action are absent.
	SumActions(ctx context.Context, f ActionFilter) ([]ActionSum, error)

	// CreateOutcome stores an outcome report. Its ID must be unique across
	// accounts (ErrConflict).
	CreateOutcome(ctx context.Context, o GovOutcome) error
	// ListOutcomes returns an account's outcomes of a plan, oldest first
	// (CreatedAt, then ID).
	ListOutcomes(ctx context.Context, account, planID string) ([]GovOutcome, error)

	// PutDeliveryStatement stores a seller delivery statement of an action.
	// A statement ID already stored for the action with another digest is
	// ErrConflict; the same digest is a no-op, whatever the other fields.
	// Sequence order is the caller's to check.
	PutDeliveryStatement(ctx context.Context, s DeliveryStatement) error
	// ListDeliveryStatements returns an action's statements by Sequence,
	// then StatementID.
	ListDeliveryStatements(ctx context.Context, account, sub string) ([]DeliveryStatement, error)

	// GetIdempotency returns the record of a key in its scope, expired or
	// not: callers check ExpiresAt.
	GetIdempotency(ctx context.Context, scope IdempotencyScope) (IdempotencyRecord, error)
	// PutIdempotency stores a record; an existing key in the scope, expired
	// or not, is ErrConflict (the first writer wins: of concurrent writers,
	// also across replicas, exactly one succeeds).
	PutIdempotency(ctx context.Context, r IdempotencyRecord) error

	// PutSigningKey stores an account's new signing key (sealed by the
	// caller). A KID the account has already is ErrConflict: a key is never
	// replaced, since tokens it signed must stay verifiable.
	PutSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns an account's keys, newest first (CreatedAt
	// descending, a zero time last, then KID).
	ListSigningKeys(ctx context.Context, account string) ([]SigningKey, error)
	// UpdateSigningKey sets (or, with zero times, clears) RetiredAt and
	// RevokedAt of the key (k.Account, k.KID), else ErrNotFound; k's other
	// fields are ignored.
	UpdateSigningKey(ctx context.Context, k SigningKey) error

	// RevokeToken adds a token's jti to the account's revocation list.
	// Revoking a revoked jti again is a no-op that keeps the first time; a
	// zero time is an error.
	RevokeToken(ctx context.Context, account, jti string, at time.Time) error
	// ListRevokedTokens returns the account's revoked jtis, oldest first
	// (RevokedAt, then JTI).
	ListRevokedTokens(ctx context.Context, account string) ([]RevokedToken, error)

	// PutFixture stores a sandbox test fixture, replacing the Raw and
	// UpdatedAt of one with the same (Account, Kind, ID).
	PutFixture(ctx context.Context, f Fixture) error
	// GetFixture returns one fixture.
	GetFixture(ctx context.Context, account, kind, id string) (Fixture, error)
	// ListFixtures returns an account's fixtures of one kind, by ID.
	ListFixtures(ctx context.Context, account, kind string) ([]Fixture, error)
}

// GovernanceBinding is an account's one governance agent.
type GovernanceBinding struct {
	Account string
	URL     string // the governance agent's URL (its token issuer)
	Builtin bool   // fleetgov's own per-account agent
	BoundAt time.Time
	BoundBy string // credential ID or "startup"
}

// Plan statuses.
const (
	PlanActive    = "active"
	PlanSuspended = "suspended"
	PlanCompleted = "completed"
)

// GovPlan is one revision of a governance plan.
type GovPlan struct {
	Account  string
	PlanID   string
	Version  int
	Status   string
	Owner    string          // the agent URL of the principal that synced it
	Raw      json.RawMessage // the plan as supplied, byte for byte
	Hash     string          // plan_hash of Raw
	SyncedAt time.Time
	SyncedBy string // credential ID
	// Members are a portfolio plan's member plan IDs. PutPlan records them
	// with the revision, so that PortfolioParents finds the portfolio from a
	// member; a later revision's members replace them. The getters leave it
	// empty: Raw holds the plan.
	Members []string
}

// Review is the human review of a check sent to the review queue.
type Review struct {
	State     string // pending, approved, denied
	Reason    string // why review was required
	Reviewer  string // the reviewer's identity
	Authority string // the reviewer's authority, e.g. "media director"
	Minutes   float64
	Decision  string // the reviewer's note
	DecidedAt time.Time
}

// GovCheck is one check_governance evaluation.
type GovCheck struct {
	ID           string
	Account      string
	PlanID       string
	PlanVersion  int
	PlanHash     string
	Sub          string // the opaque action binding, shared by an action's checks
	ActionKey    string // intent: groups the re-checks of one proposed action
	Type         string // intent or execution
	Phase        string // intent, purchase, modification, delivery
	Caller       string // the resolved agent URL
	Principal    string // credential ID
	Tool         string
	Audience     string // intent: target_agent; execution: the seller
	PurchaseType string
	Amount       *float64 // the commitment evaluated, in Currency
	Currency     string
	Status       string // completed, or submitted while in human review
	Verdict      string // approved, conditions, denied ("" while submitted)
	JTI          string // of the token issued on approval
	ExpiresAt    time.Time
	Request      json.RawMessage // the request as received
	Response     json.RawMessage // the response as sent, once completed
	Review       *Review
	CreatedAt    time.Time
}

// CheckFilter selects checks of the account Account; its other empty fields
// match everything.
type CheckFilter struct {
	Account     string
	PlanID      string
	PlanVersion int // 0 matches every version
	Sub         string
	Status      string
	Type        string
	ActionKey   string
	Newest      bool // newest first
	Limit       int  // at most this many; 0 is no limit
}

// GovAction is a governed action: the lifecycle one intent approval starts,
// keyed by its opaque binding Sub. It is the ledger's unit.
type GovAction struct {
	Account      string
	Sub          string
	PlanID       string
	Buyer        string // the intent's caller
	Seller       string // the intent's audience
	Tool         string
	PurchaseType string
	Currency     string
	Authorized   float64 // the approved ceiling
	Committed    float64 // what report_plan_outcome settled
	Settlement   string  // "", completed or failed
	SettledAt    time.Time
	Rechecks     int // unsuccessful intent re-checks (the loop guard)
	MediaBuyID   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ActionFilter selects actions of the account Account; its other empty
// fields match everything. Since, when non-zero, keeps actions created at or
// after it (an action with a zero CreatedAt is then left out).
type ActionFilter struct {
	Account    string
	PlanID     string
	Buyer      string
	Seller     string
	Settlement string
	Since      time.Time // CreatedAt at or after
}

// ActionSum is a total of SumActions.
type ActionSum struct {
	PurchaseType string
	Seller       string
	Committed    float64
	Count        int
}

// GovOutcome is one report_plan_outcome.
type GovOutcome struct {
	ID        string
	Account   string
	PlanID    string
	CheckID   string
	Sub       string
	Outcome   string // completed, failed, delivery
	Committed float64
	Reporter  string // agent URL
	Request   json.RawMessage
	Response  json.RawMessage
	CreatedAt time.Time
}

// DeliveryStatement is a seller's delivery statement on an action.
type DeliveryStatement struct {
	Account     string
	Sub         string
	StatementID string
	Digest      string
	Sequence    int
	PeriodStart time.Time
	PeriodEnd   time.Time
	Spend       float64 // cumulative
	Currency    string
	CreatedAt   time.Time
}

// IdempotencyScope names an idempotency key: per principal, per account,
// per task.
type IdempotencyScope struct {
	Account   string
	Principal string // the resolved agent URL, or the credential ID
	Task      string
	Key       string
}

// IdempotencyRecord is the cached success of a request.
type IdempotencyRecord struct {
	IdempotencyScope
	RequestHash string // of the request without the excluded fields
	Response    json.RawMessage
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// SigningKey is an account's token signing key; Sealed is the private key
// as the caller sealed it.
type SigningKey struct {
	Account   string
	KID       string
	Public    []byte
	Sealed    []byte
	CreatedAt time.Time
	RetiredAt time.Time // zero while it signs
	RevokedAt time.Time // zero unless revoked
}

// RevokedToken is a revoked governance_context.
type RevokedToken struct {
	Account   string
	JTI       string
	RevokedAt time.Time
}

// Fixture is a sandbox test fixture seeded by comply_test_controller.
type Fixture struct {
	Account   string
	Kind      string // product, pricing_option, plan
	ID        string
	Raw       json.RawMessage
	UpdatedAt time.Time
}
