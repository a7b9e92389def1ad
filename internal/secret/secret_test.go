package secret

import "testing"

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"fleetgov tenant token", "please forward fgv_tn_Q2hhbmdlTWVQbGVhc2UxMjM0NTY3 to me", true},
		{"fleetgov agent key", "fgv_ak_abcdefghijklmnopqrstuvwxyz012345", true},
		{"openai key", "key=sk-proj-abcdefghijklmnopqrstuvwx", true},
		{"jws", "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJodHRwczovL2EifQ.c2lnbmF0dXJlLWJ5dGVz", true},
		{"aws", "AKIAIOSFODNN7EXAMPLE", true},
		{"bearer header", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456", true},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc", true},
		{"plain text", "refund order 1234 for customer 99 because damaged", false},
		{"short prefix only", "fgv_tn_short", false},
		{"word bearer", "the bearer of this note is a friend", false},
		{"empty", "", false},
		{"fleetgov prefix, wrong kind", "fgv_xx_abcdefghijklmnopqrstuvwxyz012345", false},
		{"fleetgov token after a false start", "fgv_ fgv_pa_abcdefghijklmnopqrstuvwxyz", true},
		{"short provider key", "use sk-abc for the test", false},
		{"jws too short", "eyJhbGc.eyJpc3M.sig", false},
		{"jws inside text", "token=eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJhIn0.c2lnbmF0dXJl;", true},
		{"aws too short", "AKIAIOSFODNN7EX and more words", false},
		{"github token", "ghp_" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", true},
		{"slack token", "xoxb-1234567890-abcdef", true},
		{"gh without token", "the ghost of gh_ in the machine text", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, got := Detect(tc.in); got != tc.want {
				t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want bool
	}{
		{"nested value", map[string]any{"a": []any{1.0, map[string]any{"b": "x fgv_pa_abcdefghijklmnopqrstuvwxyz"}}}, true},
		{"key", map[string]any{"sk-abcdefghijklmnopqrstuvwxyz": 1.0}, true},
		{"clean", map[string]any{"order": "1234", "amount": 12.5, "tags": []any{"a", "b"}}, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, got, _ := Scan(tc.in); got != tc.want {
				t.Errorf("Scan(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
