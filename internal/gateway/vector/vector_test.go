package vector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/gateway/gatewaytest"
	"github.com/fleetgov/fleetgov/internal/gateway/vector"
	"github.com/fleetgov/fleetgov/internal/store"
)

// The example fleet's tenants: A owns the collections, B reaches for them.
const (
	tenantA = "research"
	agentA  = "research.market-synthesizer"
	tenantB = "support"
	agentB  = "support.support-advisor" // its spec queries kb-published-* collections only
	agentP  = "payments.refund-executor"
)

// paymentsClauses are tenant clauses added to the payments refund
// executor's spec: an escalation on dropping a collection and a warning on
// vector writes.
const paymentsClauses = "- (Tenant, T3) [payments.vector-drop-review] Dropping a vector collection needs a reviewer.\n" +
	"  `rule escalate: action.kind == \"vector_drop\"`\n" +
	"- (Tenant, T3) [payments.vector-write-watch] Vector writes are watched.\n" +
	"  `rule warn: action.kind == \"vector_upsert\"`\n"

type env struct {
	*gatewaytest.Env
	srv *httptest.Server
}

// backends runs fn on SQLite and, when FLEETGOV_TEST_POSTGRES is set, on
// PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, st func(testing.TB) store.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, gatewaytest.SQLite) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, gatewaytest.Postgres) })
}

func start(t *testing.T, st store.Store, opt vector.Options) *env {
	t.Helper()
	e := gatewaytest.Start(t, gatewaytest.Options{Store: st, Edit: func(tb testing.TB, dir string) {
		const anchor = "- (Tenant, T3) [payments.pii-redaction] Customer personal data is redacted from logs and traces before they are written.\n"
		gatewaytest.ReplaceInFile(tb, dir, "specs/payments/refund-executor.md", anchor, anchor+paymentsClauses)
	}})
	srv := httptest.NewServer(vector.New(e.Gateway, opt).Handler())
	t.Cleanup(srv.Close)
	return &env{Env: e, srv: srv}
}

// token returns the credential of a tenant ID or agent ID.
func (e *env) token(t *testing.T, who string) string {
	t.Helper()
	if k, ok := e.Agents[who]; ok {
		return k
	}
	if k, ok := e.Tenants[who]; ok {
		return k
	}
	t.Fatalf("no credential for %s", who)
	return ""
}

