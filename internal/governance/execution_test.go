package governance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// execVersion is the wire version the lifecycle tests speak: AdCP 3.2
// names the seller an intent authorizes (target_agent), so its tokens are
// bound to that seller.
const execVersion = "3.2"

// execFixture is one running fleetgov with a plan of the production
// account synced by the buyer, and MCP sessions for the buyer and the
// seller.
type execFixture struct {
	e       *govtest.Env
	buyer   *govtest.Session
	seller  *govtest.Session
	planID  string
	plan    json.RawMessage // the plan as synced
	start   time.Time       // the plan's flight
	end     time.Time
	keyseq  int
	account string
}

// execStart starts an environment and syncs a plan of 100,000 USD on the
// production account as the buyer.
func execStart(t *testing.T) *execFixture {
	t.Helper()
	e := govtest.Start(t, govtest.Options{})
	f := &execFixture{e: e, buyer: e.Connect(t, govtest.Production, "buyer"), seller: e.Connect(t, govtest.Production, "seller"),
		planID: "plan_northwind_q4", account: govtest.Production}
	now := e.Clock.Now()
	f.start, f.end = now.Add(-30*24*time.Hour), now.Add(300*24*time.Hour)
	plan := execPlanDoc(f.planID, f.start, f.end)
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	f.plan = raw
	r := f.buyer.Call("sync_plans", map[string]any{"adcp_version": execVersion, "idempotency_key": f.key("sync"), "plans": []any{json.RawMessage(raw)}})
	if r.IsError {
		t.Fatalf("sync_plans: %s", r.Text)
	}
	return f
}

// execPlanDoc is a plan the buyer's intents of up to 100,000 USD pass.
func execPlanDoc(id string, start, end time.Time) map[string]any {
	return map[string]any{
		"plan_id": id, "brand": map[string]any{"domain": "acmeoutdoor.example"},
		"objectives": "Q4 awareness for the outdoor range in the US",
		"budget":     map[string]any{"total": 100000, "currency": "USD", "reallocation_threshold": 120000},
		"flight":     map[string]any{"start": start.Format(time.RFC3339), "end": end.Format(time.RFC3339)},
		"countries":  []any{"US"}, "channels": map[string]any{"allowed": []any{"display", "olv"}},
	}
}

// key returns a fresh idempotency key.
func (f *execFixture) key(what string) string {
	f.keyseq++
	return fmt.Sprintf("exec-test-%s-%04d", what, f.keyseq)
}

// payload is a create_media_buy the plan allows.
func (f *execFixture) payload(amount float64) map[string]any {
	return map[string]any{
		"account":      map[string]any{"brand": map[string]any{"domain": "acmeoutdoor.example"}, "operator": "northwind.example"},
		"total_budget": amount,
		"start_time":   f.start.Add(24 * time.Hour).Format(time.RFC3339), "end_time": f.end.Add(-24 * time.Hour).Format(time.RFC3339),
		"packages": []any{map[string]any{"product_id": "outdoor_display_q4", "budget": amount}},
	}
}

// intentArgs is the buyer's intent check of a create_media_buy.
func (f *execFixture) intentArgs(amount float64) map[string]any {
	return map[string]any{"adcp_version": execVersion, "plan_id": f.planID, "caller": govtest.BuyerURL,
		"target_agent": govtest.SellerURL, "tool": "create_media_buy", "payload": f.payload(amount)}
}

// execApproval is an approved check.
type execApproval struct {
	CheckID string
	Token   string
	Body    map[string]any
}

// approve runs an intent check that must be approved.
func (f *execFixture) approve(t *testing.T, amount float64) execApproval {
	t.Helper()
	return execApproved(t, "intent check", f.buyer.Call("check_governance", f.intentArgs(amount)))
}

func execApproved(t *testing.T, what string, r govtest.Result) execApproval {
	t.Helper()
	if r.IsError || r.Body["verdict"] != "approved" {
		t.Fatalf("%s = %s, want approved", what, r.Text)
	}
	a := execApproval{Body: r.Body}
	a.CheckID, _ = r.Body["check_id"].(string)
	a.Token, _ = r.Body["governance_context"].(string)
	if a.CheckID == "" || a.Token == "" {
		t.Fatalf("%s approved without check_id or governance_context: %s", what, r.Text)
	}
	return a
}

// executionArgs is a seller's execution check.
func (f *execFixture) executionArgs(token, phase string, planned, metrics map[string]any) map[string]any {
	args := map[string]any{"adcp_version": execVersion, "caller": govtest.SellerURL, "governance_context": token}
	if phase != "" {
		args["phase"] = phase
	}
	if planned != nil {
		args["planned_delivery"] = planned
	}
	if metrics != nil {
		args["delivery_metrics"] = metrics
	}
	return args
}

// planned is a planned delivery inside the plan.
func (f *execFixture) planned(mediaBuyID string, total float64) map[string]any {
	pd := map[string]any{"geo": map[string]any{"countries": []any{"US"}}, "channels": []any{"display"},
		"start_time": f.start.Add(24 * time.Hour).Format(time.RFC3339), "end_time": f.end.Add(-24 * time.Hour).Format(time.RFC3339),
		"total_budget": total, "currency": "USD"}
	if mediaBuyID != "" {
		pd["media_buy_id"] = mediaBuyID
	}
	return pd
}

