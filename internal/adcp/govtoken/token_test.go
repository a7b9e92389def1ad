package govtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 8, 5, 12, 0, 0, 0, time.UTC)

// fixture is an issuer with one key and a signed intent token for the base
// operation.
type fixture struct {
	key    *Key
	jwks   *JWKS
	claims Claims
	token  string
	opts   VerifyOptions
}

var basePayload = json.RawMessage(`{"idempotency_key":"gov-test-0000001","account":{"account_id":"acc_1"},"amount":1,"context":{"trace":"x"}}`)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key, err := GenerateKey(t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := testClaims(t0)
	c.AuthorizedCommitment = &Commitment{Amount: 1500, Currency: "USD"}
	c.AuthorizedPayloadHash = mustPayloadHash(t, basePayload)
	tok, err := Sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	jwks := &JWKS{Keys: []JWK{key.JWK()}}
	return &fixture{
		key: key, jwks: jwks, claims: c, token: tok,
		opts: VerifyOptions{
			Now: t0.Add(time.Minute), Keys: jwks, Issuers: []string{c.Issuer}, Audience: c.Audience,
			Caller: c.Caller, Phase: PhaseIntent, Task: "create_media_buy", Payload: basePayload,
			Commitment: &Commitment{Amount: 1500, Currency: "USD"}, Replay: NewMemoryReplayCache(),
		},
	}
}

func wantCode(t *testing.T, err error, want Code) {
	t.Helper()
	if got := CodeOf(err); got != want {
		t.Fatalf("Verify = %v (code %q), want %q", err, got, want)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := Verify(t.Context(), f.token, f.opts)
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if got.JTI != f.claims.JTI || got.Subject != f.claims.Subject || *got.AuthorizedCommitment != *f.claims.AuthorizedCommitment ||
		!got.ExpiresAt.Equal(f.claims.ExpiresAt) || got.PolicyDecisionHash != f.claims.PolicyDecisionHash {
		t.Errorf("Verify claims = %+v, want %+v", got, f.claims)
	}
	// Same claims, same token: Ed25519 and the serialization are deterministic.
	again, err := Sign(f.key, f.claims)
	if err != nil || again != f.token {
		t.Errorf("Sign twice: %v, tokens differ", err)
	}
	// A second use of the token is a replay.
	_, err = Verify(t.Context(), f.token, f.opts)
	wantCode(t, err, CodeTokenReplayed)
	if !errors.Is(err, ErrTokenReplayed) || errors.Is(err, ErrTokenInvalid) {
		t.Errorf("errors.Is on %v does not follow the code", err)
	}
}

func TestSignHeaderAndOptionalClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := Parse(f.token)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{claimCommitment, claimTask, claimPayloadHash}; !slices.Equal(tok.Header.Crit, want) {
		t.Errorf("crit = %v, want %v", tok.Header.Crit, want)
	}
	hdr, _ := b64.DecodeString(strings.Split(f.token, ".")[0])
	want := `{"alg":"EdDSA","kid":"` + f.key.KID + `","typ":"adcp-gov+jws","crit":["authorized_commitment","authorized_task","authorized_payload_hash"],"authorized_commitment":true,"authorized_task":true,"authorized_payload_hash":true}`
	if string(hdr) != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}

	// A non-monetary, non-action execution token: no crit at all.
	c := testClaims(t0)
	c.Phase, c.MediaBuyID = PhaseDelivery, "mb_1"
	c.AuthorizedTask = ""
	c.PolicyDecisionHash = ""
	conf := 0.25
	c.PolicyDecisions = []PolicyDecision{{PolicyID: "us_coppa", Outcome: "pass", Confidence: &conf}}
	c.AuditLogPointer = "https://gov.example.com/audit/1"
	c.RuntimeAttestationBindingDigest = "sha256:" + strings.Repeat("0", 64)
	c.Status = json.RawMessage(`{ "status_list": {"idx": 1, "uri": "https://x"} }`)
	s, err := Sign(f.key, c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err = Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header.Crit != nil {
		t.Errorf("crit = %v, want none", tok.Header.Crit)
	}
	payload := string(tok.payload)
	wantTail := `"phase":"delivery","caller":"https://buyer.example.com","check_id":"chk_vector_0001","media_buy_id":"mb_1","policy_decisions":[{"policy_id":"us_coppa","outcome":"pass","confidence":0.25}],"runtime_attestation_binding_digest":"sha256:` + strings.Repeat("0", 64) + `","audit_log_pointer":"https://gov.example.com/audit/1","status":{"status_list":{"idx":1,"uri":"https://x"}}}`
	if !strings.HasSuffix(payload, wantTail) {
		t.Errorf("claims = %s\nwant suffix %s", payload, wantTail)
	}
	if got := tok.Claims; got.PolicyDecisions[0].PolicyID != "us_coppa" || *got.PolicyDecisions[0].Confidence != 0.25 || got.MediaBuyID != "mb_1" {
		t.Errorf("Parse claims = %+v", got)
	}
}

func TestSignRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name   string
		mutate func(*Claims)
	}{
		{"no issuer", func(c *Claims) { c.Issuer = "" }},
		{"no audience", func(c *Claims) { c.Audience = "" }},
		{"no jti", func(c *Claims) { c.JTI = "" }},
		{"bad plan hash", func(c *Claims) { c.PlanHash = "abc" }},
		{"bad phase", func(c *Claims) { c.Phase = "approval" }},
		{"no exp", func(c *Claims) { c.ExpiresAt = time.Time{} }},
		{"exp before iat", func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) }},
		{"media buy on intent", func(c *Claims) { c.MediaBuyID = "mb_1" }},
		{"delivery without media buy", func(c *Claims) { c.Phase = PhaseDelivery }},
		{"execution over 30 days", func(c *Claims) {
			c.Phase, c.MediaBuyID, c.ExpiresAt = PhaseModification, "mb_1", c.IssuedAt.Add(31*24*time.Hour)
		}},
		{"task without hash", func(c *Claims) { c.AuthorizedPayloadHash = "" }},
		{"hash without task", func(c *Claims) { c.AuthorizedTask = "" }},
		{"negative ceiling", func(c *Claims) { c.AuthorizedCommitment.Amount = -1 }},
		{"bad currency", func(c *Claims) { c.AuthorizedCommitment.Currency = "usd" }},
		{"no policy evidence", func(c *Claims) { c.PolicyDecisionHash = "" }},
		{"oversized", func(c *Claims) { c.AuditLogPointer = "https://x/" + strings.Repeat("a", MaxTokenLength) }},
		{"bad attestation digest", func(c *Claims) { c.RuntimeAttestationBindingDigest = "sha256:xyz" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := f.claims
			a := *c.AuthorizedCommitment
			c.AuthorizedCommitment = &a
			tc.mutate(&c)
			if tok, err := Sign(f.key, c); !errors.Is(err, ErrInvalidClaims) {
				t.Errorf("Sign = %q, %v; want ErrInvalidClaims", tok, err)
			}
		})
	}
	retired := *f.key
	retired.RetiredAt = f.claims.IssuedAt
	if _, err := Sign(&retired, f.claims); err == nil {
		t.Error("Sign with a retired key succeeded")
	}
}

