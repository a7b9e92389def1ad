package governance

import (
	"regexp"
	"slices"
	"testing"
)

func TestNewIDOrdered(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`^chk_[0-9a-hjkmnp-tv-z]{20}$`)
	var got []string
	seen := map[string]bool{}
	for range 5000 {
		id := newID("chk")
		if !shape.MatchString(id) {
			t.Fatalf("newID = %q, want chk_ and 20 base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("newID repeated %q", id)
		}
		seen[id] = true
		got = append(got, id)
	}
	if !slices.IsSorted(got) {
		t.Errorf("IDs made one after another do not sort in that order")
	}
}
