package control

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/store"
)

// The vector-store row of the example contract, and an edit of it.
const (
	vectorMechanism = "storage backend scopes every read and write to it."
	vectorEdited    = "storage backend scopes every read, write and delete to it."
)

// entry110 is the changelog entry of the example contract's 1.1.0.
const entry110 = `  - version: 1.1.0
    date: "2026-10-24"
    summary: >-
      vector-store: the tenant namespace is enforced by the storage backend
      too (embedded or PostgreSQL), not only by the gateway, after the
      retrieval-filter incident INC-2026-0131.
    changed: [vector-store]
`

// editContract rewrites contract.yaml in dir: each pair of args is an old
// string (which must occur) and its replacement.
func editContract(t *testing.T, dir string, oldNew ...string) {
	t.Helper()
	path := filepath.Join(dir, fleet.ContractFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("%s does not contain %q", fleet.ContractFile, oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bumpContract returns the edits that publish contract 1.2.0 with one
// changelog entry listing changed under changed.
func bumpContract(summary, changed string) []string {
	return []string{
		"version: 1.1.0\nowner:", "version: 1.2.0\nowner:",
		"changelog:\n", "changelog:\n  - version: 1.2.0\n    date: \"2026-11-20\"\n    summary: " + summary + "\n    changed: [" + changed + "]\n",
	}
}

// contractDetail is the detail of a contract.change audit record.
type contractDetail struct {
	Version           string   `json:"version"`
	PreviousVersion   string   `json:"previous_version"`
	Changed           []string `json:"changed"`
	Removed           []string `json:"removed"`
	AmendmentRequired []string `json:"amendment_required"`
	Changelog         []struct {
		Version string   `json:"version"`
		Summary string   `json:"summary"`
		Changed []string `json:"changed"`
	} `json:"changelog"`
}

// contractRecords returns the contract.change records of the partition that
// read returns, checking that every record read belongs to it.
func (f *fixture) contractRecords(t *testing.T, read func() (string, []AuditEntry)) []contractDetail {
	t.Helper()
	part, recs := read()
	var out []contractDetail
	for _, r := range recs {
		if r.Partition != part {
			t.Errorf("record %d of partition %s read from partition %s", r.Seq, r.Partition, part)
		}
		if r.Action != "contract.change" {
			continue
		}
		var d contractDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatalf("contract.change detail %s: %v", r.Detail, err)
		}
		out = append(out, d)
	}
	return out
}

// partitions returns, for every tenant of the fleet and for the platform, a
// reader of that partition's audit records.
func (f *fixture) partitions(t *testing.T) map[string]func() (string, []AuditEntry) {
	t.Helper()
	out := map[string]func() (string, []AuditEntry){}
	read := func(id string) func() (string, []AuditEntry) {
		return func() (string, []AuditEntry) {
			pr, part := tenant(id), id
			if id == store.PlatformPartition {
				pr, part = f.platform, store.PlatformPartition
			}
			recs, err := f.plane.ListAudit(t.Context(), pr, 0, 0)
			if err != nil {
				t.Fatalf("ListAudit(%s) = %v", id, err)
			}
			return part, recs
		}
	}
	for _, tn := range f.plane.Repo().Config.Tenants {
		out[tn.ID] = read(tn.ID)
	}
	out[store.PlatformPartition] = read(store.PlatformPartition)
	return out
}

// TestContractChangeNotifiesEveryTenant reloads a contract 1.2.0 that
// changes the vector-store row: every tenant's partition gets the
// contract.change record, naming that tenant's agents that declare
// vector-store; those agents, and only those, are amendment-required.
func TestContractChangeNotifiesEveryTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	for _, r := range []struct{ tenant, spec string }{
		{"research", "research/market-synthesizer.md"}, // declares vector-store
		{"support", "support/support-advisor.md"},      // declares vector-store
		{"support", "support/ticket-triage.md"},
		{"payments", "payments/refund-executor.md"},
	} {
		f.register(t, tenant(r.tenant), r.spec)
	}
	if len(f.plane.Repo().Config.Tenants) != 5 {
		t.Fatalf("example fleet has %d tenants, want 5", len(f.plane.Repo().Config.Tenants))
	}
	editContract(t, f.dir, append(bumpContract("vector-store deletes are scoped by the backend too.", "vector-store"), vectorMechanism, vectorEdited)...)
	res, err := f.plane.Reload(ctx, "test")
	if err != nil {
		t.Fatalf("Reload(contract 1.2.0) = %v", err)
	}
	wantAmend := []string{"research.market-synthesizer", "support.support-advisor"}
	ch := res.ContractChange
	if !res.Changed || res.Contract != "1.2.0" || ch == nil || ch.From != "1.1.0" || ch.To != "1.2.0" ||
		!slices.Equal(ch.Changed, []string{"vector-store"}) || len(ch.Removed) != 0 ||
		len(ch.Changelog) != 1 || ch.Changelog[0].Version != "1.2.0" || !slices.Equal(ch.AmendmentRequired, wantAmend) {
		t.Fatalf("Reload(contract 1.2.0) = %+v, change %+v; want 1.1.0 → 1.2.0 changing vector-store, amendments %v", res, ch, wantAmend)
	}
	if got := slices.Sorted(slices.Values(res.AmendmentRequired)); !slices.Equal(got, wantAmend) {
		t.Errorf("ReloadResult.AmendmentRequired = %v, want %v", got, wantAmend)
	}

	// Every partition, the tenants' with no registered agent included, holds
	// exactly one contract.change record, naming only its own agents.
	wantByPartition := map[string][]string{
		"research": {"research.market-synthesizer"}, "support": {"support.support-advisor"},
		"payments": {}, "adsales": {}, "adlab": {}, store.PlatformPartition: wantAmend,
	}
	parts := f.partitions(t)
	if len(parts) != len(wantByPartition) {
		t.Fatalf("partitions = %d, want %d", len(parts), len(wantByPartition))
	}
	for id, read := range parts {
		t.Run(id, func(t *testing.T) {
			recs := f.contractRecords(t, read)
			if len(recs) != 1 {
				t.Fatalf("contract.change records = %d, want 1", len(recs))
			}
			d := recs[0]
			if d.Version != "1.2.0" || d.PreviousVersion != "1.1.0" || !slices.Equal(d.Changed, []string{"vector-store"}) ||
				d.Removed == nil || len(d.Changelog) != 1 || d.Changelog[0].Summary != "vector-store deletes are scoped by the backend too." ||
				!slices.Equal(d.AmendmentRequired, wantByPartition[id]) {
				t.Errorf("contract.change = %+v, want 1.1.0 → 1.2.0, vector-store, the changelog summary, amendments %v", d, wantByPartition[id])
			}
		})
	}

	// The constraints view: a declaring agent must amend, naming the row;
	// another agent need not.
	v, err := f.plane.Constraints(ctx, tenant("research"), "research.market-synthesizer")
	if err != nil {
		t.Fatal(err)
	}
	var rows []ChangeView
	for _, c := range v.Changes {
		if c.Resource != "" {
			rows = append(rows, c)
		}
	}
	if !v.AmendmentRequired || v.ContractPinned != "1.1.0" || v.ContractEnforced != "1.2.0" || len(rows) != 1 ||
		rows[0].Resource != "vector-store" || rows[0].Kind != "changed" || !slices.Equal(rows[0].ContractVersions, []string{"1.2.0"}) ||
		!strings.Contains(rows[0].Summary, "deletes are scoped") {
		t.Errorf("Constraints(research.market-synthesizer) = amendment %v, contract %s/%s, changes %+v; want vector-store changed in 1.2.0",
			v.AmendmentRequired, v.ContractPinned, v.ContractEnforced, v.Changes)
	}
	for _, id := range []string{"support.ticket-triage", "payments.refund-executor"} {
		v, err := f.plane.Constraints(ctx, f.platform, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.AmendmentRequired || len(v.Changes) != 0 || v.ContractEnforced != "1.2.0" {
			t.Errorf("Constraints(%s) = amendment %v, changes %+v; want none", id, v.AmendmentRequired, v.Changes)
		}
	}

	// Reloading the same repo, or restarting on it, notifies nobody again.
	if res, err := f.plane.Reload(ctx, "test"); err != nil || res.Changed || res.ContractChange != nil {
		t.Errorf("Reload(unchanged) = %+v, %v; want unchanged, no contract change", res, err)
	}
	if _, err := New(ctx, f.plane.Store(), f.dir, Options{}); err != nil {
		t.Fatalf("New after the change = %v", err)
	}
	for id, read := range f.partitions(t) {
		if n := len(f.contractRecords(t, read)); n != 1 {
			t.Errorf("partition %s: %d contract.change records after a reload and a restart, want still 1", id, n)
		}
	}
}

// TestContractChangeRefused reloads contract edits that a released version
// does not allow: each is refused whole, at a reload and at a restart (from
// the row digests of the last recorded load), and changes nothing: no load
// recorded, no tenant notified, the repo in force the same.
func TestContractChangeRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edits    []string
		code     string
		resource string
	}{
		{"changed row, same version", []string{vectorMechanism, vectorEdited}, "contract-changed-in-place", "vector-store"},
		{"added row, same version", []string{"resources:\n", "resources:\n  - id: object-store\n    guarantee: Per-tenant buckets.\n    mechanism: Bucket per tenant.\n"},
			"contract-changed-in-place", "object-store"},
		{"changed row the new version does not name", append(bumpContract("Model budgets hold across replicas.", "model-provider"), vectorMechanism, vectorEdited),
			"contract-change-unrecorded", "vector-store"},
		{"version lowered", []string{"version: 1.1.0\nowner:", "version: 1.0.0\nowner:", entry110, ""}, "contract-version-lowered", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			f.register(t, tenant("research"), "research/market-synthesizer.md")
			before := f.plane.Repo()
			loads, err := f.plane.Store().ListFleetLoads(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			editContract(t, f.dir, tc.edits...)
			if _, err := fleet.Load(f.dir); err != nil {
				t.Fatalf("the edited fleet repo does not load, so the case tests nothing: %v", err)
			}
			refused := func(what string, err error) {
				t.Helper()
				var rej *RejectedError
				if !errors.As(err, &rej) || len(rej.Findings) != 1 || rej.Findings[0].Code != tc.code || rej.Findings[0].Resource != tc.resource ||
					!strings.HasSuffix(rej.Findings[0].File, fleet.ContractFile) {
					t.Fatalf("%s = %v %+v, want one %s finding on %q", what, err, rej, tc.code, tc.resource)
				}
			}
			_, err = f.plane.Reload(ctx, "test")
			refused("Reload", err)
			if f.plane.Repo() != before {
				t.Errorf("after a refused reload the repo in force changed")
			}
			_, err = New(ctx, f.plane.Store(), f.dir, Options{})
			refused("New", err)
			after, err := f.plane.Store().ListFleetLoads(ctx, 0)
			if err != nil || len(after) != len(loads) {
				t.Errorf("fleet loads after refusals = %d, %v; want still %d", len(after), err, len(loads))
			}
			for id, read := range f.partitions(t) {
				if n := len(f.contractRecords(t, read)); n != 0 {
					t.Errorf("partition %s: %d contract.change records after refusals, want 0", id, n)
				}
			}
		})
	}
}