// execStatement returns delivery metrics with their correct statement
// digest for the media buy.
func execStatement(t *testing.T, mediaBuyID, id string, seq int, cumulative float64, periodStart time.Time) map[string]any {
	t.Helper()
	m := map[string]any{"statement_id": id, "sequence": seq, "issued_at": periodStart.Add(7 * 24 * time.Hour).Format(time.RFC3339),
		"reporting_period": map[string]any{"start": periodStart.Format(time.RFC3339), "end": periodStart.Add(7 * 24 * time.Hour).Format(time.RFC3339)},
		"spend":            cumulative, "cumulative_spend": cumulative, "currency": "USD", "impressions": int(cumulative * 100), "pacing": "on_track"}
	return execDigest(t, mediaBuyID, m)
}

// execDigest sets a statement's digest from its content.
func execDigest(t *testing.T, mediaBuyID string, m map[string]any) map[string]any {
	t.Helper()
	delete(m, "statement_digest")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := govtoken.StatementDigest(mediaBuyID, b)
	if err != nil {
		t.Fatal(err)
	}
	m["statement_digest"] = d
	return m
}

// execJWKS fetches an account's JWKS over HTTP from its well-known endpoint.
func execJWKS(t *testing.T, e *govtest.Env, account string) *govtoken.JWKS {
	t.Helper()
	b := execGet(t, e.Server.URL+"/adcp/"+account+"/.well-known/jwks.json")
	set, err := govtoken.ParseJWKS(b)
	if err != nil {
		t.Fatalf("JWKS of %s: %v\n%s", account, err, b)
	}
	return set
}

// execRevocations fetches an account's revocation list over HTTP and
// verifies its signature against the account's JWKS.
func execRevocations(t *testing.T, e *govtest.Env, account string) *govtoken.RevocationList {
	t.Helper()
	b := execGet(t, e.Server.URL+"/adcp/"+account+"/.well-known/governance-revocations.json")
	list, err := govtoken.ParseRevocationList(b, execJWKS(t, e, account))
	if err != nil {
		t.Fatalf("revocation list of %s: %v\n%s", account, err, b)
	}
	return list
}

func execGet(t *testing.T, url string) []byte {
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
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	return b
}

// issuer is the fixture account's governance agent URL.
func (f *execFixture) issuer() string { return f.e.Server.URL + "/adcp/" + f.account }

// verify runs the seller checklist on a token as the seller does: keys
// from the published JWKS, the published revocation list, at the agent's
// clock.
func (f *execFixture) verify(t *testing.T, token string, opts govtoken.VerifyOptions) (govtoken.Claims, error) {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = execJWKS(t, f.e, f.account)
	}
	if opts.Issuers == nil {
		opts.Issuers = []string{f.issuer()}
	}
	if opts.Audience == "" {
		opts.Audience = govtest.SellerURL
	}
	if opts.Revocations == nil {
		opts.Revocations = execRevocations(t, f.e, f.account)
	}
	if opts.Now.IsZero() {
		opts.Now = f.e.Clock.Now()
	}
	return govtoken.Verify(context.Background(), token, opts)
}

// execState counts what the agent has written for an account.
type execState struct {
	audit, checks, actions, outcomes, statements int
	settled                                      int
}

// execStateOf counts the account's audit records, checks, actions, outcomes and
// delivery statements.
func execStateOf(t *testing.T, e *govtest.Env, account string) execState {
	t.Helper()
	ctx := context.Background()
	recs, err := e.Store.ListAudit(ctx, store.AuditFilter{Partition: account})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := e.Store.ListChecks(ctx, store.CheckFilter{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := e.Store.ListActions(ctx, store.ActionFilter{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	s := execState{audit: len(recs), checks: len(checks), actions: len(acts)}
	plans := map[string]bool{}
	for _, a := range acts {
		plans[a.PlanID] = true
		st, err := e.Store.ListDeliveryStatements(ctx, account, a.Sub)
		if err != nil {
			t.Fatal(err)
		}
		s.statements += len(st)
		if a.Settlement != "" {
			s.settled++
		}
	}
	for _, c := range checks {
		plans[c.PlanID] = true
	}
	for p := range plans {
		outs, err := e.Store.ListOutcomes(ctx, account, p)
		if err != nil {
			t.Fatal(err)
		}
		s.outcomes += len(outs)
	}
	return s
}

// execTamper rewrites a token's claims without re-signing it.
func execTamper(t *testing.T, token, old, repl string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", token)
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(claims), old) {
		t.Fatalf("token claims %s do not contain %s", claims, old)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), old, repl, 1)))
	return strings.Join(parts, ".")
}

// execClaims decodes a token without verifying it.
func execClaims(t *testing.T, token string) *govtoken.Token {
	t.Helper()
	tok, err := govtoken.Parse(token)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", token, err)
	}
	return tok
}

