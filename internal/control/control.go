// Package control is fleetgov's control plane: the fleet repo in force (and
// its reload), the Agent Registry, credentials, constraint exceptions, the
// decision endpoint and the audit log. Every operation takes the caller's
// auth.Principal and enforces the tenant partition here, in one place: a
// tenant sees only its own objects, and another tenant's object answers
// exactly as a missing one does (ErrNotFound).
//
// The HTTP API is a thin layer over Plane; the gateway and the governance
// agent call Decide in-process.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Errors. Handlers map them to HTTP statuses.
var (
	// ErrNotFound: the object does not exist, or the caller may not see it.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the caller may not do this, whatever the object.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the request collides with the current state.
	ErrConflict = errors.New("conflict")
)

// InvalidError is a request that fails validation; Field names what is wrong.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// RejectedError is a spec or fleet repo that fails its check; nothing was changed.
type RejectedError struct {
	Msg      string
	Findings []check.Finding
}

func (e *RejectedError) Error() string { return e.Msg }

// notFound returns ErrNotFound wrapped with what was asked for, worded the
// same whether the object is missing or belongs to another tenant.
func notFound(kind, id string) error { return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound) }

// Audit log keys (attribute keys for slog).
const (
	logKeyDigest  = "digest"
	logKeyLibrary = "library"
	logKeyBy      = "by"
	logKeyAgent   = "agent"
	logKeyErr     = "err"
)

// Plane is the control plane. It is safe for concurrent use.
type Plane struct {
	st       store.Store
	log      *slog.Logger
	fleetDir string
	now      func() time.Time

	reloadMu sync.Mutex
	fleet    atomic.Pointer[fleetState]

	policies sync.Map // agent ID → *cachedPolicy
	excs     exceptionCache
}

type fleetState struct {
	repo     *fleet.Repo
	loadedAt time.Time
}

