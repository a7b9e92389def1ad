package mcpserver_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// initialize is an MCP initialize request.
const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpserver-test","version":"1.0.0"}}}`

// post sends an MCP request to path with a bearer token ("" for none) and
// returns the status and body.
func post(t *testing.T, e *govtest.Env, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Server.URL+path, strings.NewReader(initialize))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestAuthentication checks who may open an MCP session with an account's
// agent: the account's AdCP agent credentials and its tenant credential.
// Anything else is 401; an account no agent serves is 404.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	cases := []struct {
		name    string
		account string
		token   string // a name in e.Tokens, a literal, or "" for none
		want    int
	}{
		{"buyer credential", govtest.Production, "buyer", http.StatusOK},
		{"seller credential", govtest.Production, "seller", http.StatusOK},
		{"the account's tenant credential", govtest.Production, govtest.Production, http.StatusOK},
		{"the sandbox's tenant credential", govtest.Sandbox, govtest.Sandbox, http.StatusOK},
		{"no credential", govtest.Production, "", http.StatusUnauthorized},
		{"unknown credential", govtest.Production, "fgv_not_a_real_token_0000000000000000", http.StatusUnauthorized},
		{"another account's tenant credential", govtest.Production, govtest.Sandbox, http.StatusUnauthorized},
		{"another account's AdCP credential", govtest.Sandbox, "buyer", http.StatusUnauthorized},
		{"production tenant credential on the sandbox", govtest.Sandbox, govtest.Production, http.StatusUnauthorized},
		{"platform credential", govtest.Production, "platform", http.StatusUnauthorized},
		{"unknown account", "no-such-account", "buyer", http.StatusNotFound},
		{"unknown account without a credential", "no-such-account", "", http.StatusNotFound},
		{"a tenant that is not an advertising account", "payments", "buyer", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := tc.token
			if s, ok := e.Tokens[token]; ok {
				token = s
			}
			status, body := post(t, e, "/adcp/"+tc.account+"/mcp", token)
			if status != tc.want {
				t.Fatalf("initialize on %s with %s = %d %s, want %d", tc.account, tc.name, status, body, tc.want)
			}
			if status != http.StatusOK && strings.Contains(body, "serverInfo") {
				t.Errorf("refused initialize answered the server: %s", body)
			}
		})
	}
	// A refused credential gets no tool: the client cannot connect.
	if _, err := e.TryConnect(t, govtest.Production, govtest.Sandbox); err == nil {
		t.Errorf("connect to %s with the sandbox's tenant credential succeeded", govtest.Production)
	}
}

// TestJWKS checks each account's published key set: well-formed, one
// governance-signing Ed25519 key per kid, and a 404 for an account no
// agent serves.
func TestJWKS(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	kids := map[string]string{}
	for _, account := range []string{govtest.Production, govtest.Sandbox} {
		status, h, b := get(t, e.Server.URL+"/adcp/"+account+"/.well-known/jwks.json")
		if status != http.StatusOK {
			t.Fatalf("JWKS of %s = %d %s", account, status, b)
		}
		if ct := h.Get("Content-Type"); ct != "application/jwk-set+json" {
			t.Errorf("JWKS of %s has Content-Type %q, want application/jwk-set+json", account, ct)
		}
		set, err := govtoken.ParseJWKS(b)
		if err != nil {
			t.Fatalf("ParseJWKS(%s) = %v", b, err)
		}
		if len(set.Keys) != 1 {
			t.Fatalf("JWKS of %s has %d keys, want the one signing key", account, len(set.Keys))
		}
		k := set.Keys[0]
		if k.KTY != "OKP" || k.CRV != "Ed25519" || k.X == "" || k.KID == "" || k.Use != "sig" ||
			!slices.Equal(k.KeyOps, []string{"verify"}) || k.ADCPUse != govtoken.ADCPUseGovernance {
			t.Errorf("JWKS key of %s = %+v, want an Ed25519 verify key for governance signing", account, k)
		}
		var raw map[string][]map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["keys"][0]["d"]; ok {
			t.Errorf("JWKS of %s publishes the private key", account)
		}
		kids[account] = k.KID
	}
	if kids[govtest.Production] == kids[govtest.Sandbox] {
		t.Errorf("the two accounts publish the same kid %s", kids[govtest.Production])
	}
	for _, path := range []string{"/adcp/no-such-account/.well-known/jwks.json", "/adcp/payments/.well-known/jwks.json",
		"/adcp/no-such-account/.well-known/governance-revocations.json"} {
		if status, _, b := get(t, e.Server.URL+path); status != http.StatusNotFound {
			t.Errorf("GET %s = %d %s, want 404", path, status, b)
		}
	}
}