// execWantError checks that a task failed with an AdCP error code.
func execWantError(t *testing.T, what string, r govtest.Result, code string) {
	t.Helper()
	if !r.IsError {
		t.Fatalf("%s succeeded, want %s: %s", what, code, r.Text)
	}
	if got, _ := r.Error(); got != code {
		t.Fatalf("%s failed with %s, want %s: %s", what, got, code, r.Text)
	}
}

// TestIntentToken checks the token of an intent approval as a seller does:
// against the JWKS fetched from the account's well-known endpoint, with the
// seller's full checklist, and claim by claim.
func TestIntentToken(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a := f.approve(t, 40000)
	tok := execClaims(t, a.Token)

	h := tok.Header
	if h.Typ != govtoken.TypeToken || h.Alg != govtoken.AlgEdDSA || h.KID == "" {
		t.Errorf("header typ=%q alg=%q kid=%q, want typ %s, alg EdDSA and a kid", h.Typ, h.Alg, h.KID, govtoken.TypeToken)
	}
	wantCrit := []string{"authorized_commitment", "authorized_task", "authorized_payload_hash"}
	if !slices.Equal(h.Crit, wantCrit) {
		t.Errorf("header crit = %v, want %v", h.Crit, wantCrit)
	}
	for _, c := range wantCrit {
		if !h.Markers[c] {
			t.Errorf("header marker %s = %v, want true", c, h.Markers[c])
		}
	}
	if _, ok := execJWKS(t, f.e, f.account).Lookup(h.KID); !ok {
		t.Errorf("kid %s is not in the published JWKS", h.KID)
	}

	// The seller verifies the token against the create_media_buy it
	// receives: the approved payload, carrying the token and the buyer's
	// context, which the payload hash leaves out.
	received := f.payload(40000)
	received["governance_context"] = a.Token
	received["context"] = map[string]any{"correlation_id": "buy-1"}
	payload, err := json.Marshal(received)
	if err != nil {
		t.Fatal(err)
	}
	// It fetches the keys and the revocation list as a seller does, from
	// the issuer's well-known URLs.
	fetcher := &govtoken.Fetcher{AllowInsecure: true} // loopback http
	keys := &govtoken.JWKSCache{Source: f.issuer() + "/.well-known/jwks.json", Fetcher: fetcher, Now: f.e.Clock.Now}
	set, err := keys.KeySet(context.Background(), f.issuer(), false)
	if err != nil {
		t.Fatalf("fetch JWKS: %v", err)
	}
	revocations, err := fetcher.LoadRevocationList(context.Background(), f.issuer()+"/.well-known/governance-revocations.json", set)
	if err != nil {
		t.Fatalf("fetch revocation list: %v", err)
	}
	c, err := f.verify(t, a.Token, govtoken.VerifyOptions{Keys: keys, Revocations: revocations, Caller: govtest.BuyerURL, Phase: govtoken.PhaseIntent,
		Task: "create_media_buy", Payload: payload, Commitment: &govtoken.Commitment{Amount: 40000, Currency: "USD"}})
	if err != nil {
		t.Fatalf("Verify(intent token) = %v, want it accepted", err)
	}

	planHash, err := govtoken.PlanHash(f.plan)
	if err != nil {
		t.Fatal(err)
	}
	approved, err := json.Marshal(f.payload(40000))
	if err != nil {
		t.Fatal(err)
	}
	payloadHash, err := govtoken.PayloadHash(approved)
	if err != nil {
		t.Fatal(err)
	}
	expires, err := time.Parse(time.RFC3339, a.Body["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	now := f.e.Clock.Now()
	for _, tc := range []struct {
		claim     string
		got, want any
	}{
		{"iss", c.Issuer, f.e.Server.URL + "/adcp/adsales"},
		{"aud", c.Audience, govtest.SellerURL},
		{"caller", c.Caller, govtest.BuyerURL},
		{"phase", c.Phase, govtoken.PhaseIntent},
		{"check_id", c.CheckID, a.CheckID},
		{"plan_hash", c.PlanHash, planHash},
		{"authorized_task", c.AuthorizedTask, "create_media_buy"},
		{"authorized_payload_hash", c.AuthorizedPayloadHash, payloadHash},
		{"authorized_commitment", fmt.Sprint(c.AuthorizedCommitment), fmt.Sprint(&govtoken.Commitment{Amount: 40000, Currency: "USD"})},
		{"media_buy_id", c.MediaBuyID, ""},
		{"iat", c.IssuedAt.Unix(), now.Unix()},
		{"exp", c.ExpiresAt.Unix(), now.Add(15 * time.Minute).Unix()},
		{"exp = expires_at", c.ExpiresAt.Unix(), expires.Unix()},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("claim %s = %v, want %v", tc.claim, tc.got, tc.want)
		}
	}
	if c.Subject == "" || c.JTI == "" || c.PolicyDecisionHash == "" && len(c.PolicyDecisions) == 0 {
		t.Errorf("claims sub=%q jti=%q and no policy decision evidence, want all present", c.Subject, c.JTI)
	}

	// What the token binds, a seller checks: another seller, another
	// payload, a larger commitment, or a later time are each refused.
	other := f.payload(45000)
	otherPayload, _ := json.Marshal(other)
	for _, tc := range []struct {
		name string
		opts govtoken.VerifyOptions
		want govtoken.Code
	}{
		{"another seller", govtoken.VerifyOptions{Audience: govtest.Seller2URL}, govtoken.CodeTokenNotApplicable},
		{"another payload", govtoken.VerifyOptions{Task: "create_media_buy", Payload: otherPayload}, govtoken.CodeTokenNotApplicable},
		{"another task", govtoken.VerifyOptions{Task: "update_media_buy", Payload: payload}, govtoken.CodeTokenNotApplicable},
		{"larger commitment", govtoken.VerifyOptions{Commitment: &govtoken.Commitment{Amount: 40001, Currency: "USD"}}, govtoken.CodeTokenNotApplicable},
		{"another currency", govtoken.VerifyOptions{Commitment: &govtoken.Commitment{Amount: 100, Currency: "EUR"}}, govtoken.CodeTokenNotApplicable},
		{"another issuer trusted", govtoken.VerifyOptions{Issuers: []string{f.e.Server.URL + "/adcp/adlab"}}, govtoken.CodeIssuerNotAuthorized},
		{"a purchase gate", govtoken.VerifyOptions{Phase: govtoken.PhasePurchase}, govtoken.CodeTokenNotApplicable},
		{"after exp", govtoken.VerifyOptions{Now: now.Add(15*time.Minute + 2*time.Minute)}, govtoken.CodeTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verify(t, a.Token, tc.opts)
			if got := govtoken.CodeOf(err); got != tc.want {
				t.Errorf("Verify(intent token, %s) = %v, want %s", tc.name, err, tc.want)
			}
		})
	}
}

