package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/app"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// TestVerifyTokenCommand runs "fleetgov adcp verify-token" as a seller
// would, on tokens the production account's governance agent issued, with
// the agent's published JWKS and revocation list: a valid token is
// accepted (exit 0); a tampered one, one for another seller, a revoked one
// and one for another payload are each rejected (exit 1) with the
// taxonomy code on stdout and the failed check named on stderr.
func TestVerifyTokenCommand(t *testing.T) {
	e := govtest.Start(t, govtest.Options{})
	buyer := e.Connect(t, govtest.Production, "buyer")
	now := e.Clock.Now()
	plan := map[string]any{
		"plan_id": "plan_cli", "brand": map[string]any{"domain": "acmeoutdoor.example"}, "objectives": "CLI verification",
		"budget":    map[string]any{"total": 100000, "currency": "USD", "reallocation_threshold": 120000},
		"flight":    map[string]any{"start": now.Add(-24 * time.Hour).Format(time.RFC3339), "end": now.Add(90 * 24 * time.Hour).Format(time.RFC3339)},
		"countries": []any{"US"},
	}
	if r := buyer.Call("sync_plans", map[string]any{"adcp_version": "3.2", "idempotency_key": "verify-token-sync-0001", "plans": []any{plan}}); r.IsError {
		t.Fatalf("sync_plans: %s", r.Text)
	}
	payload := func(amount float64) map[string]any {
		return map[string]any{"account": map[string]any{"brand": map[string]any{"domain": "acmeoutdoor.example"}, "operator": "northwind.example"},
			"total_budget": amount, "start_time": now.Format(time.RFC3339), "end_time": now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
			"packages": []any{map[string]any{"product_id": "outdoor_display", "budget": amount}}}
	}
	approve := func(amount float64) string {
		t.Helper()
		r := buyer.Call("check_governance", map[string]any{"adcp_version": "3.2", "plan_id": "plan_cli", "caller": govtest.BuyerURL,
			"target_agent": govtest.SellerURL, "tool": "create_media_buy", "payload": payload(amount)})
		tok, _ := r.Body["governance_context"].(string)
		if r.IsError || r.Body["verdict"] != "approved" || tok == "" {
			t.Fatalf("intent check = %s, want approved", r.Text)
		}
		return tok
	}
	token, revoked := approve(40000), approve(20000)

	dir := t.TempDir()
	file := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// What the seller receives: the approved payload with the token and
	// the buyer's context beside it.
	received := payload(40000)
	received["governance_context"] = token
	received["context"] = map[string]any{"correlation_id": "cli"}
	goodPayload, otherPayload := file("request.json", received), file("other.json", payload(40500))

	tok, err := govtoken.Parse(revoked)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.API(t, "POST", "/v1/tenants/adsales/adcp/tokens/"+tok.Claims.JTI+"/revoke", govtest.Production, nil, nil); status != http.StatusOK {
		t.Fatalf("revoke = %d %s", status, body)
	}

	issuer := e.Server.URL + "/adcp/adsales"
	base := func(extra ...string) []string {
		return append([]string{"adcp", "verify-token", "-allow-insecure", "-jwks", issuer + "/.well-known/jwks.json",
			"-revocations", issuer + "/.well-known/governance-revocations.json", "-issuer", issuer,
			"-now", strconv.FormatInt(e.Clock.Now().Unix(), 10)}, extra...)
	}
	parts := strings.Split(token, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Split(revoked, ".")[2]

	cases := []struct {
		name      string
		args      []string
		wantExit  int
		wantError govtoken.Code // on stdout
		wantWhy   string        // on stderr: the failed check
	}{
		{"valid token", base("-audience", govtest.SellerURL, "-caller", govtest.BuyerURL, "-task", "create_media_buy", "-payload", goodPayload,
			"-commitment", "40000 USD", token), 0, "", ""},
		{"valid token from stdin", base("-audience", govtest.SellerURL, "-"), 0, "", ""},
		{"tampered token", base("-audience", govtest.SellerURL, tampered), 1, govtoken.CodeTokenInvalid, "signature does not verify"},
		{"wrong audience", base("-audience", govtest.Seller2URL, token), 1, govtoken.CodeTokenNotApplicable, `aud "`},
		{"revoked token", base("-audience", govtest.SellerURL, revoked), 1, govtoken.CodeTokenRevoked, "is revoked"},
		{"wrong payload hash", base("-audience", govtest.SellerURL, "-task", "create_media_buy", "-payload", otherPayload, token), 1,
			govtoken.CodeTokenNotApplicable, "authorized_payload_hash does not match"},
		{"commitment above the authorized", base("-audience", govtest.SellerURL, "-commitment", "40001 USD", token), 1,
			govtoken.CodeTokenNotApplicable, "exceeds the authorized"},
		{"expired token", append(base("-audience", govtest.SellerURL), "-now", strconv.FormatInt(now.Add(20*time.Minute).Unix(), 10), token), 1,
			govtoken.CodeTokenExpired, "is before now"},
		{"untrusted issuer", append(base("-audience", govtest.SellerURL), "-issuer", e.Server.URL+"/adcp/adlab", token), 1,
			govtoken.CodeIssuerNotAuthorized, `iss "`},
		{"no audience", base(token), 2, "", "-audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := app.Run(context.Background(), tc.args, strings.NewReader(token+"\n"), &stdout, &stderr)
			if code != tc.wantExit {
				t.Fatalf("fleetgov %s = exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args[:2], " "), code, tc.wantExit, &stdout, &stderr)
			}
			if tc.wantExit == 2 {
				if !strings.Contains(stderr.String(), tc.wantWhy) {
					t.Errorf("usage error %q does not name %s", &stderr, tc.wantWhy)
				}
				return
			}
			var out struct {
				Result string          `json:"result"`
				Error  string          `json:"error"`
				KID    string          `json:"kid"`
				Claims json.RawMessage `json:"claims"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("stdout %q is not the JSON verdict: %v", &stdout, err)
			}
			if tc.wantExit == 0 {
				var claims struct {
					Iss, Aud, Phase, Caller string
				}
				if err := json.Unmarshal(out.Claims, &claims); err != nil {
					t.Fatal(err)
				}
				want, _ := govtoken.Parse(token)
				if out.Result != "accept" || out.KID != want.Header.KID || claims.Iss != issuer || claims.Aud != govtest.SellerURL ||
					claims.Phase != "intent" || claims.Caller != govtest.BuyerURL {
					t.Errorf("verdict = %s, want accept with kid %s and the token's claims", &stdout, want.Header.KID)
				}
				if stderr.Len() != 0 {
					t.Errorf("an accepted token printed to stderr: %s", &stderr)
				}
				return
			}
			if out.Result != "reject" || out.Error != string(tc.wantError) {
				t.Errorf("verdict = %s, want reject with %s", &stdout, tc.wantError)
			}
			if !strings.Contains(stderr.String(), string(tc.wantError)) || !strings.Contains(stderr.String(), tc.wantWhy) {
				t.Errorf("stderr %q does not name the failed check (%s: %s)", &stderr, tc.wantError, tc.wantWhy)
			}
		})
	}
}