// answer is an HTTP answer.
type answer struct {
	status int
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// errorCode returns the answer's error code and field.
func (a answer) errorCode() (code, field string) {
	var b struct{ Code, Field string }
	_ = json.Unmarshal(a.body, &b)
	return b.Code, b.Field
}

// do sends a request as who (a tenant or agent ID, or "" for none) with a
// JSON body (a string is sent as is) and extra headers.
func (e *env) do(t *testing.T, who, method, path string, body any, hdr ...string) answer {
	t.Helper()
	var tok string
	if who != "" {
		tok = e.token(t, who)
	}
	status, b := gatewaytest.Do(t, method, e.srv.URL+vector.Prefix+path, tok, body, hdr...)
	return answer{status: status, body: b}
}

// must sends a request that must answer status.
func (e *env) must(t *testing.T, status int, who, method, path string, body any) answer {
	t.Helper()
	a := e.do(t, who, method, path, body)
	if a.status != status {
		t.Fatalf("%s %s as %s = %s, want %d", method, path, who, a, status)
	}
	return a
}

// audit returns a partition's records.
func (e *env) audit(t *testing.T, partition string) []store.AuditRecord {
	t.Helper()
	rs, err := e.Store.ListAudit(t.Context(), store.AuditFilter{Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// gatewayRecords returns the gateway's records of a partition.
func (e *env) gatewayRecords(t *testing.T, partition string) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	for _, r := range e.audit(t, partition) {
		if strings.HasPrefix(r.Action, "gateway.") || r.Action == "isolation.cross_tenant" {
			out = append(out, r)
		}
	}
	return out
}

func detail(t *testing.T, r store.AuditRecord) map[string]any {
	t.Helper()
	m := map[string]any{}
	if len(r.Detail) > 0 {
		if err := json.Unmarshal(r.Detail, &m); err != nil {
			t.Fatalf("record %d detail: %v", r.Seq, err)
		}
	}
	return m
}

func fired(t *testing.T, r store.AuditRecord) []string {
	t.Helper()
	var out []string
	if f, ok := detail(t, r)["fired"].([]any); ok {
		for _, c := range f {
			out = append(out, c.(string))
		}
	}
	return out
}

// seedA gives tenant A two collections with points whose metadata and text
// are A's secrets.
func seedA(t *testing.T, e *env) {
	t.Helper()
	e.must(t, http.StatusCreated, tenantA, "POST", "/collections", map[string]any{"name": "kb-published-faq", "dims": 3})
	e.must(t, http.StatusCreated, tenantA, "POST", "/collections", map[string]any{"name": "private-notes", "dims": 3, "metric": "dot"})
	for _, c := range []string{"kb-published-faq", "private-notes"} {
		e.must(t, http.StatusOK, agentA, "POST", "/collections/"+c+"/upsert", map[string]any{"points": []map[string]any{
			{"id": "a1", "vector": []float64{1, 0, 0}, "metadata": map[string]any{"secret": "research-secret-1", "lang": "en"}, "text": "research text one"},
			{"id": "a2", "vector": []float64{0, 1, 0}, "metadata": map[string]any{"secret": "research-secret-2", "lang": "de"}, "text": "research text two"},
		}})
	}
}

// stateOf returns what a tenant's collection holds, as its owner reads it.
func (e *env) stateOf(t *testing.T, who, coll string) string {
	t.Helper()
	d := e.must(t, http.StatusOK, who, "GET", "/collections/"+coll, nil)
	f := e.must(t, http.StatusOK, who, "POST", "/collections/"+coll+"/fetch", map[string]any{"ids": []string{"a1", "a2", "b1"}})
	var desc map[string]any
	_ = json.Unmarshal(d.body, &desc)
	return fmt.Sprintf("%v %v %s", desc["points"], desc["dims"], f.body)
}

func TestTenantA(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t), vector.Options{})
		seedA(t, e)
		a := e.must(t, http.StatusOK, agentA, "POST", "/collections/kb-published-faq/query",
			map[string]any{"vector": []float64{1, 0.1, 0}, "top_k": 5, "filter": map[string]any{"lang": "en"}, "include_vectors": true})
		var q struct {
			Metric  string
			Matches []struct {
				ID       string
				Score    float64
				Vector   []float32
				Metadata map[string]any
				Text     string
			}
		}
		if err := json.Unmarshal(a.body, &q); err != nil {
			t.Fatal(err)
		}
		if q.Metric != "cosine" || len(q.Matches) != 1 || q.Matches[0].ID != "a1" || q.Matches[0].Score < 0.99 ||
			!slices.Equal(q.Matches[0].Vector, []float32{1, 0, 0}) || q.Matches[0].Metadata["secret"] != "research-secret-1" || q.Matches[0].Text != "research text one" {
			t.Errorf("query = %s, want a1 alone with its vector, metadata and text", a.body)
		}
		list := e.must(t, http.StatusOK, tenantA, "GET", "/collections", nil)
		if !strings.Contains(string(list.body), `"kb-published-faq"`) || !strings.Contains(string(list.body), `"private-notes"`) {
			t.Errorf("list = %s, want both collections", list.body)
		}
		del := e.must(t, http.StatusOK, agentA, "POST", "/collections/private-notes/delete", map[string]any{"ids": []string{"a2", "zz"}})
		if !strings.Contains(string(del.body), `"deleted":1`) {
			t.Errorf("delete = %s, want 1 deleted", del.body)
		}
		e.must(t, http.StatusOK, tenantA, "DELETE", "/collections/private-notes", nil)
		e.must(t, http.StatusNotFound, tenantA, "GET", "/collections/private-notes", nil)

		// Every call left a record in A's partition, allowed, with no payload.
		recs := e.gatewayRecords(t, tenantA)
		want := []string{"create", "create", "upsert", "upsert", "query", "list", "delete", "drop", "describe"}
		if len(recs) != len(want) {
			t.Fatalf("A's partition holds %d gateway records, want %d", len(recs), len(want))
		}
		for i, r := range recs {
			wantOutcome := "allow"
			if i == len(want)-1 {
				wantOutcome = "refused" // the describe of the dropped collection
			}
			if r.Action != "gateway.vector."+want[i] || r.Outcome != wantOutcome || r.Resource != "vector-store" {
				t.Errorf("record %d = %s %s %s, want gateway.vector.%s %s vector-store", i, r.Action, r.Outcome, r.Resource, want[i], wantOutcome)
			}
			if strings.Contains(string(r.Detail), "secret") || strings.Contains(string(r.Detail), "research text") {
				t.Errorf("record %d detail %s carries a payload", i, r.Detail)
			}
		}
		if recs[2].Agent != agentA || recs[0].Agent != "" {
			t.Errorf("records name agents %q and %q, want %s for the agent key and none for the tenant token", recs[2].Agent, recs[0].Agent, agentA)
		}
	})
}

