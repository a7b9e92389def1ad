package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func agent(tenantID, name string) store.Agent {
	id := tenantID + "." + name
	return store.Agent{
		ID: id, TenantID: tenantID, Name: name, Archetype: "buyer", SpecID: "spec-" + name,
		SpecVersion: "1.0.0", LibraryVersion: "lib-1", Owner: "owner@" + tenantID, Status: store.StatusActive,
		LastReview: at(-24 * time.Hour),
		Tools: []store.Tool{
			{Name: "search", Effect: "read"}, {Name: "buy", Effect: "write"},
		},
		EscalationPath:  "oncall-" + tenantID,
		SharedResources: []string{"budget:" + tenantID, "inventory"},
		RegisteredAt:    base,
		UpdatedAt:       base,
	}
}

func revision(a store.Agent, version, source string, registered time.Time) store.SpecRevision {
	sum := sha256.Sum256([]byte(source))
	return store.SpecRevision{
		AgentID: a.ID, SpecID: a.SpecID, Version: version, Digest: "sha256:" + hex.EncodeToString(sum[:]),
		Source: source, RegisteredAt: registered, RegisteredBy: "cred-1",
	}
}

func normAgent(a store.Agent) store.Agent {
	a.LastReview, a.RegisteredAt, a.UpdatedAt = norm(a.LastReview), norm(a.RegisteredAt), norm(a.UpdatedAt)
	return a
}

func normRevision(r store.SpecRevision) store.SpecRevision {
	r.RegisteredAt = norm(r.RegisteredAt)
	return r
}

func putAgent(t *testing.T, s store.Tx, a store.Agent, rev store.SpecRevision) {
	t.Helper()
	if err := s.PutAgent(t.Context(), a, rev); err != nil {
		t.Fatalf("PutAgent(%q, %q) = %v", a.ID, rev.Version, err)
	}
}

func testAgentRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := agent("acme", "full")
	nilLists := agent("acme", "nil")
	nilLists.Tools, nilLists.SharedResources = nil, nil
	emptyLists := agent("acme", "empty")
	emptyLists.Tools, emptyLists.SharedResources = []store.Tool{}, []string{}
	zero := store.Agent{ID: "acme.zero"}
	tests := []struct {
		name string
		a    store.Agent
	}{
		{"all fields", full},
		{"nil lists", nilLists},
		{"empty lists", emptyLists},
		{"zero values", zero},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := revision(tc.a, tc.a.SpecVersion, "# "+tc.a.ID, at(time.Second))
			putAgent(t, s, tc.a, rev)
			got, err := s.GetAgent(ctx, tc.a.ID)
			if err != nil {
				t.Fatalf("GetAgent(%q) = %v", tc.a.ID, err)
			}
			check(t, "GetAgent("+tc.a.ID+")", got, normAgent(tc.a))
			revs, err := s.ListSpecRevisions(ctx, tc.a.ID)
			if err != nil {
				t.Fatalf("ListSpecRevisions(%q) = %v", tc.a.ID, err)
			}
			check(t, "ListSpecRevisions("+tc.a.ID+")", revs, []store.SpecRevision{normRevision(rev)})
		})
	}
	_, err := s.GetAgent(ctx, "acme.nope")
	wantErr(t, `GetAgent("acme.nope")`, err, store.ErrNotFound)
	revs, err := s.ListSpecRevisions(ctx, "acme.nope")
	if err != nil || !empty(revs) {
		t.Errorf(`ListSpecRevisions("acme.nope") = %s, %v, want none`, show(revs), err)
	}
}

func testPutAgentRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1 := agent("acme", "bot")
	r1 := revision(a1, "1.0.0", "# v1", base)
	putAgent(t, s, a1, r1)

	// A new version: the agent is updated, RegisteredAt stays the first one.
	a2 := a1
	a2.SpecVersion, a2.Owner, a2.Status = "2.0.0", "new-owner", store.StatusStaging
	a2.Tools = append([]store.Tool(nil), a1.Tools[0])
	a2.SharedResources = nil
	a2.LastReview = time.Time{}
	a2.RegisteredAt, a2.UpdatedAt = at(time.Hour), at(time.Hour)
	r2 := revision(a2, "2.0.0", "# v2", at(time.Hour))
	r2.AgentID = "" // an empty AgentID means the agent's
	putAgent(t, s, a2, r2)
	r2.AgentID = a2.ID

	want := a2
	want.RegisteredAt = a1.RegisteredAt
	got, err := s.GetAgent(ctx, a1.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	check(t, "GetAgent after a new version", got, normAgent(want))

	// The same version with the same digest: no new revision, agent updated.
	a3 := a2
	a3.Owner = "third-owner"
	a3.UpdatedAt = at(2 * time.Hour)
	r1again := r1
	r1again.RegisteredAt, r1again.RegisteredBy = at(2*time.Hour), "someone-else"
	putAgent(t, s, a3, r1again)
	want = a3
	want.RegisteredAt = a1.RegisteredAt
	got, err = s.GetAgent(ctx, a1.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	check(t, "GetAgent after a same-digest revision", got, normAgent(want))

	revs, err := s.ListSpecRevisions(ctx, a1.ID)
	if err != nil {
		t.Fatalf("ListSpecRevisions = %v", err)
	}
	check(t, "ListSpecRevisions", revs, []store.SpecRevision{normRevision(r1), normRevision(r2)})

	// A revision for another agent is refused, and writes nothing.
	other := revision(a1, "9.0.0", "# other", base)
	other.AgentID = "acme.other"
	err = s.PutAgent(ctx, a1, other)
	if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutAgent(revision of another agent) = %v, want a plain error", err)
	}
	// The first registration without RegisteredAt takes the next one's.
	z := agent("acme", "late")
	z.RegisteredAt = time.Time{}
	putAgent(t, s, z, revision(z, "1.0.0", "# late", base))
	z.RegisteredAt = at(3 * time.Hour)
	putAgent(t, s, z, revision(z, "1.0.0", "# late", base))
	got, err = s.GetAgent(ctx, z.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	check(t, "GetAgent after a zero RegisteredAt", got, normAgent(z))
}

func testPutAgentConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := agent("acme", "bot")
	r1 := revision(a, "1.0.0", "# v1", base)
	putAgent(t, s, a, r1)

	changed := a
	changed.Owner = "must-not-be-written"
	err := s.PutAgent(ctx, changed, revision(a, "1.0.0", "# v1, edited", at(time.Hour)))
	wantErr(t, "PutAgent(same version, other digest)", err, store.ErrConflict)

	got, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	check(t, "GetAgent after a conflict", got, normAgent(a))
	revs, err := s.ListSpecRevisions(ctx, a.ID)
	if err != nil {
		t.Fatalf("ListSpecRevisions = %v", err)
	}
	check(t, "ListSpecRevisions after a conflict", revs, []store.SpecRevision{normRevision(r1)})

	// Inside Atomic too, the conflicting call writes nothing, and the
	// transaction goes on.
	err = s.Atomic(ctx, func(tx store.Tx) error {
		err := tx.PutAgent(ctx, changed, revision(a, "1.0.0", "# v1, edited", at(time.Hour)))
		wantErr(t, "Atomic: PutAgent(same version, other digest)", err, store.ErrConflict)
		b := agent("acme", "b")
		return tx.PutAgent(ctx, b, revision(b, "1.0.0", "# b", base))
	})
	if err != nil {
		t.Fatalf("Atomic = %v", err)
	}
	got, err = s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	check(t, "GetAgent after a conflict in Atomic", got, normAgent(a))
	if _, err := s.GetAgent(ctx, "acme.b"); err != nil {
		t.Errorf("GetAgent(%q) = %v, want the agent put after the conflict", "acme.b", err)
	}
}

func testListAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := agent("acme", "zeta")
	b := agent("acme", "alpha")
	b.Archetype = "seller"
	c := agent("beta", "bot")
	c.Status = store.StatusDeprecated
	d := agent("acme", "Beta")
	d.Status = store.StatusStaging
	for _, x := range []store.Agent{a, b, c, d} {
		putAgent(t, s, x, revision(x, x.SpecVersion, "# "+x.ID, base))
	}
	tests := []struct {
		name string
		f    store.AgentFilter
		want []store.Agent
	}{
		{"all", store.AgentFilter{}, []store.Agent{d, b, a, c}},
		{"tenant", store.AgentFilter{TenantID: "acme"}, []store.Agent{d, b, a}},
		{"archetype", store.AgentFilter{Archetype: "seller"}, []store.Agent{b}},
		{"status", store.AgentFilter{Status: store.StatusActive}, []store.Agent{b, a}},
		{"tenant and status", store.AgentFilter{TenantID: "beta", Status: store.StatusDeprecated}, []store.Agent{c}},
		{"no match", store.AgentFilter{TenantID: "beta", Archetype: "seller"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListAgents(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListAgents(%+v) = %v", tc.f, err)
			}
			var want []store.Agent
			for _, x := range tc.want {
				want = append(want, normAgent(x))
			}
			if empty(got) && empty(want) {
				return
			}
			check(t, "ListAgents("+show(tc.f)+")", got, want)
		})
	}
}

func testSetAgentStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := agent("acme", "bot")
	putAgent(t, s, a, revision(a, a.SpecVersion, "# bot", base))
	if err := s.SetAgentStatus(ctx, a.ID, store.StatusDeprecated, at(time.Hour)); err != nil {
		t.Fatalf("SetAgentStatus = %v", err)
	}
	got, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAgent = %v", err)
	}
	want := a
	want.Status, want.UpdatedAt = store.StatusDeprecated, at(time.Hour)
	check(t, "GetAgent after SetAgentStatus", got, normAgent(want))
	err = s.SetAgentStatus(ctx, "acme.nope", store.StatusActive, base)
	wantErr(t, `SetAgentStatus("acme.nope")`, err, store.ErrNotFound)
}

func testGetSpecRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := agent("acme", "bot")
	r1 := revision(a, "1.0.0", "# v1", base)
	putAgent(t, s, a, r1)
	a2 := a
	a2.SpecVersion = "2.0.0"
	r2 := revision(a2, "2.0.0", "# v2", at(time.Minute))
	putAgent(t, s, a2, r2)
	// Back to 1.0.0 (same digest): current is 1.0.0 again, no new revision.
	putAgent(t, s, a, r1)
	tests := []struct {
		name    string
		agentID string
		version string
		want    store.SpecRevision
		wantErr error
	}{
		{"explicit old", a.ID, "1.0.0", r1, nil},
		{"explicit new", a.ID, "2.0.0", r2, nil},
		{"current", a.ID, "", r1, nil},
		{"unknown version", a.ID, "3.0.0", store.SpecRevision{}, store.ErrNotFound},
		{"unknown agent", "acme.nope", "", store.SpecRevision{}, store.ErrNotFound},
		{"unknown agent version", "acme.nope", "1.0.0", store.SpecRevision{}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.GetSpecRevision(ctx, tc.agentID, tc.version)
			wantErr(t, "GetSpecRevision("+tc.agentID+", "+tc.version+")", err, tc.wantErr)
			if tc.wantErr == nil {
				check(t, "GetSpecRevision("+tc.agentID+", "+tc.version+")", got, normRevision(tc.want))
			}
		})
	}
	revs, err := s.ListSpecRevisions(ctx, a.ID)
	if err != nil {
		t.Fatalf("ListSpecRevisions = %v", err)
	}
	check(t, "ListSpecRevisions", revs, []store.SpecRevision{normRevision(r1), normRevision(r2)})
}
