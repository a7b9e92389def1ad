package govtoken

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc, _ := f.jwks.Marshal()
	jwksFile := write("jwks.json", doc)
	payloadFile := write("payload.json", basePayload)
	revoked, err := SignRevocationList(f.key, RevocationList{Issuer: f.claims.Issuer, Updated: t0, NextUpdate: t0.Add(15 * time.Minute), RevokedJTIs: []string{f.claims.JTI}})
	if err != nil {
		t.Fatal(err)
	}
	revDoc, _ := RevocationDocument(revoked)
	revFile := write("revocations.json", revDoc)

	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	now := strconv.FormatInt(t0.Add(time.Minute).Unix(), 10)
	base := []string{"-jwks", jwksFile, "-issuer", f.claims.Issuer, "-audience", f.claims.Audience, "-now", now,
		"-caller", f.claims.Caller, "-task", "create_media_buy", "-payload", payloadFile, "-commitment", "1500 USD"}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantExit int
		wantOut  string
	}{
		{"accept", append(base, f.token), "", 0, `"result":"accept"`},
		{"accept from stdin", append(base, "-"), f.token + "\n", 0, `"claims":{"iss":"https://gov.example.com/governance"`},
		{"accept over http", append([]string{"-jwks", srv.URL + "/.well-known/jwks.json", "-allow-insecure",
			"-issuer", f.claims.Issuer, "-audience", f.claims.Audience, "-now", now}, f.token), "", 0, `"result":"accept"`},
		{"http refused without -allow-insecure", append([]string{"-jwks", srv.URL + "/.well-known/jwks.json",
			"-issuer", f.claims.Issuer, "-audience", f.claims.Audience, "-now", now}, f.token), "", 1, `"error":"governance_jwks_untrusted"`},
		{"over the ceiling", append(slices.Clone(base), "-commitment", "1500.5 USD", f.token), "", 1, `"error":"governance_token_not_applicable"`},
		{"revoked", append(slices.Clone(base), "-revocations", revFile, f.token), "", 1, `"error":"governance_token_revoked"`},
		{"execution gate without list", append(slices.Clone(base), "-phase", "purchase", f.token), "", 1, `"error":"governance_token_not_applicable"`},
		{"expired", append([]string{"-jwks", jwksFile, "-issuer", f.claims.Issuer, "-audience", f.claims.Audience,
			"-now", "2026-08-06T00:00:00Z"}, f.token), "", 1, `"error":"governance_token_expired"`},
		{"missing flags", []string{f.token}, "", 2, ""},
		{"bad phase", append(slices.Clone(base), "-phase", "approval", f.token), "", 2, ""},
		{"bad commitment", append(slices.Clone(base), "-commitment", "lots", f.token), "", 2, ""},
		{"help", []string{"-h"}, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := VerifyCommand(t.Context(), tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.wantExit {
				t.Fatalf("VerifyCommand = %d, want %d\nstdout %s\nstderr %s", code, tc.wantExit, stdout.String(), stderr.String())
			}
			if tc.wantOut != "" {
				if !strings.Contains(stdout.String(), tc.wantOut) {
					t.Errorf("stdout = %s, want %s", stdout.String(), tc.wantOut)
				}
				if !json.Valid(stdout.Bytes()) {
					t.Errorf("stdout is not JSON: %s", stdout.String())
				}
			}
		})
	}
}