// TestTamper changes every character of the token, one at a time, and
// expects a rejection: governance_token_invalid, or governance_key_unknown
// where the change lands in the kid.
func TestTamper(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.opts.Replay = nil
	for i := range len(f.token) {
		if f.token[i] == '.' {
			continue
		}
		bad := flipChar(f.token, i)
		_, err := Verify(t.Context(), bad, f.opts)
		want := CodeTokenInvalid
		if hdr := strings.Split(bad, ".")[0]; len(hdr) == len(strings.Split(f.token, ".")[0]) && i < len(hdr) {
			if h, err := b64.DecodeString(hdr); err == nil {
				if dh, _, err := decodeHeader(h); err == nil && dh.KID != "" && dh.KID != f.key.KID && dh.Alg == AlgEdDSA && dh.Typ == TypeToken && len(dh.Crit) == 3 {
					want = CodeKeyUnknown
				}
			}
		}
		if got := CodeOf(err); got != want {
			t.Errorf("token with char %d changed: Verify = %v, want %s", i, err, want)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other, err := GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	signRaw := func(header, claims string) string {
		return signCompact(f.key.Private, []byte(header), []byte(claims))
	}
	claimsJSON, err := f.claims.marshal()
	if err != nil {
		t.Fatal(err)
	}
	goodHeader := string(tokenHeader(f.key.KID, TypeToken, []string{claimCommitment, claimTask, claimPayloadHash}))
	withOpts := func(mut func(*VerifyOptions)) VerifyOptions {
		o := f.opts
		o.Replay = nil
		mut(&o)
		return o
	}
	tests := []struct {
		name  string
		token string
		opts  VerifyOptions
		want  Code
	}{
		{"alg none", signRaw(strings.Replace(goodHeader, `"EdDSA"`, `"none"`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"alg HS256", signRaw(strings.Replace(goodHeader, `"EdDSA"`, `"HS256"`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"typ jwt", signRaw(strings.Replace(goodHeader, `"adcp-gov+jws"`, `"JWT"`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"typ without suffix", signRaw(strings.Replace(goodHeader, `"adcp-gov+jws"`, `"adcp-gov"`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"typ other case", signRaw(strings.Replace(goodHeader, `"adcp-gov+jws"`, `"ADCP-GOV+JWS"`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"marker false", signRaw(strings.Replace(goodHeader, `"authorized_task":true`, `"authorized_task":false`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"marker without crit", signRaw(strings.Replace(goodHeader, `"crit":["authorized_commitment",`, `"crit":[`, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"duplicate claim", signRaw(goodHeader, strings.Replace(string(claimsJSON), `"sub":`, `"aud":"https://evil.example","sub":`, 1)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"no kid", signRaw(strings.Replace(goodHeader, `"kid":"`+f.key.KID+`",`, ``, 1), string(claimsJSON)), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"two dots", f.token + ".x", withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"padded", f.token + "==", withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"too long", f.token + strings.Repeat("A", MaxTokenLength), withOpts(func(*VerifyOptions) {}), CodeTokenInvalid},
		{"unknown kid", f.token, withOpts(func(o *VerifyOptions) { o.Keys = &JWKS{Keys: []JWK{other.JWK()}} }), CodeKeyUnknown},
		{"wrong key same kid", f.token, withOpts(func(o *VerifyOptions) {
			k := other.JWK()
			k.KID = f.key.KID
			o.Keys = &JWKS{Keys: []JWK{k}}
		}), CodeTokenInvalid},
		{"key for transport signing", f.token, withOpts(func(o *VerifyOptions) {
			k := f.key.JWK()
			k.ADCPUse = "request-signing"
			o.Keys = &JWKS{Keys: []JWK{k}}
		}), CodeKeyUnknown},
		{"key not for verify", f.token, withOpts(func(o *VerifyOptions) {
			k := f.key.JWK()
			k.KeyOps = []string{"sign"}
			o.Keys = &JWKS{Keys: []JWK{k}}
		}), CodeKeyUnknown},
		{"key for ES256", f.token, withOpts(func(o *VerifyOptions) {
			k := f.key.JWK()
			k.Alg = AlgES256
			o.Keys = &JWKS{Keys: []JWK{k}}
		}), CodeTokenInvalid},
		{"jwks unavailable", f.token, withOpts(func(o *VerifyOptions) { o.Keys = failingKeys{} }), CodeJWKSUnavailable},
		{"issuer not trusted", f.token, withOpts(func(o *VerifyOptions) { o.Issuers = []string{"https://gov.example.com/other"} }), CodeIssuerNotAuthorized},
		{"issuer prefix", f.token, withOpts(func(o *VerifyOptions) { o.Issuers = []string{"https://gov.example.com"} }), CodeIssuerNotAuthorized},
		{"audience trailing slash", f.token, withOpts(func(o *VerifyOptions) { o.Audience += "/" }), CodeTokenNotApplicable},
		{"phase gate", f.token, withOpts(func(o *VerifyOptions) { o.Phase = PhasePurchase }), CodeTokenNotApplicable},
		{"subject", f.token, withOpts(func(o *VerifyOptions) { o.Subject = "gov_action_other" }), CodeTokenNotApplicable},
		{"payload changed", f.token, withOpts(func(o *VerifyOptions) {
			o.Payload = json.RawMessage(`{"idempotency_key":"gov-test-0000002","account":{"account_id":"acc_1"},"amount":1}`)
		}), CodeTokenNotApplicable},
		{"payload hash given", f.token, withOpts(func(o *VerifyOptions) { o.Payload, o.PayloadHash = nil, mustPayloadHash(t, basePayload) }), ""},
		{"context and governance_context ignored", f.token, withOpts(func(o *VerifyOptions) {
			o.Payload = json.RawMessage(`{"governance_context":"` + f.token + `","idempotency_key":"gov-test-0000001","amount":1,"account":{"account_id":"acc_1"}}`)
		}), ""},
		{"commitment above", f.token, withOpts(func(o *VerifyOptions) { o.Commitment = &Commitment{Amount: 1500.01, Currency: "USD"} }), CodeTokenNotApplicable},
		{"commitment below", f.token, withOpts(func(o *VerifyOptions) { o.Commitment = &Commitment{Amount: 10, Currency: "USD"} }), ""},
		{"expired", f.token, withOpts(func(o *VerifyOptions) { o.Now = f.claims.ExpiresAt.Add(61 * time.Second) }), CodeTokenExpired},
		{"expired within skew", f.token, withOpts(func(o *VerifyOptions) { o.Now = f.claims.ExpiresAt.Add(60 * time.Second) }), ""},
		{"not yet valid", f.token, withOpts(func(o *VerifyOptions) { o.Now = f.claims.NotBefore.Add(-61 * time.Second) }), CodeTokenNotYetValid},
		{"no skew", f.token, withOpts(func(o *VerifyOptions) { o.Now, o.ClockSkew = f.claims.ExpiresAt.Add(time.Second), -1 }), CodeTokenExpired},
		{"intent token, stale list still checked", f.token, withOpts(func(o *VerifyOptions) {
			o.Revocations = &RevocationList{Version: 1, Issuer: f.claims.Issuer, NextUpdate: t0.Add(-time.Hour), RevokedJTIs: []string{f.claims.JTI}}
		}), CodeTokenRevoked},
		{"kid revoked, list for the origin", f.token, withOpts(func(o *VerifyOptions) {
			o.Revocations = &RevocationList{Version: 1, Issuer: "https://gov.example.com", NextUpdate: t0.Add(time.Hour), RevokedKIDs: []string{f.key.KID}}
		}), CodeTokenRevoked},
		{"list of another issuer ignored", f.token, withOpts(func(o *VerifyOptions) {
			o.Revocations = &RevocationList{Version: 1, Issuer: "https://other.example.com", NextUpdate: t0.Add(time.Hour), RevokedKIDs: []string{f.key.KID}}
		}), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Verify(t.Context(), tc.token, tc.opts)
			wantCode(t, err, tc.want)
			if tc.want == "" && err != nil {
				t.Fatalf("Verify = %v, want accept", err)
			}
		})
	}
}

type failingKeys struct{}

func (failingKeys) KeySet(context.Context, string, bool) (*JWKS, error) {
	return nil, errors.New("connection refused")
}

func TestVerifyBadOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, mut := range []func(*VerifyOptions){
		func(o *VerifyOptions) { o.Audience = "" },
		func(o *VerifyOptions) { o.Issuers = nil },
		func(o *VerifyOptions) { o.Keys = nil },
		func(o *VerifyOptions) { o.Phase = "approval" },
	} {
		o := f.opts
		mut(&o)
		if _, err := Verify(t.Context(), f.token, o); !errors.Is(err, ErrBadOptions) || CodeOf(err) != "" {
			t.Errorf("Verify = %v, want ErrBadOptions", err)
		}
	}
}

// TestExecutionTokens covers the execution-phase rules: media_buy_id and the
// revocation list a seller must hold for them.
func TestExecutionTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := testClaims(t0)
	c.Phase, c.MediaBuyID = PhaseModification, "mb_1"
	c.Caller = "https://seller.example.com/sales"
	c.AuthorizedTask = ""
	c.ExpiresAt = t0.Add(30 * 24 * time.Hour)
	tok, err := Sign(f.key, c)
	if err != nil {
		t.Fatal(err)
	}
	fresh := &RevocationList{Version: 1, Issuer: c.Issuer, Updated: t0, NextUpdate: t0.Add(15 * time.Minute)}
	base := VerifyOptions{
		Now: t0.Add(time.Minute), Keys: f.jwks, Issuers: []string{c.Issuer}, Audience: c.Audience,
		Caller: c.Caller, Phase: PhaseModification, MediaBuyID: "mb_1", Revocations: fresh,
	}
	tests := []struct {
		name string
		mut  func(*VerifyOptions)
		want Code
	}{
		{"ok", func(*VerifyOptions) {}, ""},
		{"other media buy", func(o *VerifyOptions) { o.MediaBuyID = "mb_2" }, CodeTokenNotApplicable},
		{"no revocation list", func(o *VerifyOptions) { o.Revocations = nil }, CodeRevocationStale},
		{"stale list", func(o *VerifyOptions) { o.Now = t0.Add(16 * time.Minute) }, CodeRevocationStale},
		{"stale list within grace", func(o *VerifyOptions) { o.Now, o.RevocationGrace = t0.Add(16*time.Minute), time.Hour }, ""},
		{"revoked jti", func(o *VerifyOptions) {
			l := *fresh
			l.RevokedJTIs = []string{"other", c.JTI}
			o.Revocations = &l
		}, CodeTokenRevoked},
		{"action binding asked of a token without one", func(o *VerifyOptions) { o.Task = "update_media_buy" }, CodeTokenNotApplicable},
		{"commitment asked of a token without one", func(o *VerifyOptions) { o.Commitment = &Commitment{Amount: 1, Currency: "USD"} }, CodeTokenNotApplicable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := base
			tc.mut(&o)
			_, err := Verify(t.Context(), tok, o)
			wantCode(t, err, tc.want)
		})
	}

	// A modification token without media_buy_id (not signable through Sign).
	c.MediaBuyID = ""
	raw, err := signClaims(f.key, &c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(t.Context(), raw, base)
	wantCode(t, err, CodeTokenInvalid)

	// An execution token living past 30 days.
	c.MediaBuyID, c.ExpiresAt = "mb_1", t0.Add(31*24*time.Hour)
	if raw, err = signClaims(f.key, &c); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(t.Context(), raw, base)
	wantCode(t, err, CodeTokenInvalid)
}

// TestES256 verifies a token signed with a P-256 key published in the JWKS.
func TestES256(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	jwk := JWK{KTY: "EC", CRV: "P-256", X: b64.EncodeToString(pub[1:33]), Y: b64.EncodeToString(pub[33:]),
		KID: "edge-1", Use: "sig", KeyOps: []string{"verify"}, ADCPUse: ADCPUseGovernance, Alg: AlgES256}
	doc, err := (&JWKS{Keys: []JWK{jwk}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := testClaims(t0)
	c.AuthorizedTask = ""
	payload, err := c.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var hw objectWriter
	hw.str("alg", AlgES256)
	hw.str("kid", "edge-1")
	hw.str("typ", TypeToken)
	input := b64.EncodeToString(hw.bytes()) + "." + b64.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	tok := input + "." + b64.EncodeToString(sig)
	opts := VerifyOptions{Now: t0, Keys: jwks, Issuers: []string{c.Issuer}, Audience: c.Audience, Phase: PhaseIntent}
	if _, err := Verify(t.Context(), tok, opts); err != nil {
		t.Fatalf("Verify(ES256) = %v", err)
	}
	// s and n-s both verify in ECDSA; flipping a bit does not.
	sig[63] ^= 1
	_, err = Verify(t.Context(), input+"."+b64.EncodeToString(sig), opts)
	wantCode(t, err, CodeTokenInvalid)
	// A short signature.
	_, err = Verify(t.Context(), input+"."+b64.EncodeToString(sig[:63]), opts)
	wantCode(t, err, CodeTokenInvalid)
}

// TestRotation: the new key signs; a token of the retired key verifies while
// the key is published, and is governance_key_unknown once it is pruned.
func TestRotation(t *testing.T) {
	t.Parallel()
	first, err := GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyRing(first)
	if err != nil {
		t.Fatal(err)
	}
	ring.MaxLifetime = 24 * time.Hour
	signer, err := ring.Signer(t0)
	if err != nil || signer.KID != first.KID {
		t.Fatalf("Signer = %v, %v; want the first key", signer, err)
	}
	c := testClaims(t0)
	c.AuthorizedTask = ""
	c.ExpiresAt = t0.Add(time.Hour)
	old, err := Sign(signer, c)
	if err != nil {
		t.Fatal(err)
	}

	rotatedAt := t0.Add(time.Minute)
	second, err := ring.Rotate(rotatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ring.Signer(rotatedAt); s.KID != second.KID {
		t.Errorf("after Rotate, Signer = %s, want %s", s.KID, second.KID)
	}
	if _, err := Sign(ring.Keys()[0], Claims{}); err == nil {
		t.Error("Sign with empty claims succeeded")
	}
	c.IssuedAt = rotatedAt
	if _, err := Sign(ring.Keys()[0], c); err == nil {
		t.Error("the retired key still signs")
	}
	newTok, err := Sign(second, c)
	if err != nil {
		t.Fatal(err)
	}

	verify := func(tok string, now time.Time) error {
		doc, err := ring.JWKS(now).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		set, err := ParseJWKS(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(t.Context(), tok, VerifyOptions{Now: now, ClockSkew: -1, Keys: set, Issuers: []string{c.Issuer}, Audience: c.Audience})
		return err
	}
	at := rotatedAt.Add(30 * time.Minute)
	if err := verify(old, at); err != nil {
		t.Errorf("token of the retired, published key: %v", err)
	}
	if err := verify(newTok, at); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
	if n := len(ring.JWKS(at).Keys); n != 2 {
		t.Errorf("JWKS has %d keys, want 2", n)
	}
	// Past the retired key's window it leaves the JWKS.
	late := rotatedAt.Add(24*time.Hour + time.Second)
	if gone := ring.Prune(late); len(gone) != 1 || gone[0].KID != first.KID {
		t.Fatalf("Prune = %v, want the first key", gone)
	}
	if n := len(ring.JWKS(late).Keys); n != 1 {
		t.Errorf("JWKS has %d keys, want 1", n)
	}
	// The old token, verified as if still in time, now has no key.
	doc, _ := ring.JWKS(late).Marshal()
	set, _ := ParseJWKS(doc)
	_, err = Verify(t.Context(), old, VerifyOptions{Now: at, Keys: set, Issuers: []string{c.Issuer}, Audience: c.Audience})
	wantCode(t, err, CodeKeyUnknown)

	if ring.Remove(second.KID) == nil || ring.Remove(second.KID) != nil {
		t.Error("Remove: want the key once")
	}
	if _, err := ring.Signer(late); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Signer on an empty ring = %v", err)
	}
}

// TestKeyRefetch: a missed kid makes the verifier ask its source once more.
func TestKeyRefetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := &rotatingSource{stale: &JWKS{Keys: []JWK{}}, fresh: f.jwks}
	o := f.opts
	o.Keys = src
	if _, err := Verify(t.Context(), f.token, o); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if src.calls.Load() != 2 {
		t.Errorf("key source called %d times, want 2", src.calls.Load())
	}
}

type rotatingSource struct {
	stale, fresh *JWKS
	calls        atomic.Int32
}

func (s *rotatingSource) KeySet(_ context.Context, _ string, refresh bool) (*JWKS, error) {
	s.calls.Add(1)
	if refresh {
		return s.fresh, nil
	}
	return s.stale, nil
}

func TestRevocationList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	list := RevocationList{
		Issuer: "https://gov.example.com/governance", Updated: t0, NextUpdate: t0.Add(15 * time.Minute),
		RevokedJTIs: []string{"jti-1"}, RevokedKIDs: []string{"gov-2026-03"},
	}
	compact, err := SignRevocationList(f.key, list)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := b64.DecodeString(strings.Split(compact, ".")[0])
	if want := `{"alg":"EdDSA","kid":"` + f.key.KID + `","typ":"adcp-gov-revocation+jws"}`; string(hdr) != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}
	body, _ := b64.DecodeString(strings.Split(compact, ".")[1])
	if want := `{"version":1,"issuer":"https://gov.example.com/governance","updated":"2026-08-05T12:00:00Z","next_update":"2026-08-05T12:15:00Z","revoked_jtis":["jti-1"],"revoked_kids":["gov-2026-03"]}`; string(body) != want {
		t.Errorf("payload = %s, want %s", body, want)
	}
	doc, err := RevocationDocument(compact)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(compact, ".")
	flattened := `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
	for name, data := range map[string]string{"compact": compact, "general": string(doc), "flattened": flattened} {
		got, err := ParseRevocationList([]byte(data), f.jwks)
		if err != nil {
			t.Fatalf("ParseRevocationList(%s) = %v", name, err)
		}
		if got.Issuer != list.Issuer || !got.NextUpdate.Equal(list.NextUpdate) || got.RevokedJTIs[0] != "jti-1" || got.RevokedKIDs[0] != "gov-2026-03" {
			t.Errorf("ParseRevocationList(%s) = %+v", name, got)
		}
		if got.Stale(t0.Add(15*time.Minute), 0) || !got.Stale(t0.Add(16*time.Minute), 0) {
			t.Errorf("Stale around next_update wrong")
		}
	}

	// Empty lists are [] on the wire, not null.
	empty, err := SignRevocationList(f.key, RevocationList{Issuer: "https://gov.example.com", Updated: t0, NextUpdate: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := b64.DecodeString(strings.Split(empty, ".")[1]); !strings.Contains(string(body), `"revoked_jtis":[],"revoked_kids":[]`) {
		t.Errorf("empty list payload = %s", body)
	}

	// Rejections.
	other, _ := GenerateKey(t0)
	tokenTyp := f.token // a governance token is not a revocation list
	for name, tc := range map[string]struct {
		data string
		keys *JWKS
	}{
		"unknown key":     {compact, &JWKS{Keys: []JWK{other.JWK()}}},
		"tampered":        {flipSignature(compact), f.jwks},
		"token typ":       {tokenTyp, f.jwks},
		"garbage":         {"{not json", f.jwks},
		"no signatures":   {`{"payload":"e30","signatures":[]}`, f.jwks},
		"missing revoked": {signCompact(f.key.Private, tokenHeader(f.key.KID, TypeRevocation, nil), []byte(`{"version":1,"issuer":"x","updated":"2026-08-05T12:00:00Z","next_update":"2026-08-05T12:15:00Z","revoked_jtis":[]}`)), f.jwks},
		"version 2":       {signCompact(f.key.Private, tokenHeader(f.key.KID, TypeRevocation, nil), []byte(`{"version":2,"issuer":"x","updated":"2026-08-05T12:00:00Z","next_update":"2026-08-05T12:15:00Z","revoked_jtis":[],"revoked_kids":[]}`)), f.jwks},
		"crit in header":  {signCompact(f.key.Private, tokenHeader(f.key.KID, TypeRevocation, []string{"x"}), []byte(`{}`)), f.jwks},
	} {
		if _, err := ParseRevocationList([]byte(tc.data), tc.keys); !errors.Is(err, ErrRevocationListInvalid) {
			t.Errorf("ParseRevocationList(%s) = %v, want ErrRevocationListInvalid", name, err)
		}
	}
	for name, l := range map[string]RevocationList{
		"too far ahead": {Issuer: "x", Updated: t0, NextUpdate: t0.Add(31 * time.Minute)},
		"backwards":     {Issuer: "x", Updated: t0, NextUpdate: t0},
		"no issuer":     {Updated: t0, NextUpdate: t0.Add(time.Minute)},
		"version 2":     {Version: 2, Issuer: "x", Updated: t0, NextUpdate: t0.Add(time.Minute)},
	} {
		if _, err := SignRevocationList(f.key, l); err == nil {
			t.Errorf("SignRevocationList(%s) succeeded", name)
		}
	}
}

func TestMemoryReplayCacheConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMemoryReplayCache()
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			seen, err := m.Consume(t.Context(), "iss", "aud", "jti", t0)
			if err != nil {
				t.Error(err)
			}
			if !seen {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Errorf("%d callers saw the jti as new, want 1", fresh.Load())
	}
	if seen, _ := m.Consume(t.Context(), "iss", "other-aud", "jti", t0); seen {
		t.Error("the same jti for another audience counted as a replay")
	}
}

// flipChar replaces the base64url character at i with the next one of the
// alphabet.
func flipChar(s string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	c := alphabet[(strings.IndexByte(alphabet, s[i])+1)%len(alphabet)]
	return s[:i] + string(c) + s[i+1:]
}

// flipSignature changes one character in the middle of a compact JWS's
// signature (never its last, whose low bits base64url decoding ignores).
func flipSignature(compact string) string {
	b := []byte(compact)
	i := strings.LastIndexByte(compact, '.') + 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
