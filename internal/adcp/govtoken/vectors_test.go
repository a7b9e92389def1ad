package govtoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The upstream conformance vectors (testdata/README.md): every plan-hash file,
// every payload-hash case, every logical authorization case and every signed
// JWS case of governance-authorization.json.

type planHashVector struct {
	Name           string          `json:"name"`
	PlanAsSupplied json.RawMessage `json:"plan_as_supplied"`
	Expected       struct {
		Preimage  json.RawMessage `json:"preimage"`
		JCSBytes  string          `json:"jcs_bytes"`
		SHA256Hex string          `json:"sha256_hex"`
		PlanHash  string          `json:"plan_hash"`
	} `json:"expected"`
	CrossReference struct {
		SameHashAs  string `json:"same_hash_as"`
		DiffersFrom string `json:"differs_from"`
	} `json:"cross_reference"`
}

func TestPlanHashVectors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/plan-hash/*.json")
	if err != nil || len(files) != 11 {
		t.Fatalf("plan-hash vectors: %d files, err %v; want 11", len(files), err)
	}
	hashes := map[string]string{}
	vectors := map[string]planHashVector{}
	for _, f := range files {
		var v planHashVector
		readJSON(t, f, &v)
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		vectors[id] = v
		got, err := PlanHash(v.PlanAsSupplied)
		if err != nil {
			t.Fatalf("PlanHash(%s): %v", id, err)
		}
		hashes[id] = got
	}
	for id, v := range vectors {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			pre, err := PlanHashPreimage(v.PlanAsSupplied)
			if err != nil {
				t.Fatalf("PlanHashPreimage: %v", err)
			}
			if string(pre) != v.Expected.JCSBytes {
				t.Errorf("PlanHashPreimage(plan_as_supplied) =\n%s\nwant jcs_bytes\n%s", pre, v.Expected.JCSBytes)
			}
			// The published preimage canonicalizes to the same bytes.
			canon, err := Canonicalize(v.Expected.Preimage)
			if err != nil {
				t.Fatalf("Canonicalize(preimage): %v", err)
			}
			if string(canon) != v.Expected.JCSBytes {
				t.Errorf("Canonicalize(expected.preimage) = %s, want jcs_bytes", canon)
			}
			sum := sha256.Sum256(pre)
			if got := hex.EncodeToString(sum[:]); got != v.Expected.SHA256Hex {
				t.Errorf("sha256 = %s, want %s", got, v.Expected.SHA256Hex)
			}
			if hashes[id] != v.Expected.PlanHash {
				t.Errorf("PlanHash = %s, want %s", hashes[id], v.Expected.PlanHash)
			}
			if !EqualHash(hashes[id], v.Expected.PlanHash) {
				t.Errorf("EqualHash(%s, %s) = false", hashes[id], v.Expected.PlanHash)
			}
			if ref := v.CrossReference.SameHashAs; ref != "" && hashes[ref] != hashes[id] {
				t.Errorf("hash %s differs from %s's %s", hashes[id], ref, hashes[ref])
			}
			if ref := v.CrossReference.DiffersFrom; ref != "" && (hashes[ref] == hashes[id] || EqualHash(hashes[ref], hashes[id])) {
				t.Errorf("hash equals %s's", ref)
			}
		})
	}
}

// authorizationVectors is governance-authorization.json.
type authorizationVectors struct {
	PayloadHashCases []struct {
		ID                       string          `json:"id"`
		Payload                  json.RawMessage `json:"payload"`
		CanonicalBusinessPayload string          `json:"canonical_business_payload"`
		ExpectedHash             string          `json:"expected_hash"`
	} `json:"payload_hash_cases"`
	AuthorizationCases []struct {
		ID                      string  `json:"id"`
		TaskMatch               bool    `json:"task_match"`
		PayloadHashMatch        bool    `json:"payload_hash_match"`
		AuthorizedAmount        float64 `json:"authorized_amount"`
		ActualAmount            float64 `json:"actual_amount"`
		CurrencyMatch           bool    `json:"currency_match"`
		CriticalMarkersComplete bool    `json:"critical_markers_complete"`
		Expected                string  `json:"expected"`
	} `json:"authorization_cases"`
	SignedJWS struct {
		TestKey struct {
			KID string `json:"kid"`
			X   string `json:"x"`
			D   string `json:"_private_d_for_test_only"`
		} `json:"test_key"`
		RawTestKey           json.RawMessage
		VerificationDefaults verificationInput `json:"verification_defaults"`
		Cases                []jwsCase         `json:"cases"`
	} `json:"signed_jws"`
}

type verificationInput struct {
	Now                 *int64          `json:"now"`
	ClockSkewSeconds    *int64          `json:"clock_skew_seconds"`
	ExpectedIssuer      string          `json:"expected_issuer"`
	ExpectedAudience    string          `json:"expected_audience"`
	AuthenticatedCaller string          `json:"authenticated_caller"`
	ExpectedTask        string          `json:"expected_task"`
	Payload             json.RawMessage `json:"payload"`
	ActualCommitment    *Commitment     `json:"actual_commitment"`
	ExpectedPhase       Phase           `json:"expected_phase"`
	PreconsumedJTI      bool            `json:"preconsumed_jti"`
}

// merge applies the case's verification_overrides to the defaults.
func (d verificationInput) merge(o verificationInput) verificationInput {
	if o.Now != nil {
		d.Now = o.Now
	}
	if o.ClockSkewSeconds != nil {
		d.ClockSkewSeconds = o.ClockSkewSeconds
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&d.ExpectedIssuer, o.ExpectedIssuer}, {&d.ExpectedAudience, o.ExpectedAudience},
		{&d.AuthenticatedCaller, o.AuthenticatedCaller}, {&d.ExpectedTask, o.ExpectedTask},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if o.Payload != nil {
		d.Payload = o.Payload
	}
	if o.ActualCommitment != nil {
		d.ActualCommitment = o.ActualCommitment
	}
	if o.ExpectedPhase != "" {
		d.ExpectedPhase = o.ExpectedPhase
	}
	d.PreconsumedJTI = o.PreconsumedJTI
	return d
}

type jwsCase struct {
	ID                    string            `json:"id"`
	ProtectedHeader       json.RawMessage   `json:"protected_header"`
	Claims                json.RawMessage   `json:"claims"`
	VerificationOverrides verificationInput `json:"verification_overrides"`
	CompactJWS            string            `json:"compact_jws"`
	Expected              struct {
		Result string `json:"result"`
		Error  *Code  `json:"error"`
	} `json:"expected"`
}

func loadAuthorizationVectors(t testing.TB) *authorizationVectors {
	t.Helper()
	var v authorizationVectors
	readJSON(t, "testdata/governance-authorization.json", &v)
	var raw struct {
		SignedJWS struct {
			TestKey json.RawMessage `json:"test_key"`
		} `json:"signed_jws"`
	}
	readJSON(t, "testdata/governance-authorization.json", &raw)
	v.SignedJWS.RawTestKey = raw.SignedJWS.TestKey
	return &v
}

// vectorKey is the published test key, private part included.
func vectorKey(t testing.TB, v *authorizationVectors) (*Key, *JWKS) {
	t.Helper()
	seed, err := b64.DecodeString(v.SignedJWS.TestKey.D)
	if err != nil {
		t.Fatalf("test key d: %v", err)
	}
	key, err := NewKey(v.SignedJWS.TestKey.KID, seed, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(key.Public); got != v.SignedJWS.TestKey.X {
		t.Fatalf("test key x = %s, want %s", got, v.SignedJWS.TestKey.X)
	}
	// The published JWK, as a seller would fetch it.
	set, err := ParseJWKS([]byte(`{"keys":[` + string(v.SignedJWS.RawTestKey) + `]}`))
	if err != nil {
		t.Fatalf("ParseJWKS(test key): %v", err)
	}
	return key, set
}

func TestPayloadHashVectors(t *testing.T) {
	t.Parallel()
	v := loadAuthorizationVectors(t)
	if len(v.PayloadHashCases) != 3 {
		t.Fatalf("%d payload_hash_cases, want 3", len(v.PayloadHashCases))
	}
	for _, tc := range v.PayloadHashCases {
		t.Run(tc.ID, func(t *testing.T) {
			t.Parallel()
			pre, err := PayloadHashPreimage(tc.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if string(pre) != tc.CanonicalBusinessPayload {
				t.Errorf("PayloadHashPreimage = %s, want %s", pre, tc.CanonicalBusinessPayload)
			}
			got, err := PayloadHash(tc.Payload)
			if err != nil || got != tc.ExpectedHash {
				t.Errorf("PayloadHash = %s, %v; want %s", got, err, tc.ExpectedHash)
			}
		})
	}
}

// vectorOptions turns a vector's verification input into VerifyOptions.
func vectorOptions(in verificationInput, keys *JWKS) VerifyOptions {
	opts := VerifyOptions{
		Now:        time.Unix(*in.Now, 0),
		ClockSkew:  time.Duration(*in.ClockSkewSeconds) * time.Second,
		Keys:       keys,
		Issuers:    []string{in.ExpectedIssuer},
		Audience:   in.ExpectedAudience,
		Caller:     in.AuthenticatedCaller,
		Phase:      in.ExpectedPhase,
		Task:       in.ExpectedTask,
		Payload:    in.Payload,
		Commitment: in.ActualCommitment,
		Replay:     NewMemoryReplayCache(),
	}
	if *in.ClockSkewSeconds == 0 {
		opts.ClockSkew = -1
	}
	return opts
}

// notTyped are the signed cases whose header or claims the typed Claims
// cannot express, because Sign never produces such a token. Every other case
// is reproduced byte for byte from Claims as well as from its raw JSON.
var notTyped = map[string]string{
	"unknown-critical-header":       "crit names an extension Sign does not emit",
	"claim-missing-critical-marker": "Sign always marks a critical claim",
	"critical-marker-missing-claim": "Sign never marks an absent claim",
	"audience-missing":              "typed claims always carry aud",
	"authenticated-caller-missing":  "typed claims always carry caller",
	"expiration-missing":            "typed claims always carry exp",
	"jti-missing":                   "typed claims always carry jti",
	"authorized-currency-missing":   "malformed commitment does not parse",
	"authorized-amount-missing":     "malformed commitment does not parse",
}

func TestSignedJWSVectors(t *testing.T) {
	t.Parallel()
	v := loadAuthorizationVectors(t)
	key, jwks := vectorKey(t, v)
	if len(v.SignedJWS.Cases) != 27 {
		t.Fatalf("%d signed_jws cases, want 27", len(v.SignedJWS.Cases))
	}
	for _, tc := range v.SignedJWS.Cases {
		t.Run(tc.ID, func(t *testing.T) {
			t.Parallel()
			header := stringify(t, tc.ProtectedHeader)
			claims := stringify(t, tc.Claims)
			signingInput := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)

			// Re-signing the published header and claims reproduces the
			// token byte for byte (the tampered case only up to its
			// signature).
			resigned := signCompact(key.Private, header, claims)
			if tc.ID == "signature-tampered" {
				if !strings.HasPrefix(tc.CompactJWS, signingInput+".") || resigned == tc.CompactJWS {
					t.Errorf("tampered vector: signing input differs or signature not tampered")
				}
			} else if resigned != tc.CompactJWS {
				t.Errorf("re-signed token =\n%s\nwant\n%s", resigned, tc.CompactJWS)
			}

			// The same through the typed claims.
			if reason, skip := notTyped[tc.ID]; skip {
				if tok, err := Parse(tc.CompactJWS); err == nil {
					if typed, err := signClaims(key, &tok.Claims); err == nil && typed == resigned {
						t.Errorf("case is listed as not typed (%s) but reproduces", reason)
					}
				}
			} else {
				tok, err := Parse(tc.CompactJWS)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				typed, err := signClaims(key, &tok.Claims)
				if err != nil {
					t.Fatalf("signClaims: %v", err)
				}
				if typed != resigned {
					t.Errorf("signClaims(Parse(token).Claims) =\n%s\nwant\n%s", typed, resigned)
				}
			}

			// Verification gives exactly the expected result.
			in := v.SignedJWS.VerificationDefaults.merge(tc.VerificationOverrides)
			opts := vectorOptions(in, jwks)
			ctx := t.Context()
			if in.PreconsumedJTI {
				tok, err := Parse(tc.CompactJWS)
				if err != nil {
					t.Fatal(err)
				}
				c := tok.Claims
				if _, err := opts.Replay.Consume(ctx, c.Issuer, c.Audience, c.JTI, c.ExpiresAt); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Verify(ctx, tc.CompactJWS, opts)
			switch tc.Expected.Result {
			case "accept":
				if err != nil {
					t.Errorf("Verify = %v, want accept", err)
				}
			case "reject":
				if got := CodeOf(err); tc.Expected.Error == nil || got != *tc.Expected.Error {
					t.Errorf("Verify = %v (code %q), want %v", err, got, *tc.Expected.Error)
				}
			default:
				t.Fatalf("expected.result %q", tc.Expected.Result)
			}
		})
	}
}

// TestAuthorizationCases maps each logical case onto a real token and a real
// verification: the token authorizes create_media_buy over the base payload
// for authorized_amount USD; the operation differs where the case says.
func TestAuthorizationCases(t *testing.T) {
	t.Parallel()
	v := loadAuthorizationVectors(t)
	key, jwks := vectorKey(t, v)
	if len(v.AuthorizationCases) != 7 {
		t.Fatalf("%d authorization_cases, want 7", len(v.AuthorizationCases))
	}
	base := json.RawMessage(`{"idempotency_key":"gov-vector-0000001","account":{"account_id":"acc_1"},"amount":1}`)
	other := json.RawMessage(`{"idempotency_key":"gov-vector-0000001","account":{"account_id":"acc_1"},"amount":2}`)
	now := time.Unix(1785931200, 0)
	for _, tc := range v.AuthorizationCases {
		t.Run(tc.ID, func(t *testing.T) {
			t.Parallel()
			c := testClaims(now)
			c.AuthorizedCommitment = &Commitment{Amount: tc.AuthorizedAmount, Currency: "USD"}
			c.AuthorizedPayloadHash = mustPayloadHash(t, base)
			var tok string
			if tc.CriticalMarkersComplete {
				var err error
				if tok, err = Sign(key, c); err != nil {
					t.Fatal(err)
				}
			} else {
				payload, err := c.marshal()
				if err != nil {
					t.Fatal(err)
				}
				tok = signCompact(key.Private, tokenHeader(key.KID, TypeToken, []string{claimTask, claimPayloadHash}), payload)
			}
			opts := VerifyOptions{
				Now: now, Keys: jwks, Issuers: []string{c.Issuer}, Audience: c.Audience,
				Caller: c.Caller, Phase: PhaseIntent, Task: "create_media_buy", Payload: base,
				Commitment: &Commitment{Amount: tc.ActualAmount, Currency: "USD"},
			}
			if !tc.TaskMatch {
				opts.Task = "update_media_buy"
			}
			if !tc.PayloadHashMatch {
				opts.Payload = other
			}
			if !tc.CurrencyMatch {
				opts.Commitment.Currency = "EUR"
			}
			_, err := Verify(t.Context(), tok, opts)
			if got := map[bool]string{true: "accept", false: "reject"}[err == nil]; got != tc.Expected {
				t.Errorf("Verify = %v (%s), want %s", err, got, tc.Expected)
			}
		})
	}
}

func TestStatementDigestExample(t *testing.T) {
	t.Parallel()
	var ex struct {
		Arguments struct {
			PlannedDelivery struct {
				MediaBuyID string `json:"media_buy_id"`
			} `json:"planned_delivery"`
			DeliveryMetrics json.RawMessage `json:"delivery_metrics"`
		} `json:"arguments"`
	}
	readJSON(t, "testdata/examples/07-execution-check-delivery.json", &ex)
	var m struct {
		StatementDigest string `json:"statement_digest"`
	}
	if err := json.Unmarshal(ex.Arguments.DeliveryMetrics, &m); err != nil {
		t.Fatal(err)
	}
	got, err := StatementDigest(ex.Arguments.PlannedDelivery.MediaBuyID, ex.Arguments.DeliveryMetrics)
	if err != nil || got != m.StatementDigest {
		t.Errorf("StatementDigest = %s, %v; want %s", got, err, m.StatementDigest)
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// stringify re-serializes JSON as JSON.stringify(JSON.parse(raw)) does:
// members in document order, no whitespace, ECMAScript numbers.
func stringify(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	raw = bytes.TrimSpace(raw)
	switch {
	case raw[0] == '{':
		members, err := decodeObject(raw)
		if err != nil {
			t.Fatal(err)
		}
		var w objectWriter
		for _, m := range members {
			w.raw(m.name, stringify(t, m.value))
		}
		return w.bytes()
	case raw[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			t.Fatal(err)
		}
		out := []byte{'['}
		for i, e := range elems {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, stringify(t, e)...)
		}
		return append(out, ']')
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return appendString(nil, s)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			t.Fatal(err)
		}
		out, err := appendNumber(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return raw // true, false, null
}

// testClaims are the vectors' base claims.
func testClaims(now time.Time) Claims {
	return Claims{
		Issuer:         "https://gov.example.com/governance",
		Subject:        "gov_action_vector_0001",
		PlanHash:       "oR0jFDEtzcwgPbNf-Ofd_fZHYfAyD1TRbzGOFBVCG-c",
		Audience:       "https://seller.example.com/sales",
		IssuedAt:       now,
		NotBefore:      now.Add(-30 * time.Second),
		ExpiresAt:      now.Add(15 * time.Minute),
		JTI:            "gov-vector-" + strconv.FormatInt(now.UnixNano(), 36),
		Phase:          PhaseIntent,
		Caller:         "https://buyer.example.com",
		CheckID:        "chk_vector_0001",
		AuthorizedTask: "create_media_buy",
		// The issuer profile asks for policy decision evidence.
		PolicyDecisionHash: strings.Repeat("ab", 32),
	}
}

func mustPayloadHash(t testing.TB, p json.RawMessage) string {
	t.Helper()
	h, err := PayloadHash(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