// TestCrossTenant takes tenant B's credentials, its tenant token and its
// agent key, against every vector route on tenant A's collections: each
// answer is the one a missing collection gets, A's collections do not
// change, and every attempt is recorded in B's partition.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t), vector.Options{})
		seedA(t, e)
		before := e.stateOf(t, tenantA, "kb-published-faq") + e.stateOf(t, tenantA, "private-notes")
		recsA := len(e.audit(t, tenantA))

		type attempt struct {
			method, path string
			body         any
		}
		attempts := func(coll string) []attempt {
			return []attempt{
				{"GET", "/collections/" + coll, nil},
				{"POST", "/collections/" + coll + "/query", map[string]any{"vector": []float64{1, 0, 0}}},
				{"POST", "/collections/" + coll + "/fetch", map[string]any{"ids": []string{"a1", "a2"}}},
				{"POST", "/collections/" + coll + "/upsert", map[string]any{"points": []map[string]any{{"id": "a1", "vector": []float64{0, 0, 1}}}}},
				{"POST", "/collections/" + coll + "/delete", map[string]any{"ids": []string{"a1"}}},
				{"DELETE", "/collections/" + coll, nil},
			}
		}
		for _, who := range []string{tenantB, agentB} {
			for _, coll := range []string{"kb-published-faq", "private-notes"} {
				missing := coll + "-zz" // held by no tenant
				for i, at := range attempts(coll) {
					n := len(e.audit(t, tenantB))
					got := e.do(t, who, at.method, at.path, at.body)
					miss := attempts(missing)[i]
					want := e.do(t, who, miss.method, miss.path, miss.body)
					if got.status == http.StatusOK || got.status == http.StatusCreated {
						t.Errorf("%s %s as %s = %s, want a refusal", at.method, at.path, who, got)
					}
					if got.status != want.status || string(got.body) != strings.ReplaceAll(string(want.body), missing, coll) {
						t.Errorf("%s %s as %s = %s; a missing collection gets %s", at.method, at.path, who, got, want)
					}
					if strings.Contains(string(got.body), "research") {
						t.Errorf("%s %s as %s = %s: names A", at.method, at.path, who, got)
					}
					recs := e.gatewayRecords(t, tenantB)
					if m := len(e.audit(t, tenantB)); m != n+2 {
						t.Fatalf("%s %s as %s: B's partition grew by %d records, want 2 (the attempt and its missing twin)", at.method, at.path, who, m-n)
					}
					if r := recs[len(recs)-2]; r.Outcome == "allow" || r.Object != coll {
						t.Errorf("%s %s as %s: recorded %s on %q, want a refusal on %q", at.method, at.path, who, r.Outcome, r.Object, coll)
					}
				}
			}
			// B lists only its own namespace, and may create a collection of
			// the same name there: A's does not collide, since it is not there.
			list := e.must(t, http.StatusOK, who, "GET", "/collections", nil)
			if strings.Contains(string(list.body), "kb-published-faq") || strings.Contains(string(list.body), "private-notes") {
				t.Errorf("B's list = %s, shows A's collections", list.body)
			}
		}
		e.must(t, http.StatusCreated, tenantB, "POST", "/collections", map[string]any{"name": "kb-published-faq", "dims": 2})
		e.must(t, http.StatusOK, agentB, "POST", "/collections/kb-published-faq/upsert",
			map[string]any{"points": []map[string]any{{"id": "a1", "vector": []float64{1, 1}, "metadata": map[string]any{"secret": "support"}}}})
		q := e.must(t, http.StatusOK, agentB, "POST", "/collections/kb-published-faq/query", map[string]any{"vector": []float64{1, 0}})
		if strings.Contains(string(q.body), "research") || !strings.Contains(string(q.body), `"secret":"support"`) {
			t.Errorf("B's query of its own collection = %s, want B's point only", q.body)
		}

		if after := e.stateOf(t, tenantA, "kb-published-faq") + e.stateOf(t, tenantA, "private-notes"); after != before {
			t.Errorf("A's collections changed under B's attempts:\n%s\nwant\n%s", after, before)
		}
		// A's partition holds only A's own records: its two state reads.
		if got := len(e.audit(t, tenantA)); got != recsA+4 {
			t.Errorf("A's partition grew by %d records, want the 4 of A's own reads", got-recsA)
		}
	})
}