// TestRevocationList checks the published revocation list: a signed JWS
// document that verifies against the account's JWKS (and not another
// account's), for the account's issuer, fresh, and naming a revoked token.
func TestRevocationList(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	url := e.Server.URL + "/adcp/adsales/.well-known/governance-revocations.json"
	jwks := func(account string) *govtoken.JWKS {
		_, _, b := get(t, e.Server.URL+"/adcp/"+account+"/.well-known/jwks.json")
		set, err := govtoken.ParseJWKS(b)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	status, h, doc := get(t, url)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s = %d (%s) %s", url, status, h.Get("Content-Type"), doc)
	}
	var shape struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			Protected string `json:"protected"`
			Signature string `json:"signature"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(doc, &shape); err != nil || shape.Payload == "" || len(shape.Signatures) != 1 {
		t.Fatalf("revocation document %s is not a JWS JSON serialization with one signature (%v)", doc, err)
	}
	list, err := govtoken.ParseRevocationList(doc, jwks(govtest.Production))
	if err != nil {
		t.Fatalf("ParseRevocationList = %v", err)
	}
	now := e.Clock.Now()
	if list.Version != 1 || list.Issuer != e.Server.URL+"/adcp/adsales" || len(list.RevokedJTIs) != 0 || len(list.RevokedKIDs) != 0 {
		t.Errorf("revocation list = %+v, want version 1 of %s/adcp/adsales, nothing revoked", list, e.Server.URL)
	}
	if !list.Updated.Equal(now) || list.NextUpdate.Sub(list.Updated) <= 0 || list.NextUpdate.Sub(list.Updated) > govtoken.MaxRevocationInterval || list.Stale(now, 0) {
		t.Errorf("revocation list updated %v, next_update %v; want updated now (%v) and next_update within %v", list.Updated, list.NextUpdate, now, govtoken.MaxRevocationInterval)
	}
	if _, err := govtoken.ParseRevocationList(doc, jwks(govtest.Sandbox)); err == nil {
		t.Errorf("the production account's revocation list verifies against the sandbox's JWKS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(shape.Payload)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), `"revoked_kids":[]`, `"revoked_kids":["`+jwks(govtest.Production).Keys[0].KID+`"]`, 1)
	if changed == string(payload) {
		t.Fatalf("revocation payload %s has no empty revoked_kids", payload)
	}
	forged := strings.Replace(string(doc), shape.Payload, base64.RawURLEncoding.EncodeToString([]byte(changed)), 1)
	if _, err := govtoken.ParseRevocationList([]byte(forged), jwks(govtest.Production)); err == nil {
		t.Errorf("a revocation document with a changed payload verifies")
	}

	// Revoking a token through the API lists it; the list stays signed.
	const jti = "gov_revoked_for_the_test"
	if status, body := e.API(t, "POST", "/v1/tenants/adsales/adcp/tokens/"+jti+"/revoke", govtest.Production, nil, nil); status != http.StatusOK {
		t.Fatalf("revoke = %d %s", status, body)
	}
	e.Clock.Advance(5 * time.Minute)
	_, _, doc = get(t, url)
	list, err = govtoken.ParseRevocationList(doc, jwks(govtest.Production))
	if err != nil {
		t.Fatalf("ParseRevocationList after a revocation = %v", err)
	}
	if !slices.Equal(list.RevokedJTIs, []string{jti}) || !list.Updated.Equal(e.Clock.Now()) {
		t.Errorf("revocation list after revoking %s = %+v, want it listed, updated now", jti, list)
	}
	// The sandbox's list is its own.
	_, _, labDoc := get(t, e.Server.URL+"/adcp/adlab/.well-known/governance-revocations.json")
	lab, err := govtoken.ParseRevocationList(labDoc, jwks(govtest.Sandbox))
	if err != nil {
		t.Fatalf("sandbox revocation list: %v", err)
	}
	if len(lab.RevokedJTIs) != 0 || lab.Issuer != e.Server.URL+"/adcp/adlab" {
		t.Errorf("sandbox revocation list = %+v, want its own issuer and nothing revoked", lab)
	}
}