// TestExecutionPhases runs a seller's execution checks through an action's
// life: the phase comes from the request's shape (planned delivery alone
// is a purchase; delivery metrics make a delivery check) or its phase, and
// every approval is a fresh token for the seller.
func TestExecutionPhases(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	intent := f.approve(t, 40000)
	sub := execClaims(t, intent.Token).Claims.Subject
	const mb = "mb_streamhaus_0001"

	cases := []struct {
		name      string
		phase     string // sent
		planned   map[string]any
		metrics   map[string]any
		wantPhase govtoken.Phase
		wantMB    string
	}{
		{"purchase inferred from planned_delivery", "", f.planned("", 40000), nil, govtoken.PhasePurchase, ""},
		{"modification", "modification", f.planned(mb, 40000), nil, govtoken.PhaseModification, mb},
		{"delivery inferred from delivery_metrics", "", f.planned(mb, 40000), execStatement(t, mb, "st_0001", 1, 6000, f.start), govtoken.PhaseDelivery, mb},
		{"next delivery statement", "delivery", f.planned(mb, 40000), execStatement(t, mb, "st_0002", 2, 9000, f.start.Add(7*24*time.Hour)), govtoken.PhaseDelivery, mb},
	}
	token := intent.Token
	for _, tc := range cases {
		// Sequential: each phase follows the one before.
		r := f.seller.Call("check_governance", f.executionArgs(token, tc.phase, tc.planned, tc.metrics))
		a := execApproved(t, tc.name, r)
		if r.Body["check_type"] != "execution" {
			t.Errorf("%s: check_type = %v, want execution", tc.name, r.Body["check_type"])
		}
		c, err := f.verify(t, a.Token, govtoken.VerifyOptions{Caller: govtest.SellerURL, Phase: tc.wantPhase, Subject: sub, MediaBuyID: tc.wantMB})
		if err != nil {
			t.Fatalf("%s: Verify(execution token) = %v", tc.name, err)
		}
		if c.Phase != tc.wantPhase || c.MediaBuyID != tc.wantMB || c.Audience != govtest.SellerURL || c.CheckID != a.CheckID {
			t.Errorf("%s: token phase=%s media_buy_id=%q aud=%s check_id=%s, want %s, %q, %s, %s",
				tc.name, c.Phase, c.MediaBuyID, c.Audience, c.CheckID, tc.wantPhase, tc.wantMB, govtest.SellerURL, a.CheckID)
		}
		if c.ExpiresAt.Sub(c.IssuedAt) != 30*24*time.Hour {
			t.Errorf("%s: token lives %v, want the 30 days of an execution phase", tc.name, c.ExpiresAt.Sub(c.IssuedAt))
		}
		if c.AuthorizedCommitment == nil || c.AuthorizedCommitment.Amount != 40000 || c.AuthorizedCommitment.Currency != "USD" {
			t.Errorf("%s: authorized_commitment = %v, want 40000 USD", tc.name, c.AuthorizedCommitment)
		}
		stored, err := f.e.Store.GetCheck(context.Background(), f.account, a.CheckID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Phase != string(tc.wantPhase) || stored.Type != "execution" || stored.Sub != sub || stored.Verdict != "approved" {
			t.Errorf("%s: stored check phase=%s type=%s sub=%s verdict=%s, want %s, execution, %s, approved",
				tc.name, stored.Phase, stored.Type, stored.Sub, stored.Verdict, tc.wantPhase, sub)
		}
		if tc.metrics != nil {
			ds, _ := r.Body["delivery_statement"].(map[string]any)
			if ds["statement_id"] != tc.metrics["statement_id"] || ds["statement_digest"] != tc.metrics["statement_digest"] || ds["seller_reference"] != mb {
				t.Errorf("%s: delivery_statement = %v, want statement %v with digest %v about %s", tc.name, ds, tc.metrics["statement_id"], tc.metrics["statement_digest"], mb)
			}
		}
		if tc.wantPhase == govtoken.PhasePurchase && r.Body["next_check"] == nil {
			t.Errorf("%s: no next_check on a purchase approval", tc.name)
		}
		token = a.Token // the seller keeps the newest token
	}
	stmts, err := f.e.Store.ListDeliveryStatements(context.Background(), f.account, sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 {
		t.Errorf("%d delivery statements stored, want 2", len(stmts))
	}
	act, err := f.e.Store.GetAction(context.Background(), f.account, sub)
	if err != nil {
		t.Fatal(err)
	}
	if act.MediaBuyID != mb || act.Committed != 0 || act.Authorized != 40000 {
		t.Errorf("action media_buy_id=%q committed=%v authorized=%v, want %s, 0 (checks commit nothing), 40000", act.MediaBuyID, act.Committed, act.Authorized, mb)
	}
}

// TestExecutionDenied checks that execution checks are binary: a planned
// delivery outside the approval or the plan is denied with findings and no
// token, and the action is left as it was.
func TestExecutionDenied(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	intent := f.approve(t, 40000)
	over := f.planned("", 45000)
	abroad := f.planned("", 40000)
	abroad["geo"] = map[string]any{"countries": []any{"DE"}}
	audio := f.planned("", 40000)
	audio["channels"] = []any{"podcast"}
	late := f.planned("", 40000)
	late["end_time"] = f.end.Add(24 * time.Hour).Format(time.RFC3339)
	euros := f.planned("", 40000)
	euros["currency"] = "EUR"
	overspent := execStatement(t, "mb_1", "st_1", 1, 41000, f.start)
	for _, tc := range []struct {
		name     string
		planned  map[string]any
		metrics  map[string]any
		category string
	}{
		{"above the approved amount", over, nil, "budget_authority"},
		{"outside the plan's countries", abroad, nil, "geo_compliance"},
		{"a channel the plan does not allow", audio, nil, "channel_compliance"},
		{"after the flight", late, nil, "flight_compliance"},
		{"another currency", euros, nil, "budget_authority"},
		{"spend above the approval", f.planned("mb_1", 40000), overspent, "budget_authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.seller.Call("check_governance", f.executionArgs(intent.Token, "", tc.planned, tc.metrics))
			if r.IsError || r.Body["verdict"] != "denied" {
				t.Fatalf("execution check %s = %s, want denied", tc.name, r.Text)
			}
			if _, ok := r.Body["governance_context"]; ok {
				t.Errorf("a denied execution check carries a governance_context")
			}
			fs, _ := r.Body["findings"].([]any)
			found := false
			for _, x := range fs {
				if m, _ := x.(map[string]any); m["category_id"] == tc.category && m["severity"] == "critical" {
					found = true
				}
			}
			if !found {
				t.Errorf("findings %v, want a critical %s finding", fs, tc.category)
			}
		})
	}
	act, err := f.e.Store.GetAction(context.Background(), f.account, execClaims(t, intent.Token).Claims.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if act.Authorized != 40000 || act.MediaBuyID != "" || act.Settlement != "" {
		t.Errorf("after denials the action is authorized=%v media_buy_id=%q settlement=%q, want 40000, none, none", act.Authorized, act.MediaBuyID, act.Settlement)
	}
}

// execSandboxApproval syncs a plan on the sandbox account and returns an
// approval of its agent for the production account's seller.
func execSandboxApproval(t *testing.T, f *execFixture) (*govtest.Session, execApproval) {
	t.Helper()
	lab := f.e.Connect(t, govtest.Sandbox, govtest.Sandbox)
	plan := execPlanDoc(f.planID, f.start, f.end) // the same plan_id in another account
	if r := lab.Call("sync_plans", map[string]any{"adcp_version": execVersion, "idempotency_key": f.key("lab-sync"), "plans": []any{plan}}); r.IsError {
		t.Fatalf("sandbox sync_plans: %s", r.Text)
	}
	return lab, execApproved(t, "sandbox intent check", lab.Call("check_governance", f.intentArgs(40000)))
}

// TestExecutionRefused sends execution checks a seller must not get
// approved: each is refused with the protocol's error, and nothing is
// written: no check, no audit record, no statement, in either account.
func TestExecutionRefused(t *testing.T) {
	t.Parallel()
	const mb = "mb_streamhaus_0001"
	cases := []struct {
		name string
		// setup runs before the state is counted; it returns the session
		// and the arguments of the refused call.
		setup func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any)
		code  string
	}{
		{"tampered token", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			forged := execTamper(t, a.Token, `"amount":40000`, `"amount":90000`)
			return f.seller, f.executionArgs(forged, "", f.planned("", 90000), nil)
		}, "PERMISSION_DENIED"},
		{"token with a forged signature", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			b := f.approve(t, 40000)
			parts, other := strings.Split(a.Token, "."), strings.Split(b.Token, ".")
			return f.seller, f.executionArgs(parts[0]+"."+parts[1]+"."+other[2], "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"expired intent token", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			f.e.Clock.Advance(govtoken.MaxIntentLifetime + 2*time.Minute)
			return f.seller, f.executionArgs(a.Token, "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"expired execution token", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			p := execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), nil)))
			f.e.Clock.Advance(31 * 24 * time.Hour)
			return f.seller, f.executionArgs(p.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 1, 100, f.start))
		}, "PERMISSION_DENIED"},
		{"sandbox account's token on the production account", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			_, a := execSandboxApproval(t, f)
			return f.seller, f.executionArgs(a.Token, "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"production account's token on the sandbox account", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			lab, _ := execSandboxApproval(t, f)
			a := f.approve(t, 40000)
			return lab, f.executionArgs(a.Token, "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"revoked token", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			jti := execClaims(t, a.Token).Claims.JTI
			if status, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/tokens/"+jti+"/revoke", govtest.Production, nil, nil); status != http.StatusOK {
				t.Fatalf("revoke %s = %d %s", jti, status, body)
			}
			return f.seller, f.executionArgs(a.Token, "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"not a token", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			f.approve(t, 40000)
			return f.seller, f.executionArgs("gov_ctx_acme_q2_escalated", "", f.planned("", 40000), nil)
		}, "PERMISSION_DENIED"},
		{"statement_id reused for other content", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			execApproved(t, "first statement", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 1, 5000, f.start))))
			return f.seller, f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 2, 2500, f.start))
		}, "CONFLICT"},
		{"sequence not above the last", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			execApproved(t, "first statement", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 2, 5000, f.start))))
			return f.seller, f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_2", 2, 7000, f.start.Add(7*24*time.Hour)))
		}, "CONFLICT"},
		{"sequence going back", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			execApproved(t, "first statement", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 2, 5000, f.start))))
			return f.seller, f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_2", 1, 7000, f.start.Add(7*24*time.Hour)))
		}, "CONFLICT"},
		{"statement digest of other content", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			m := execStatement(t, mb, "st_1", 1, 5000, f.start)
			m["cumulative_spend"] = 500 // after the digest was computed
			return f.seller, f.executionArgs(a.Token, "", f.planned(mb, 40000), m)
		}, "VALIDATION_ERROR"},
		{"statement digest of another media buy", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			return f.seller, f.executionArgs(a.Token, "", f.planned(mb, 40000), execStatement(t, "mb_other", "st_1", 1, 5000, f.start))
		}, "VALIDATION_ERROR"},
		{"plan_id other than the token's", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			args := f.executionArgs(a.Token, "", f.planned("", 40000), nil)
			args["plan_id"] = "plan_someone_else"
			return f.seller, args
		}, "VALIDATION_ERROR"},
		{"modification naming no media buy (AdCP 3.1)", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := execApproved(t, "3.1 intent", f.buyer.Call("check_governance", execV31(f.intentArgs(40000), "")))
			return f.seller, execV31(f.executionArgs(a.Token, "modification", f.planned("", 40000), nil), f.planID)
		}, "VALIDATION_ERROR"},
		{"unknown plan", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			args := f.intentArgs(40000)
			args["plan_id"] = "plan_no_such_plan"
			return f.buyer, args
		}, "PLAN_NOT_FOUND"},
		{"intent and execution shapes mixed", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			args := f.intentArgs(40000)
			args["governance_context"], args["planned_delivery"] = a.Token, f.planned("", 40000)
			return f.buyer, args
		}, "INVALID_REQUEST"},
		{"execution check without governance_context", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			f.approve(t, 40000)
			args := f.executionArgs("", "", f.planned("", 40000), nil)
			delete(args, "governance_context")
			args["plan_id"] = f.planID
			return f.seller, args
		}, "INVALID_REQUEST"},
	}
	fields := map[string]string{ // the field a refusal names, where it names one
		"statement_id reused for other content":       "delivery_metrics.statement_id",
		"sequence not above the last":                 "delivery_metrics.sequence",
		"sequence going back":                         "delivery_metrics.sequence",
		"statement digest of other content":           "delivery_metrics.statement_digest",
		"statement digest of another media buy":       "delivery_metrics.statement_digest",
		"plan_id other than the token's":              "plan_id",
		"execution check without governance_context":  "governance_context",
		"modification naming no media buy (AdCP 3.1)": "planned_delivery.media_buy_id",
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := execStart(t)
			s, args := tc.setup(t, f)
			prod, lab := execStateOf(t, f.e, govtest.Production), execStateOf(t, f.e, govtest.Sandbox)
			r := s.Call("check_governance", args)
			execWantError(t, tc.name, r, tc.code)
			if _, field := r.Error(); fields[tc.name] != "" && field != fields[tc.name] {
				t.Errorf("%s: error names field %q, want %q", tc.name, field, fields[tc.name])
			}
			if got := execStateOf(t, f.e, govtest.Production); got != prod {
				t.Errorf("refused check wrote to the production account: %+v, before %+v", got, prod)
			}
			if got := execStateOf(t, f.e, govtest.Sandbox); got != lab {
				t.Errorf("refused check wrote to the sandbox account: %+v, before %+v", got, lab)
			}
		})
	}
}

