package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func TestValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, "$1"},
		{3, "$1, $2, $3"},
	}
	for _, tc := range tests {
		if got := values(tc.n); got != tc.want {
			t.Errorf("values(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestReviewCodec(t *testing.T) {
	t.Parallel()
	decided := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("IST", 5*3600+30*60))
	tests := []struct {
		name string
		in   *store.Review
		want *store.Review
	}{
		{"nil", nil, nil},
		{"empty", &store.Review{}, &store.Review{}},
		{"all fields", &store.Review{
			State: "approved", Reason: "r", Reviewer: "ann", Authority: "cfo", Minutes: 0.1, Decision: "\"ok\"",
			DecidedAt: decided,
		}, &store.Review{
			State: "approved", Reason: "r", Reviewer: "ann", Authority: "cfo", Minutes: 0.1, Decision: "\"ok\"",
			DecidedAt: decided.UTC().Truncate(time.Microsecond),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			arg, err := reviewArg(tc.in)
			if err != nil {
				t.Fatalf("reviewArg(%+v) = %v", tc.in, err)
			}
			var got *store.Review
			if err := (reviewCol{&got}).Scan(arg); err != nil {
				t.Fatalf("reviewCol.Scan(%v) = %v", arg, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("round trip of %+v = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	var r *store.Review
	for _, bad := range []any{"{", []byte(`{"decided_at":"yesterday"}`), 42} {
		if err := (reviewCol{&r}).Scan(bad); err == nil {
			t.Errorf("reviewCol.Scan(%v) = nil, want an error", bad)
		}
	}
}
