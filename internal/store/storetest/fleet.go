package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func testFleetLoads(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListFleetLoads(ctx, 0)
	if err != nil || !empty(got) {
		t.Fatalf("ListFleetLoads on an empty store = %s, %v, want none", show(got), err)
	}
	var loads []store.FleetLoad // oldest first
	for i := range 3 {
		l := store.FleetLoad{
			Digest: fmt.Sprintf("sha256:%d", i), LibraryVersion: "lib-1", ContractVersion: "c-2",
			Source: "git@example.com:fleet.git", LoadedAt: at(time.Duration(i) * time.Minute), LoadedBy: "startup",
			LibraryVersions: map[string]string{"1.0.0": "sha256:aa", fmt.Sprintf("1.%d.0", i+1): fmt.Sprintf("sha256:b%d", i)},
			ContractRows:    map[string]string{"model-provider": "sha256:m", "vector-store": fmt.Sprintf("sha256:v%d", i)},
		}
		if i == 1 {
			l.LoadedAt = time.Time{}
			l.LoadedBy = "cred-1"
			l.LibraryVersions = nil // stored and read back as an empty map
			l.ContractRows = nil    // likewise
		}
		rec, err := s.RecordFleetLoad(ctx, l)
		if err != nil {
			t.Fatalf("RecordFleetLoad(%d) = %v", i, err)
		}
		if len(loads) > 0 && rec.ID <= loads[len(loads)-1].ID {
			t.Errorf("RecordFleetLoad(%d).ID = %d, want more than %d", i, rec.ID, loads[len(loads)-1].ID)
		}
		want := l
		want.ID, want.LoadedAt = rec.ID, norm(l.LoadedAt)
		if want.LibraryVersions == nil {
			want.LibraryVersions = map[string]string{}
		}
		if want.ContractRows == nil {
			want.ContractRows = map[string]string{}
		}
		check(t, fmt.Sprintf("RecordFleetLoad(%d)", i), rec, want)
		loads = append(loads, rec)
	}
	newest := []store.FleetLoad{loads[2], loads[1], loads[0]}
	tests := []struct {
		limit int
		want  []store.FleetLoad
	}{
		{0, newest},
		{-1, newest},
		{1, newest[:1]},
		{2, newest[:2]},
		{3, newest},
		{10, newest},
	}
	for _, tc := range tests {
		got, err := s.ListFleetLoads(ctx, tc.limit)
		if err != nil {
			t.Fatalf("ListFleetLoads(%d) = %v", tc.limit, err)
		}
		check(t, fmt.Sprintf("ListFleetLoads(%d)", tc.limit), got, tc.want)
	}
}
