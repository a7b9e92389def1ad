package schema

import (
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Version
		release string
	}{
		{"3.0", V30, "3.0.6"},
		{"3.0.6", V30, "3.0.6"},
		{"3.0.26", V30, "3.0.6"},
		{"v3.0", V30, "3.0.6"},
		{"3.1", V31, "3.1.19"},
		{"3.1.19", V31, "3.1.19"},
		{"3.1-beta", V31, "3.1.19"},
		{"3.1.0-beta.1", V31, "3.1.19"},
		{"3.2", V32, "3.2.0-beta.5"},
		{"3.2-beta", V32, "3.2.0-beta.5"},
		{"3.2-beta.5", V32, "3.2.0-beta.5"},
		{"3.2.0-beta.5", V32, "3.2.0-beta.5"},
		{"3.2-rc.1", V32, "3.2.0-beta.5"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseVersion(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseVersion(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
			if r := got.Release(); r != tc.release {
				t.Errorf("%q.Release() = %q, want %q", got, r, tc.release)
			}
		})
	}
}

func TestParseVersionRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "3", "v3", "2.5", "3.3", "4.0", "3.1.", "3.x", "latest", "3.1-", "3.0.6 ", "../3.0"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if got, err := ParseVersion(in); !errors.Is(err, ErrUnknownVersion) {
				t.Errorf("ParseVersion(%q) = %q, %v, want ErrUnknownVersion", in, got, err)
			}
		})
	}
}