// TestDeliveryStatementResent checks that a seller resending the same
// statement (a retry) is answered again but recorded once.
func TestDeliveryStatementResent(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	const mb = "mb_streamhaus_0001"
	a := f.approve(t, 40000)
	m := execStatement(t, mb, "st_1", 1, 5000, f.start)
	first := execApproved(t, "statement", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), m)))
	again := execApproved(t, "same statement again", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), m)))
	if first.Body["delivery_statement"].(map[string]any)["statement_digest"] != again.Body["delivery_statement"].(map[string]any)["statement_digest"] {
		t.Errorf("the resent statement is answered with another digest: %v, then %v", first.Body["delivery_statement"], again.Body["delivery_statement"])
	}
	stmts, err := f.e.Store.ListDeliveryStatements(context.Background(), f.account, execClaims(t, a.Token).Claims.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 1 || stmts[0].Spend != 5000 || stmts[0].Sequence != 1 {
		t.Errorf("statements after a resend = %+v, want the one statement of 5000 at sequence 1", stmts)
	}
}

// TestRevocation revokes one token through the API: the signed revocation
// list names it, a seller's checklist refuses it, the agent refuses
// execution checks with it, and another token of the same key still works.
func TestRevocation(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	revoked, kept := f.approve(t, 40000), f.approve(t, 30000)
	jti := execClaims(t, revoked.Token).Claims.JTI

	if list := execRevocations(t, f.e, f.account); len(list.RevokedJTIs) != 0 {
		t.Fatalf("revocation list before any revocation = %v, want empty", list.RevokedJTIs)
	}
	// A buyer's AdCP credential does not administer the account.
	if status, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/tokens/"+jti+"/revoke", "buyer", nil, nil); status != http.StatusForbidden {
		t.Errorf("revoke as the buyer = %d %s, want 403", status, body)
	}
	var out struct {
		JTI     string `json:"jti"`
		Revoked bool   `json:"revoked"`
	}
	if status, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/tokens/"+jti+"/revoke", govtest.Production, nil, &out); status != http.StatusOK || out.JTI != jti || !out.Revoked {
		t.Fatalf("revoke %s = %d %s", jti, status, body)
	}

	list := execRevocations(t, f.e, f.account)
	if !slices.Equal(list.RevokedJTIs, []string{jti}) || list.Issuer != f.issuer() || list.Stale(f.e.Clock.Now(), 0) {
		t.Errorf("revocation list = %+v, want a fresh list of %s naming %s", list, f.issuer(), jti)
	}
	if _, err := f.verify(t, revoked.Token, govtoken.VerifyOptions{Revocations: list}); govtoken.CodeOf(err) != govtoken.CodeTokenRevoked {
		t.Errorf("Verify(revoked token) = %v, want %s", err, govtoken.CodeTokenRevoked)
	}
	if _, err := f.verify(t, kept.Token, govtoken.VerifyOptions{Revocations: list}); err != nil {
		t.Errorf("Verify(another token) = %v, want it accepted", err)
	}

	before := execStateOf(t, f.e, f.account)
	execWantError(t, "execution check with a revoked token", f.seller.Call("check_governance", f.executionArgs(revoked.Token, "", f.planned("", 40000), nil)), "PERMISSION_DENIED")
	if got := execStateOf(t, f.e, f.account); got != before {
		t.Errorf("refused check wrote: %+v, before %+v", got, before)
	}
	execApproved(t, "execution check with another token", f.seller.Call("check_governance", f.executionArgs(kept.Token, "", f.planned("", 30000), nil)))
}

