// Package store defines fleetgov's persistence contract: tenants, credentials,
// the agent registry with its spec revisions, fleet repo loads, constraint
// exceptions, the hash-chained, tenant-partitioned audit log and the state
// of the accounts' AdCP governance agents (GovernanceTx).
//
// Two backends implement it, store/sqlite (embedded, the default) and
// store/postgres (for several replicas); store/storetest holds the one
// conformance suite both must pass.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with the operation.
var (
	// ErrNotFound is returned when the requested object does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a create collides with an existing object.
	ErrConflict = errors.New("store: conflict")
)

// PlatformPartition is the audit partition of platform-tier records, those
// that belong to no single tenant.
const PlatformPartition = "_platform"

// Store is the persistence contract. Every method of Tx may be called on the
// Store directly, each call then being its own transaction; Atomic runs several
// calls as one transaction that commits only if fn returns nil.
type Store interface {
	Tx
	// Atomic runs fn in one transaction. If fn returns an error, nothing fn
	// wrote is kept and that error is returned.
	Atomic(ctx context.Context, fn func(tx Tx) error) error
	// Generation counts the transactions through this Store value that
	// changed credentials, agents, tenants or exceptions, each counted once
	// it has ended. A cache of any of these is current while the count
	// stands, except for changes other processes make.
	Generation() uint64
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Tx is the set of data operations, available inside and outside a transaction.
type Tx interface {
	GovernanceTx
	BudgetTx
	AuditTx
	VectorTx
	SkillTx

	// SyncTenants makes the tenant table match tenants: inserts new ones,
	// updates changed ones, and marks tenants that are absent as retired
	// (RetiredAt set). A retired tenant that reappears is un-retired.
	SyncTenants(ctx context.Context, tenants []Tenant, at time.Time) error
	// GetTenant returns one tenant, retired or not.
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants returns all tenants ordered by ID, retired ones included.
	ListTenants(ctx context.Context) ([]Tenant, error)

	// CreateCredential stores a credential. Its Hash must be unique.
	CreateCredential(ctx context.Context, c Credential) error
	// CredentialByHash finds a credential by the hash of its secret. Revoked
	// credentials are returned too; callers check RevokedAt.
	CredentialByHash(ctx context.Context, hash []byte) (Credential, error)
	// ListCredentials returns credentials matching f, ordered by CreatedAt then ID.
	ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error)
	// RevokeCredential sets RevokedAt on a credential that is not yet revoked.
	// Revoking a revoked credential returns ErrNotFound.
	RevokeCredential(ctx context.Context, id string, at time.Time) error

	// PutAgent registers an agent or updates its registry entry, and appends
	// rev to its spec revisions. A revision with the same (AgentID, Version)
	// and a different Digest is ErrConflict; the same Digest is a no-op for
	// the revision and still updates the agent.
	PutAgent(ctx context.Context, a Agent, rev SpecRevision) error
	// GetAgent returns one agent.
	GetAgent(ctx context.Context, id string) (Agent, error)
	// ListAgents returns agents matching f ordered by ID.
	ListAgents(ctx context.Context, f AgentFilter) ([]Agent, error)
	// SetAgentStatus changes an agent's registry status.
	SetAgentStatus(ctx context.Context, id string, status AgentStatus, at time.Time) error
	// GetSpecRevision returns one spec revision of an agent; an empty version
	// means the agent's current one.
	GetSpecRevision(ctx context.Context, agentID, version string) (SpecRevision, error)
	// ListSpecRevisions returns an agent's spec revisions, oldest first.
	ListSpecRevisions(ctx context.Context, agentID string) ([]SpecRevision, error)

	// RecordFleetLoad appends a fleet repo load and returns it with its ID set.
	RecordFleetLoad(ctx context.Context, l FleetLoad) (FleetLoad, error)
	// ListFleetLoads returns the newest loads first, at most limit (0: all).
	ListFleetLoads(ctx context.Context, limit int) ([]FleetLoad, error)

	// CreateException stores a new constraint exception.
	CreateException(ctx context.Context, e Exception) error
	// GetException returns one exception.
	GetException(ctx context.Context, id string) (Exception, error)
	// ListExceptions returns exceptions matching f ordered by CreatedAt then ID.
	ListExceptions(ctx context.Context, f ExceptionFilter) ([]Exception, error)
	// RevokeException ends an exception early. Revoking a revoked exception
	// returns ErrNotFound.
	RevokeException(ctx context.Context, id, by string, at time.Time) error

	// AppendAudit appends r to the audit partition r.Partition: it assigns
	// Seq (1, 2, ... within the partition), PrevHash (the previous record's
	// Hash, empty for the first) and Hash (r.Seal), and returns the stored
	// record. Appends to one partition are serialized, also across replicas.
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	// ListAudit returns records of one partition with Seq > f.AfterSeq,
	// in Seq order, at most f.Limit (0: no limit).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// AuditPartitions returns the partition names that hold records, sorted.
	AuditPartitions(ctx context.Context) ([]string, error)
}

// Tenant is a tenant team, in AdCP terms an account. Tenants are defined in
// the fleet repo and mirrored here.
type Tenant struct {
	ID        string
	Name      string
	Team      string
	Owner     string
	Kind      string // "internal" or "advertising"
	Sandbox   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	RetiredAt time.Time // zero while the tenant is in the fleet repo
}