// TestCrossTenantNamespace names A's namespace in every way a request can:
// refused as a cross-tenant attempt, with the same answer whatever tenant
// is named, recorded in B's partition and as a Cat 4 event at the platform
// tier.
func TestCrossTenantNamespace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t), vector.Options{})
		seedA(t, e)
		e.must(t, http.StatusCreated, tenantB, "POST", "/collections", map[string]any{"name": "kb-published-faq", "dims": 3})
		before := e.stateOf(t, tenantA, "kb-published-faq")
		q := map[string]any{"vector": []float64{1, 0, 0}}
		with := func(k, v string) map[string]any { return map[string]any{"vector": []float64{1, 0, 0}, k: v} }
		tests := []struct {
			name   string
			who    string
			method string
			path   string
			body   func(ns string) any
			hdr    func(ns string) []string
		}{
			{"body namespace", agentB, "POST", "/collections/kb-published-faq/query", func(ns string) any { return with("namespace", ns) }, nil},
			{"body tenant", tenantB, "POST", "/collections/kb-published-faq/query", func(ns string) any { return with("tenant", ns) }, nil},
			{"query parameter", agentB, "POST", "/collections/kb-published-faq/query?namespace=NS", func(string) any { return q }, nil},
			{"header", tenantB, "POST", "/collections/kb-published-faq/query", func(string) any { return q }, func(ns string) []string { return []string{"X-Tenant", ns} }},
			{"fleetgov header", agentB, "GET", "/collections", func(string) any { return nil }, func(ns string) []string { return []string{"X-Fleetgov-Namespace", ns} }},
			{"upsert", agentB, "POST", "/collections/kb-published-faq/upsert", func(ns string) any {
				return map[string]any{"namespace": ns, "points": []map[string]any{{"id": "a1", "vector": []float64{0, 0, 1}}}}
			}, nil},
			{"delete", tenantB, "POST", "/collections/kb-published-faq/delete", func(ns string) any { return map[string]any{"tenant": ns, "ids": []string{"a1"}} }, nil},
			{"create", agentB, "POST", "/collections", func(ns string) any { return map[string]any{"namespace": ns, "name": "x", "dims": 3} }, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				send := func(ns string) answer {
					var hdr []string
					if tc.hdr != nil {
						hdr = tc.hdr(ns)
					}
					return e.do(t, tc.who, tc.method, strings.Replace(tc.path, "NS", ns, 1), tc.body(ns), hdr...)
				}
				n := len(e.audit(t, store.PlatformPartition))
				got := send(tenantA)
				if code, _ := got.errorCode(); got.status != http.StatusForbidden || code != "cross_tenant" {
					t.Fatalf("naming %s = %s, want 403 cross_tenant", tenantA, got)
				}
				if other := send("no-such-tenant"); other.status != got.status || string(other.body) != string(got.body) {
					t.Errorf("naming a tenant that does not exist = %s, naming %s = %s: the answer tells them apart", other, tenantA, got)
				}
				if own := send(tenantB); own.status == http.StatusForbidden {
					t.Errorf("naming its own namespace = %s, want it accepted", own)
				}
				recs := e.gatewayRecords(t, tenantB)
				r := recs[len(recs)-3] // the attempt on A, then the two others
				if r.Outcome != "refused" || r.Resource != "vector-store" || detail(t, r)["contract"] != "vector-store" {
					t.Errorf("B's record of the attempt = %s %s %s, want refused on the vector-store row", r.Action, r.Outcome, r.Detail)
				}
				if tc.who == agentB && !slices.Contains(fired(t, r), "fleet.vector-namespace") {
					t.Errorf("B's record of the attempt fired %v, want fleet.vector-namespace", fired(t, r))
				}
				plat := e.audit(t, store.PlatformPartition)
				if len(plat) != n+2 {
					t.Fatalf("the platform partition grew by %d records, want 2 Cat 4 events", len(plat)-n)
				}
				ev := plat[n]
				d := detail(t, ev)
				if ev.Action != "isolation.cross_tenant" || ev.Resource != "vector-store" || ev.Outcome != "refused" ||
					d["cat"] != float64(4) || d["tenant"] != tenantB || !strings.Contains(ev.Actor, tenantB) {
					t.Errorf("Cat 4 event = %+v %s, want isolation.cross_tenant by %s", ev, ev.Detail, tenantB)
				}
			})
		}
		if after := e.stateOf(t, tenantA, "kb-published-faq"); after != before {
			t.Errorf("A's collection changed:\n%s\nwant\n%s", after, before)
		}
	})
}

