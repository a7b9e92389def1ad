package sqlstore

import "testing"

func TestWhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		build     func(w *where) string
		want      string
		wantNargs int
	}{
		{"empty", func(w *where) string { w.eq("a", ""); return w.String() }, "", 0},
		{"one", func(w *where) string { w.eq("a", "x"); return w.String() }, " WHERE a = $1", 1},
		{"two and limit", func(w *where) string {
			w.eq("a", "x")
			w.eq("b", "")
			w.eq("c", "y")
			return w.String() + w.limit(5)
		}, " WHERE a = $1 AND c = $2 LIMIT $3", 3},
		{"no limit", func(w *where) string { return w.String() + w.limit(0) }, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w where
			if got := tc.build(&w); got != tc.want || len(w.args) != tc.wantNargs {
				t.Errorf("where = %q with %d args, want %q with %d", got, len(w.args), tc.want, tc.wantNargs)
			}
		})
	}
}