// Options configures a Plane.
type Options struct {
	Logger *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// New loads the fleet repo in fleetDir and returns a plane over st. A fleet
// repo that does not load, or that drops a library version registered
// agents pin, is an error.
func New(ctx context.Context, st store.Store, fleetDir string, opt Options) (*Plane, error) {
	p := &Plane{st: st, log: opt.Logger, fleetDir: fleetDir, now: opt.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if _, err := p.Reload(ctx, "startup"); err != nil {
		return nil, err
	}
	return p, nil
}

// Store returns the plane's store.
func (p *Plane) Store() store.Store { return p.st }

// Repo returns the fleet repo in force.
func (p *Plane) Repo() *fleet.Repo { return p.fleet.Load().repo }

// LoadedAt returns when the fleet repo in force was loaded.
func (p *Plane) LoadedAt() time.Time { return p.fleet.Load().loadedAt }

// ReloadResult describes a successful reload.
type ReloadResult struct {
	Changed        bool      `json:"changed"`
	Digest         string    `json:"digest"`
	PreviousDigest string    `json:"previous_digest,omitempty"`
	Library        string    `json:"library_current"`
	Contract       string    `json:"contract_version"`
	LoadedAt       time.Time `json:"loaded_at"`
	// ContractChange is the new contract version this reload brought in,
	// if any; every tenant was notified of it in its audit partition.
	ContractChange *ContractChange `json:"contract_change,omitempty"`
	// AmendmentRequired lists registered agents whose pinned library version
	// is behind a change to a clause they inherit, or whose pinned contract
	// version is behind a change to a row they declare.
	AmendmentRequired []string `json:"amendment_required"`
}

// Reload loads the fleet repo again. A repo that does not load, that would
// strand registered agents, or that changes a released library version or
// contract row in place, is refused whole and the running one stays.
func (p *Plane) Reload(ctx context.Context, by string) (ReloadResult, error) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	repo, err := fleet.Load(p.fleetDir)
	if err != nil {
		var findings []check.Finding
		for _, e := range constraint.Errors(err) {
			findings = append(findings, check.Finding{Code: "malformed", Kind: check.BadInput, File: e.Pos.File, Line: e.Pos.Line, Clause: e.Clause, Message: e.Msg})
		}
		p.log.Warn("fleet repo refused", logKeyBy, by, logKeyErr, err)
		return ReloadResult{}, &RejectedError{Msg: "the fleet repo does not load; the running version stays", Findings: findings}
	}
	agents, err := p.st.ListAgents(ctx, store.AgentFilter{})
	if err != nil {
		return ReloadResult{}, fmt.Errorf("control: reload: list agents: %w", err)
	}
	if findings := stranded(repo, agents); len(findings) > 0 {
		return ReloadResult{}, &RejectedError{Msg: "the new fleet repo would strand registered agents; the running version stays", Findings: findings}
	}
	prev := p.fleet.Load()
	last, err := p.lastLoad(ctx, prev)
	if err != nil {
		return ReloadResult{}, err
	}
	if findings := editedInPlace(repo, last.LibraryVersions); len(findings) > 0 {
		return ReloadResult{}, &RejectedError{Msg: "a released library version was edited in place; the running version stays", Findings: findings}
	}
	change, findings := contractChange(last, repo.Dir, &repo.Contract)
	if len(findings) > 0 {
		return ReloadResult{}, &RejectedError{Msg: "a contract row changed without a new contract version that records it; the running version stays", Findings: findings}
	}
	specs := map[string]*spec.Spec{}
	for _, a := range agents {
		s, err := p.specOf(ctx, a)
		if err != nil {
			p.log.Warn("registered spec no longer parses", logKeyAgent, a.ID, logKeyErr, err)
			continue
		}
		specs[a.ID] = s
		if change != nil && change.touches(s.Front.SharedResources) {
			change.AmendmentRequired = append(change.AmendmentRequired, a.ID)
		}
	}
	now := p.now()
	res := ReloadResult{Digest: repo.Digest, Library: repo.Library.Current().Version, Contract: repo.Contract.Version,
		LoadedAt: now, ContractChange: change, AmendmentRequired: []string{}}
	if prev != nil {
		res.PreviousDigest = prev.repo.Digest
	}
	res.Changed = prev == nil || prev.repo.Digest != repo.Digest
	if res.Changed {
		tenants := make([]store.Tenant, 0, len(repo.Config.Tenants))
		for _, t := range repo.Config.Tenants {
			tenants = append(tenants, store.Tenant{ID: t.ID, Name: t.Name, Team: t.Team, Owner: t.Owner, Kind: t.Kind, Sandbox: t.Sandbox})
		}
		err = p.st.Atomic(ctx, func(tx store.Tx) error {
			if err := tx.SyncTenants(ctx, tenants, now); err != nil {
				return err
			}
			if _, err := tx.RecordFleetLoad(ctx, store.FleetLoad{Digest: repo.Digest, LibraryVersion: res.Library,
				ContractVersion: repo.Contract.Version, Source: p.fleetDir, LoadedAt: now, LoadedBy: by,
				LibraryVersions: versionDigests(repo), ContractRows: repo.Contract.RowDigests()}); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, store.PlatformPartition, now, by, "fleet.load", repo.Config.Fleet, "ok", map[string]any{
				"digest": repo.Digest, "previous_digest": res.PreviousDigest, "library": res.Library, "contract": repo.Contract.Version}); err != nil {
				return err
			}
			if change != nil {
				return notifyContractChange(ctx, tx, repo, change, agents, now, by)
			}
			return nil
		})
		if err != nil {
			return ReloadResult{}, fmt.Errorf("control: reload: record: %w", err)
		}
	}
	p.fleet.Store(&fleetState{repo: repo, loadedAt: now})
	for _, a := range agents {
		s, ok := specs[a.ID]
		if !ok {
			continue
		}
		if len(pendingChanges(repo, a.LibraryVersion, s)) > 0 || len(pendingContractChanges(repo, s)) > 0 ||
			slices.Contains(res.ContractChange.amendments(), a.ID) {
			res.AmendmentRequired = append(res.AmendmentRequired, a.ID)
		}
	}
	p.log.Info("fleet repo loaded", logKeyDigest, repo.Digest, logKeyLibrary, res.Library, logKeyBy, by, "changed", res.Changed)
	return res, nil
}

// versionDigests maps each library version of repo to its content digest.
func versionDigests(repo *fleet.Repo) map[string]string {
	m := map[string]string{}
	for _, l := range repo.Library.Versions() {
		m[l.Version] = l.Digest
	}
	return m
}

