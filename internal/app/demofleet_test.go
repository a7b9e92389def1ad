package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteDemoFleet checks that the demo fleet in the data directory
// follows the embedded example unless the user edited it.
func TestWriteDemoFleet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		edit         bool // change fleet.yaml on disk
		markEdit     bool // and record the edit as what fleetgov wrote (an older release)
		wantEmbedded bool
	}{
		{"untouched stays", false, false, true},
		{"written by an older fleetgov is replaced", true, true, true},
		{"edited by the user is kept", true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			dir, err := writeDemoFleet(data)
			if err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "fleet.yaml")
			orig, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit {
				if err := os.WriteFile(cfg, append(orig, []byte("# edited\n")...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.markEdit {
				d, err := treeDigest(os.DirFS(dir))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(data, demoFleetDir+".digest"), []byte(d), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := writeDemoFleet(data); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if embedded := string(got) == string(orig); embedded != tc.wantEmbedded {
				t.Errorf("fleet.yaml is the embedded one: %v, want %v (edited: %v)", embedded, tc.wantEmbedded, strings.HasSuffix(string(got), "# edited\n"))
			}
		})
	}
}
