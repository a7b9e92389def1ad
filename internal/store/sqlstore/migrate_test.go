package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    []migration
		wantErr bool
	}{
		{"empty", fstest.MapFS{}, nil, false},
		{"ordered by number", fstest.MapFS{
			"0010_ten.sql": file("B"), "0002_two.sql": file("A"), "README.md": file("x"),
		}, []migration{{2, "two", "A"}, {10, "ten", "B"}}, false},
		{"no number", fstest.MapFS{"init.sql": file("")}, nil, true},
		{"zero", fstest.MapFS{"0000_zero.sql": file("")}, nil, true},
		{"duplicate number", fstest.MapFS{"0001_a.sql": file(""), "1_b.sql": file("")}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadMigrations(tc.fs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("loadMigrations() error = %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("loadMigrations() = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("loadMigrations()[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