// TestKeyRotation rotates the production account's signing key through the
// API: new tokens carry the new kid, the JWKS publishes both keys, and
// tokens of the old key keep verifying until they expire.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	const mb = "mb_streamhaus_0001"
	old := f.approve(t, 40000)
	oldKID := execClaims(t, old.Token).Header.KID
	purchase := execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(old.Token, "", f.planned(mb, 40000), nil)))
	if kid := execClaims(t, purchase.Token).Header.KID; kid != oldKID {
		t.Fatalf("purchase token kid %s, want %s before the rotation", kid, oldKID)
	}

	if status, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/keys/rotate", govtest.Production, nil, nil); status != http.StatusForbidden {
		t.Errorf("rotate as the tenant = %d %s, want 403: rotation is the platform's", status, body)
	}
	var rot struct {
		KID     string `json:"kid"`
		JWKSURI string `json:"jwks_uri"`
	}
	if status, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/keys/rotate", "platform", nil, &rot); status != http.StatusOK {
		t.Fatalf("rotate = %d %s", status, body)
	}
	if rot.KID == "" || rot.KID == oldKID || rot.JWKSURI != f.issuer()+"/.well-known/jwks.json" {
		t.Fatalf("rotate answered kid %q and jwks_uri %q, want a new kid and %s", rot.KID, rot.JWKSURI, f.issuer()+"/.well-known/jwks.json")
	}

	set := execJWKS(t, f.e, f.account)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	want := []string{oldKID, rot.KID}
	slices.Sort(want)
	if !slices.Equal(kids, want) {
		t.Errorf("JWKS after rotation lists %v, want %v", kids, want)
	}

	fresh := f.approve(t, 30000)
	if kid := execClaims(t, fresh.Token).Header.KID; kid != rot.KID {
		t.Errorf("new token kid %s, want the new key %s", kid, rot.KID)
	}
	for name, tok := range map[string]string{"old intent token": old.Token, "old purchase token": purchase.Token, "new token": fresh.Token} {
		if _, err := f.verify(t, tok, govtoken.VerifyOptions{}); err != nil {
			t.Errorf("Verify(%s) after rotation = %v, want accepted", name, err)
		}
	}
	// The agent accepts the old key's token, and answers with the new key.
	mod := execApproved(t, "modification with the old key's token", f.seller.Call("check_governance", f.executionArgs(purchase.Token, "modification", f.planned(mb, 40000), nil)))
	if kid := execClaims(t, mod.Token).Header.KID; kid != rot.KID {
		t.Errorf("modification token kid %s, want the new key %s", kid, rot.KID)
	}

	// The old intent token expires on its own schedule...
	f.e.Clock.Advance(govtoken.MaxIntentLifetime + 2*time.Minute)
	if _, err := f.verify(t, old.Token, govtoken.VerifyOptions{}); govtoken.CodeOf(err) != govtoken.CodeTokenExpired {
		t.Errorf("Verify(old intent token) after 17 minutes = %v, want %s", err, govtoken.CodeTokenExpired)
	}
	// ...while the old purchase token lives its 30 days, with its key.
	f.e.Clock.Advance(29 * 24 * time.Hour)
	if _, err := f.verify(t, purchase.Token, govtoken.VerifyOptions{}); err != nil {
		t.Errorf("Verify(old purchase token) after 29 days = %v, want accepted", err)
	}
	execApproved(t, "delivery with the old key's purchase token", f.seller.Call("check_governance",
		f.executionArgs(purchase.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 1, 20000, f.start))))
	// Once every token of the old key has expired, the key leaves the JWKS.
	f.e.Clock.Advance(2 * 24 * time.Hour)
	if _, err := f.verify(t, purchase.Token, govtoken.VerifyOptions{}); err == nil {
		t.Errorf("Verify(old purchase token) after 31 days accepted it")
	}
	set = execJWKS(t, f.e, f.account)
	if _, ok := set.Lookup(oldKID); ok {
		t.Errorf("JWKS 31 days after the rotation still lists the old key %s", oldKID)
	}
	if _, ok := set.Lookup(rot.KID); !ok {
		t.Errorf("JWKS lost the signing key %s", rot.KID)
	}
}