// TestDecisions checks that the calling agent's clauses are enforced: deny
// and escalate refuse the call and change nothing, warn is recorded.
func TestDecisions(t *testing.T) {
	t.Parallel()
	e := start(t, gatewaytest.SQLite(t), vector.Options{})
	e.must(t, http.StatusCreated, tenantB, "POST", "/collections", map[string]any{"name": "runbooks", "dims": 2})
	e.must(t, http.StatusCreated, "payments", "POST", "/collections", map[string]any{"name": "claims", "dims": 2})
	tests := []struct {
		name      string
		who       string
		method    string
		path      string
		body      any
		status    int
		code      string
		outcome   string
		clause    string
		partition string
	}{
		{"deny: the support advisor queries published KB collections only", agentB, "POST", "/collections/runbooks/query",
			map[string]any{"vector": []float64{1, 0}}, http.StatusForbidden, "denied", "deny", "support.kb-published-only", tenantB},
		{"the tenant token is not an agent: no clause applies", tenantB, "POST", "/collections/runbooks/query",
			map[string]any{"vector": []float64{1, 0}}, http.StatusOK, "", "allow", "", tenantB},
		{"escalate: dropping a collection needs a reviewer", agentP, "DELETE", "/collections/claims", nil,
			http.StatusForbidden, "escalation_required", "escalate", "payments.vector-drop-review", "payments"},
		{"warn: recorded, allowed", agentP, "POST", "/collections/claims/upsert",
			map[string]any{"points": []map[string]any{{"id": "c1", "vector": []float64{1, 2}}}}, http.StatusOK, "", "allow", "payments.vector-write-watch", "payments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, tc.who, tc.method, tc.path, tc.body)
			if code, _ := got.errorCode(); got.status != tc.status || code != tc.code {
				t.Fatalf("%s %s = %s, want %d %s", tc.method, tc.path, got, tc.status, tc.code)
			}
			if tc.code != "" && !strings.Contains(string(got.body), tc.clause) {
				t.Errorf("answer %s does not name %s", got, tc.clause)
			}
			recs := e.gatewayRecords(t, tc.partition)
			r := recs[len(recs)-1]
			if r.Outcome != tc.outcome || (tc.clause != "" && !slices.Contains(fired(t, r), tc.clause)) {
				t.Errorf("record = %s fired %v, want %s with %s", r.Outcome, fired(t, r), tc.outcome, tc.clause)
			}
		})
	}
	// The escalated drop changed nothing.
	e.must(t, http.StatusOK, "payments", "GET", "/collections/claims", nil)
}