// lastLoad returns what the last load released: the library version
// digests, the contract version and its row digests of the repo in force,
// or at startup of the last load recorded (none at the very first).
func (p *Plane) lastLoad(ctx context.Context, prev *fleetState) (store.FleetLoad, error) {
	if prev != nil {
		return store.FleetLoad{Digest: prev.repo.Digest, LibraryVersions: versionDigests(prev.repo),
			ContractVersion: prev.repo.Contract.Version, ContractRows: prev.repo.Contract.RowDigests()}, nil
	}
	loads, err := p.st.ListFleetLoads(ctx, 1)
	if err != nil {
		return store.FleetLoad{}, fmt.Errorf("control: reload: last load: %w", err)
	}
	if len(loads) == 0 {
		return store.FleetLoad{}, nil
	}
	return loads[0], nil
}

// editedInPlace reports library versions whose content changed since they
// were released: specs pin versions, so a version never changes once loaded.
func editedInPlace(repo *fleet.Repo, released map[string]string) []check.Finding {
	var out []check.Finding
	for _, l := range repo.Library.Versions() {
		if was, ok := released[l.Version]; ok && was != l.Digest {
			out = append(out, check.Finding{Code: "library-version-changed", Kind: check.BadInput, File: l.File,
				Message: fmt.Sprintf("library version %s changed in place (digest %s, now %s); a released version is immutable because specs pin it", l.Version, short(was), short(l.Digest)),
				Fix:     fmt.Sprintf("restore %s and publish the change as a new version", l.Version)})
		}
	}
	return out
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

// stranded reports registered agents the repo could no longer serve: their
// pinned library version is gone.
func stranded(repo *fleet.Repo, agents []store.Agent) []check.Finding {
	byVersion := map[string][]string{}
	for _, a := range agents {
		if a.Status == store.StatusDeprecated {
			continue
		}
		if _, ok := repo.Library.Get(a.LibraryVersion); !ok {
			byVersion[a.LibraryVersion] = append(byVersion[a.LibraryVersion], a.ID)
		}
	}
	var out []check.Finding
	for _, v := range slices.Sorted(mapKeys(byVersion)) {
		out = append(out, check.Finding{Code: "unknown-library-version", Kind: check.BadInput, File: fleet.ConstraintsDir,
			Message: fmt.Sprintf("library version %s is pinned by registered agents %s but is no longer in constraints/", v, strings.Join(byVersion[v], ", ")),
			Fix:     "keep old library versions: specs pin them; deprecate the agents first if the version must go"})
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// appendAudit appends one record to a partition of the audit log.
func appendAudit(ctx context.Context, tx store.Tx, partition string, at time.Time, actor, action, object, outcome string, detail map[string]any) error {
	_, err := tx.AppendAudit(ctx, auditRecord(partition, at, actor, action, object, outcome, "", detail))
	return err
}

// actor names a principal in audit records.
func actor(pr auth.Principal) string { return pr.String() }

// visible reports whether pr may see an object of tenant.
func visible(pr auth.Principal, tenant string) bool {
	return pr.IsPlatform() || (pr.TenantID != "" && pr.TenantID == tenant)
}

// requirePlatform refuses non-platform callers.
func requirePlatform(pr auth.Principal, what string) error {
	if !pr.IsPlatform() {
		return fmt.Errorf("%s needs the platform admin credential: %w", what, ErrForbidden)
	}
	return nil
}

// requireNotAgent refuses agent keys, which may only evaluate their own actions.
func requireNotAgent(pr auth.Principal, what string) error {
	if pr.Kind == store.KindAgent {
		return fmt.Errorf("%s needs a tenant or platform credential, not an agent key: %w", what, ErrForbidden)
	}
	return nil
}

// Authenticate resolves a bearer token; credentials of retired tenants no
// longer authenticate.
func (p *Plane) Authenticate(ctx context.Context, bearer string) (auth.Principal, error) {
	pr, err := auth.Authenticate(ctx, p.st, bearer)
	if err != nil {
		return auth.Principal{}, err
	}
	if pr.TenantID != "" {
		if _, ok := p.Repo().Tenant(pr.TenantID); !ok {
			return auth.Principal{}, auth.ErrUnauthenticated
		}
	}
	return pr, nil
}

// auditRecord builds a record; detail is encoded as JSON.
func auditRecord(partition string, at time.Time, actor, action, object, outcome, traceID string, detail map[string]any) store.AuditRecord {
	var b []byte
	if detail != nil {
		b, _ = json.Marshal(detail) // maps of strings, numbers and lists always encode
	}
	return store.AuditRecord{Partition: partition, Time: at, Actor: actor, Action: action, Object: object,
		Outcome: outcome, TraceID: traceID, Detail: b}
}
