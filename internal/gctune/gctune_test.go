package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		gogc, limit string
		start       int
		want        int
		wantChanged bool
	}{
		{name: "unset", start: 100, want: Percent, wantChanged: true},
		{name: "GOGC set", gogc: "150", start: 150, want: 150},
		{name: "GOGC off", gogc: "off", start: -1, want: -1},
		{name: "GOMEMLIMIT set", limit: "1GiB", start: 100, want: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv("GOMEMLIMIT", tc.limit)
			prev := debug.SetGCPercent(tc.start)
			defer debug.SetGCPercent(prev)
			got, changed := Apply()
			if got != tc.want || changed != tc.wantChanged {
				t.Fatalf("Apply() = %d, %v; want %d, %v", got, changed, tc.want, tc.wantChanged)
			}
			if now := debug.SetGCPercent(tc.start); now != tc.want {
				t.Fatalf("GC percent in force = %d, want %d", now, tc.want)
			}
		})
	}
}