// TestBadInput checks that every bad request gets a clear error naming the
// field, changes nothing, and is recorded.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := start(t, gatewaytest.SQLite(t), vector.Options{MaxPoints: 3})
	e.must(t, http.StatusCreated, tenantA, "POST", "/collections", map[string]any{"name": "docs", "dims": 3})
	e.must(t, http.StatusOK, tenantA, "POST", "/collections/docs/upsert", map[string]any{"points": []map[string]any{
		{"id": "a1", "vector": []float64{1, 0, 0}}, {"id": "a2", "vector": []float64{0, 1, 0}}}})
	before := e.stateOf(t, tenantA, "docs")

	pt := func(id string, v ...float64) map[string]any { return map[string]any{"id": id, "vector": v} }
	upsert := func(ps ...map[string]any) map[string]any { return map[string]any{"points": ps} }
	many := make([]map[string]any, vector.MaxBatch+1)
	for i := range many {
		many[i] = pt(fmt.Sprintf("p%d", i), 1, 1, 1)
	}
	manyKeys := map[string]any{}
	for i := range vector.MaxFilterKeys + 1 {
		manyKeys[fmt.Sprint("k", i)] = "v"
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"dims 0", "POST", "/collections", map[string]any{"name": "x", "dims": 0}, 400, "invalid_field", "dims"},
		{"dims over the bound", "POST", "/collections", map[string]any{"name": "x", "dims": vector.MaxDims + 1}, 400, "invalid_field", "dims"},
		{"unknown metric", "POST", "/collections", map[string]any{"name": "x", "dims": 3, "metric": "manhattan"}, 400, "invalid_field", "metric"},
		{"bad name", "POST", "/collections", map[string]any{"name": "../x", "dims": 3}, 400, "invalid_field", "name"},
		{"long name", "POST", "/collections", map[string]any{"name": strings.Repeat("n", 65), "dims": 3}, 400, "invalid_field", "name"},
		{"a collection that exists", "POST", "/collections", map[string]any{"name": "docs", "dims": 3}, 409, "conflict", ""},
		{"unknown field", "POST", "/collections", map[string]any{"name": "x", "dims": 3, "size": 1}, 400, "invalid_field", "size"},
		{"wrong type", "POST", "/collections", map[string]any{"name": "x", "dims": "3"}, 400, "invalid_field", "dims"},
		{"malformed JSON", "POST", "/collections", `{"name": `, 400, "invalid_request", ""},
		{"empty body", "POST", "/collections", "", 400, "invalid_request", ""},
		{"two JSON values", "POST", "/collections", `{"name":"x","dims":3} {}`, 400, "invalid_request", ""},
		{"body over the limit", "POST", "/collections/docs/upsert", `{"points":[` + strings.Repeat(" ", 1<<20) + `]}`, 413, "too_large", ""},
		{"bad path name", "GET", "/collections/-x", nil, 400, "invalid_field", "name"},
		{"no points", "POST", "/collections/docs/upsert", upsert(), 400, "invalid_field", "points"},
		{"too many points", "POST", "/collections/docs/upsert", upsert(many...), 400, "invalid_field", "points"},
		{"wrong dimensions", "POST", "/collections/docs/upsert", upsert(pt("b1", 1, 0, 0), pt("b2", 1, 0)), 400, "invalid_field", "points[1].vector"},
		{"a zero vector under cosine", "POST", "/collections/docs/upsert", upsert(pt("b1", 0, 0, 0)), 400, "invalid_field", "points[0].vector"},
		{"out of float32 range", "POST", "/collections/docs/upsert", upsert(pt("b1", 1, 1e39, 0)), 400, "invalid_field", "points[0].vector[1]"},
		{"an empty ID", "POST", "/collections/docs/upsert", upsert(pt("", 1, 0, 0)), 400, "invalid_field", "points[0].id"},
		{"a control character in an ID", "POST", "/collections/docs/upsert", upsert(pt("a\nb", 1, 0, 0)), 400, "invalid_field", "points[0].id"},
		{"a repeated ID", "POST", "/collections/docs/upsert", upsert(pt("b1", 1, 0, 0), pt("b1", 0, 1, 0)), 400, "invalid_field", "points[1].id"},
		{"metadata not an object", "POST", "/collections/docs/upsert", upsert(map[string]any{"id": "b1", "vector": []float64{1, 0, 0}, "metadata": []int{1}}), 400, "invalid_field", "points[0].metadata"},
		{"metadata too large", "POST", "/collections/docs/upsert", upsert(map[string]any{"id": "b1", "vector": []float64{1, 0, 0}, "metadata": map[string]any{"k": strings.Repeat("x", vector.MaxMetadataBytes)}}), 400, "invalid_field", "points[0].metadata"},
		{"over the collection's cap", "POST", "/collections/docs/upsert", upsert(pt("b1", 1, 0, 0), pt("b2", 0, 0, 1)), 409, "collection_full", ""},
		{"upsert into a missing collection", "POST", "/collections/nope/upsert", upsert(pt("b1", 1, 0, 0)), 404, "not_found", ""},
		{"top_k 0", "POST", "/collections/docs/query", map[string]any{"vector": []float64{1, 0, 0}, "top_k": 0}, 400, "invalid_field", "top_k"},
		{"top_k over the bound", "POST", "/collections/docs/query", map[string]any{"vector": []float64{1, 0, 0}, "top_k": vector.MaxTopK + 1}, 400, "invalid_field", "top_k"},
		{"no query vector", "POST", "/collections/docs/query", map[string]any{"top_k": 1}, 400, "invalid_field", "vector"},
		{"query of the wrong dimensions", "POST", "/collections/docs/query", map[string]any{"vector": []float64{1, 0}}, 400, "invalid_field", "vector"},
		{"a filter value that is no scalar", "POST", "/collections/docs/query", map[string]any{"vector": []float64{1, 0, 0}, "filter": map[string]any{"lang": []string{"en"}}}, 400, "invalid_field", "filter.lang"},
		{"too many filter keys", "POST", "/collections/docs/query", map[string]any{"vector": []float64{1, 0, 0}, "filter": manyKeys}, 400, "invalid_field", "filter"},
		{"no IDs", "POST", "/collections/docs/delete", map[string]any{"ids": []string{}}, 400, "invalid_field", "ids"},
		{"a bad ID", "POST", "/collections/docs/fetch", map[string]any{"ids": []string{"ok", strings.Repeat("i", vector.MaxIDBytes+1)}}, 400, "invalid_field", "ids[1]"},
		{"no route", "PUT", "/collections/docs", nil, 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.gatewayRecords(t, tenantA))
			got := e.do(t, tenantA, tc.method, tc.path, tc.body)
			code, field := got.errorCode()
			if got.status != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("%s %s = %s, want %d %s field %q", tc.method, tc.path, got, tc.status, tc.code, tc.field)
			}
			if tc.name == "no route" {
				return
			}
			recs := e.gatewayRecords(t, tenantA)
			if len(recs) != n+1 {
				t.Fatalf("%d records, want 1", len(recs)-n)
			}
			if r := recs[n]; r.Outcome != "refused" || detail(t, r)["error"] != tc.code {
				t.Errorf("record = %s %s, want refused with error %s", r.Outcome, r.Detail, tc.code)
			}
		})
	}
	if after := e.stateOf(t, tenantA, "docs"); after != before {
		t.Errorf("bad requests changed the collection:\n%s\nwant\n%s", after, before)
	}
	lst := e.must(t, http.StatusOK, tenantA, "GET", "/collections", nil)
	if strings.Count(string(lst.body), `"name"`) != 1 {
		t.Errorf("collections after bad requests = %s, want docs alone", lst.body)
	}

	// No credential, or a platform-unknown one: 401, and no record anywhere.
	for _, tok := range []string{"", "fgv_tn_" + strings.Repeat("x", 43)} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+vector.Prefix+"/collections", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET /collections with %q = %d, want 401 with WWW-Authenticate", tok, res.StatusCode)
		}
	}
}