// CredentialKind says what a credential authenticates.
type CredentialKind string

// Credential kinds.
const (
	KindPlatformAdmin CredentialKind = "platform_admin"
	KindTenant        CredentialKind = "tenant"
	KindAgent         CredentialKind = "agent"
	// KindADCPPrincipal authenticates an AdCP buyer or seller agent to an
	// account's governance agent; AgentURL is who it is.
	KindADCPPrincipal CredentialKind = "adcp_principal"
)

// Credential is a bearer secret, stored only as the SHA-256 Hash of the
// secret. Prefix is the non-secret start of it, for people to recognise it.
type Credential struct {
	ID       string
	Kind     CredentialKind
	TenantID string // empty for platform_admin
	AgentID  string // set for agent keys
	// AgentURL is the AdCP agent URL an adcp_principal credential
	// authenticates as (a buyer or seller of the account).
	AgentURL  string
	Hash      []byte
	Prefix    string
	Label     string
	CreatedAt time.Time
	RevokedAt time.Time // zero while valid
}

// CredentialFilter selects credentials; empty fields match everything.
type CredentialFilter struct {
	ID       string
	Kind     CredentialKind
	TenantID string
	AgentID  string
}

// AgentStatus is an agent's registry status.
type AgentStatus string

// Agent statuses.
const (
	StatusActive     AgentStatus = "active"
	StatusStaging    AgentStatus = "staging"
	StatusDeprecated AgentStatus = "deprecated"
)

// Tool is one entry of an agent's tool manifest.
type Tool struct {
	Name   string `json:"name"`
	Effect string `json:"effect"` // read, write, delete or transmit
}

// Agent is one entry of the Agent Registry, derived from the agent's spec.
type Agent struct {
	ID              string // "<tenant>.<name>"
	TenantID        string
	Name            string
	Archetype       string
	SpecID          string
	SpecVersion     string
	LibraryVersion  string // the library version the spec pins
	Owner           string
	Status          AgentStatus
	LastReview      time.Time // zero if never reviewed
	Tools           []Tool
	EscalationPath  string
	SharedResources []string
	RegisteredAt    time.Time
	UpdatedAt       time.Time
}

// AgentFilter selects agents; empty fields match everything.
type AgentFilter struct {
	TenantID  string
	Archetype string
	Status    AgentStatus
}

// SpecRevision is one registered version of an agent's spec, kept forever.
type SpecRevision struct {
	AgentID      string
	SpecID       string
	Version      string
	Digest       string // "sha256:<hex>" of Source
	Source       string // the spec's Markdown
	RegisteredAt time.Time
	RegisteredBy string // credential ID
}

// FleetLoad records one successful load of the fleet repo.
type FleetLoad struct {
	ID              int64
	Digest          string
	LibraryVersion  string // the library version in force
	ContractVersion string
	Source          string // where it was loaded from
	LoadedAt        time.Time
	LoadedBy        string // credential ID, or "startup" / "sighup"
	// LibraryVersions maps every library version the load held to its
	// content digest; a released version is immutable.
	LibraryVersions map[string]string
	// ContractRows maps the id of every row of the contract the load held
	// to the row's digest, so that a row changed without a new contract
	// version is caught on the next load, also after a restart.
	ContractRows map[string]string
}

// Exception relaxes one clause for one tenant (and optionally one agent)
// until ExpiresAt. It is approved at the tier that owns the clause.
type Exception struct {
	ID         string
	ClauseID   string
	Tier       string // owning tier of the clause: T1, T2 or T3
	TenantID   string
	AgentID    string   // empty: every agent of the tenant
	Limit      *float64 // for a limit clause: the relaxed ceiling
	Allow      []string // for an allow clause: values added to the list
	Waive      bool     // for a rule clause: the rule does not fire
	Reason     string
	ApprovedBy string // credential ID
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero unless revoked
	RevokedBy  string
}

// ExceptionFilter selects exceptions; empty fields match everything.
// ActiveAt, when non-zero, keeps only exceptions not revoked and not expired
// at that instant.
type ExceptionFilter struct {
	TenantID string
	AgentID  string
	ClauseID string
	ActiveAt time.Time
}

// AuditRecord is one entry of the audit log. Records form a hash chain
// within their partition (a tenant ID, or PlatformPartition).
type AuditRecord struct {
	Partition string
	Seq       int64
	Time      time.Time
	Actor     string // credential ID or a system actor such as "startup"
	// Agent is the acting agent's ID, empty when no agent acted.
	Agent string
	// Resource is the isolation contract row of the shared resource the
	// record is about (model-provider, mcp-servers, vector-store,
	// skill-registry, audit-log); empty for control-plane records.
	Resource string
	Action   string // e.g. "agent.register", "decision", "exception.create"
	Object   string // what the action was about, e.g. an agent ID
	Outcome  string // e.g. "ok", "refused", "allow", "deny", "escalate"
	TraceID  string
	// CostMicros is what the call cost, in micro-USD; 0 when it cost nothing.
	CostMicros int64
	Detail     []byte // JSON object; may be empty
	PrevHash   []byte
	Hash       []byte
}

// AuditFilter selects records of one partition.
type AuditFilter struct {
	Partition string
	AfterSeq  int64
	Limit     int
}