// execV31 turns a 3.2 request into the account's default AdCP 3.1: no
// adcp_version, no target_agent, and plan_id on every check.
func execV31(args map[string]any, planID string) map[string]any {
	delete(args, "adcp_version")
	delete(args, "target_agent")
	if planID != "" {
		args["plan_id"] = planID
	}
	return args
}

// TestExecutionDefaultVersion runs the seller's execution checks in the
// production account's default wire version, AdCP 3.1: the intent names no
// seller, so its token is bound to none; the executing seller's tokens are
// bound to it, phase by phase.
func TestExecutionDefaultVersion(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	const mb = "mb_streamhaus_0001"
	intent := execApproved(t, "3.1 intent", f.buyer.Call("check_governance", execV31(f.intentArgs(40000), "")))
	if _, ok := intent.Body["check_type"]; ok {
		t.Errorf("a 3.1 answer carries check_type: %v", intent.Body)
	}
	if aud := execClaims(t, intent.Token).Claims.Audience; aud != governance.UnboundAudience {
		t.Errorf("3.1 intent token aud = %s, want %s", aud, governance.UnboundAudience)
	}
	metrics := map[string]any{"reporting_period": map[string]any{"start": f.start.Format(time.RFC3339), "end": f.start.Add(7 * 24 * time.Hour).Format(time.RFC3339)},
		"spend": 5000, "cumulative_spend": 5000, "pacing": "on_track"}
	token := intent.Token
	for _, tc := range []struct {
		phase   string
		planned map[string]any
		metrics map[string]any
		want    govtoken.Phase
		wantMB  string
	}{
		{"", f.planned(mb, 40000), nil, govtoken.PhasePurchase, mb},
		{"modification", f.planned(mb, 40000), nil, govtoken.PhaseModification, mb},
		{"delivery", f.planned(mb, 40000), metrics, govtoken.PhaseDelivery, mb},
	} {
		a := execApproved(t, string(tc.want), f.seller.Call("check_governance", execV31(f.executionArgs(token, tc.phase, tc.planned, tc.metrics), f.planID)))
		c, err := f.verify(t, a.Token, govtoken.VerifyOptions{Phase: tc.want, Caller: govtest.SellerURL, MediaBuyID: tc.wantMB})
		if err != nil {
			t.Errorf("%s: Verify(execution token) = %v", tc.want, err)
			continue
		}
		if c.MediaBuyID != tc.wantMB {
			t.Errorf("%s: token media_buy_id = %q, want %q", tc.want, c.MediaBuyID, tc.wantMB)
		}
		token = a.Token
	}
}
