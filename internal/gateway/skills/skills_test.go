package skills_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/gateway/gatewaytest"
	"github.com/fleetgov/fleetgov/internal/gateway/skills"
	"github.com/fleetgov/fleetgov/internal/store"
)

// The example fleet's tenants: A publishes, B reaches for A's skills.
const (
	tenantA  = "research"
	agentA   = "research.market-synthesizer" // loads research and platform skills only
	tenantB  = "support"
	agentB   = "support.support-advisor"
	platform = "platform" // the platform admin token
)

type env struct {
	*gatewaytest.Env
	srv    *httptest.Server
	tokens map[string]string
}

func backends(t *testing.T, fn func(t *testing.T, st func(testing.TB) store.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, gatewaytest.SQLite) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, gatewaytest.Postgres) })
}

func start(t *testing.T, st store.Store) *env {
	t.Helper()
	e := &env{Env: gatewaytest.Start(t, gatewaytest.Options{Store: st}), tokens: map[string]string{}}
	m, err := auth.Mint(store.KindPlatformAdmin, "", "", "skills test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.CreateCredential(t.Context(), m.Credential); err != nil {
		t.Fatal(err)
	}
	e.tokens[platform] = m.Secret
	for id, k := range e.Tenants {
		e.tokens[id] = k
	}
	for id, k := range e.Agents {
		e.tokens[id] = k
	}
	e.srv = httptest.NewServer(skills.New(e.Gateway, skills.Options{}).Handler())
	t.Cleanup(e.srv.Close)
	return e
}

type answer struct {
	status int
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

func (a answer) errorCode() (code, field string) {
	var b struct{ Code, Field string }
	_ = json.Unmarshal(a.body, &b)
	return b.Code, b.Field
}

func (e *env) do(t *testing.T, who, method, path string, body any, hdr ...string) answer {
	t.Helper()
	var tok string
	if who != "" {
		var ok bool
		if tok, ok = e.tokens[who]; !ok {
			t.Fatalf("no credential for %s", who)
		}
	}
	status, b := gatewaytest.Do(t, method, e.srv.URL+skills.Prefix+path, tok, body, hdr...)
	return answer{status: status, body: b}
}

func (e *env) must(t *testing.T, status int, who, method, path string, body any) answer {
	t.Helper()
	a := e.do(t, who, method, path, body)
	if a.status != status {
		t.Fatalf("%s %s as %s = %s, want %d", method, path, who, a, status)
	}
	return a
}

func (e *env) audit(t *testing.T, partition string) []store.AuditRecord {
	t.Helper()
	rs, err := e.Store.ListAudit(t.Context(), store.AuditFilter{Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func last(t *testing.T, e *env, partition string) store.AuditRecord {
	t.Helper()
	rs := e.audit(t, partition)
	if len(rs) == 0 {
		t.Fatalf("partition %s is empty", partition)
	}
	return rs[len(rs)-1]
}

func detail(t *testing.T, r store.AuditRecord) map[string]any {
	t.Helper()
	m := map[string]any{}
	if len(r.Detail) > 0 {
		if err := json.Unmarshal(r.Detail, &m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func skillMD(name, body string) string {
	return "---\nname: " + name + "\ndescription: " + name + " skill\n---\n# " + name + "\n\n" + body + "\n"
}

func publishBody(name, version, visibility, body string) map[string]any {
	m := map[string]any{"name": name, "version": version, "description": "The " + name + " skill."}
	if visibility != "" {
		m["visibility"] = visibility
	}
	return map[string]any{"manifest": m, "skill_md": skillMD(name, body)}
}

type skillOut struct {
	Owner, Name, Version, Visibility, Digest string
	PublishedBy                              string `json:"published_by"`
	SkillMD                                  string `json:"skill_md"`
}

func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	return v
}

// seed publishes A's private and cross-tenant-readable skills and the
// platform's fleet-wide one.
func seed(t *testing.T, e *env) {
	t.Helper()
	e.must(t, http.StatusCreated, tenantA, "POST", "", publishBody("scrape", "1.0.0", "", "Scrape the research sources. research-private-method."))
	e.must(t, http.StatusCreated, agentA, "POST", "", publishBody("cite", "1.0.0", "cross-tenant-readable", "Cite every source."))
	e.must(t, http.StatusCreated, platform, "POST", "", publishBody("house-style", "2.0.0", "", "Write in the house style."))
}

func TestReadVisibility(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t))
		seed(t, e)
		tests := []struct {
			who, path string
			status    int
			version   string
			withBy    bool // published_by shown: the reader owns the skill
		}{
			{tenantA, "/research/scrape", 200, "1.0.0", true},
			{agentA, "/research/scrape/versions/1.0.0", 200, "1.0.0", true},
			{tenantB, "/research/cite", 200, "1.0.0", false},
			{agentB, "/research/cite/versions/1.0.0", 200, "1.0.0", false},
			{tenantB, "/_platform/house-style", 200, "2.0.0", false},
			{agentA, "/_platform/house-style", 200, "2.0.0", false}, // the research spec admits platform skills
			{platform, "/research/cite", 200, "1.0.0", false},
			{platform, "/research/scrape", 404, "", false}, // private even to the platform
		}
		for _, tc := range tests {
			got := e.do(t, tc.who, "GET", tc.path, nil)
			if got.status != tc.status {
				t.Errorf("GET %s as %s = %s, want %d", tc.path, tc.who, got, tc.status)
				continue
			}
			if tc.status != 200 {
				continue
			}
			sk := decode[skillOut](t, got)
			if sk.Version != tc.version || sk.SkillMD == "" || (sk.PublishedBy != "") != tc.withBy {
				t.Errorf("GET %s as %s = %s, want version %s with its SKILL.md, published_by shown %v", tc.path, tc.who, got, tc.version, tc.withBy)
			}
			if r := last(t, e, tenantOf(tc.who)); r.Action != "gateway.skill.get" || r.Outcome != "allow" || r.Resource != "skill-registry" {
				t.Errorf("record of GET %s as %s = %s %s %s", tc.path, tc.who, r.Action, r.Outcome, r.Resource)
			}
		}

		lists := map[string][]string{
			tenantA:  {"_platform/house-style", "research/cite", "research/scrape"},
			tenantB:  {"_platform/house-style", "research/cite"},
			agentB:   {"_platform/house-style", "research/cite"},
			platform: {"_platform/house-style", "research/cite"},
		}
		for who, want := range lists {
			got := decode[struct{ Skills []skillOut }](t, e.must(t, 200, who, "GET", "", nil))
			var names []string
			for _, sk := range got.Skills {
				names = append(names, sk.Owner+"/"+sk.Name)
				if sk.SkillMD != "" {
					t.Errorf("list as %s carries a SKILL.md", who)
				}
			}
			if !slices.Equal(names, want) {
				t.Errorf("list as %s = %v, want %v", who, names, want)
			}
		}
		got := decode[struct{ Skills []skillOut }](t, e.must(t, 200, tenantB, "GET", "?visibility=fleet-wide", nil))
		if len(got.Skills) != 1 || got.Skills[0].Name != "house-style" {
			t.Errorf("list fleet-wide as B = %+v, want house-style", got.Skills)
		}
		got = decode[struct{ Skills []skillOut }](t, e.must(t, 200, tenantB, "GET", "?owner=research", nil))
		if len(got.Skills) != 1 || got.Skills[0].Name != "cite" {
			t.Errorf("list research's as B = %+v, want cite", got.Skills)
		}
	})
}

func tenantOf(who string) string {
	switch who {
	case platform:
		return store.PlatformPartition
	case agentA:
		return tenantA
	case agentB:
		return tenantB
	}
	return who
}

// TestCrossTenant takes B's tenant token and agent key against A's private
// skill: answered and recorded in B's partition exactly as a missing skill,
// with a Cat 4 event at the platform tier for the private one only.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t))
		seed(t, e)
		// A second version, private, of the shared skill.
		e.must(t, http.StatusCreated, tenantA, "POST", "", publishBody("cite", "1.1.0", "private", "Cite every source, privately."))
		tests := []struct {
			hidden, missing string // a path to A's private skill, and its missing twin
		}{
			{"/research/scrape", "/research/scrapes"},
			{"/research/scrape/versions/1.0.0", "/research/scrapes/versions/1.0.0"},
			{"/research/scrape/versions", "/research/scrapes/versions"},
			{"/research/cite/versions/1.1.0", "/research/cite/versions/1.2.0"},
		}
		for _, who := range []string{tenantB, agentB} {
			for _, tc := range tests {
				plat := len(e.audit(t, store.PlatformPartition))
				got := e.do(t, who, "GET", tc.hidden, nil)
				recHidden := last(t, e, tenantB)
				if n := len(e.audit(t, store.PlatformPartition)); n != plat+1 {
					t.Errorf("GET %s as %s: %d platform records, want a Cat 4 event", tc.hidden, who, n-plat)
				}
				want := e.do(t, who, "GET", tc.missing, nil)
				recMissing := last(t, e, tenantB)
				if n := len(e.audit(t, store.PlatformPartition)); n != plat+1 {
					t.Errorf("GET %s as %s: a missing skill made a platform record", tc.missing, who)
				}
				unify := func(s string) string {
					s = strings.ReplaceAll(s, "scrapes", "scrape")
					return strings.ReplaceAll(s, "1.2.0", "1.1.0")
				}
				if got.status != http.StatusNotFound || got.status != want.status || unify(string(want.body)) != string(got.body) {
					t.Errorf("GET %s as %s = %s; a missing skill gets %s", tc.hidden, who, got, want)
				}
				if strings.Contains(string(got.body), "private") || strings.Contains(string(got.body), "Cite every") {
					t.Errorf("GET %s as %s = %s reveals the skill", tc.hidden, who, got)
				}
				if recHidden.Action != recMissing.Action || recHidden.Outcome != recMissing.Outcome || recHidden.Outcome != "refused" ||
					recHidden.Resource != recMissing.Resource || unify(string(recMissing.Detail)) != string(recHidden.Detail) ||
					unify(recMissing.Object) != recHidden.Object {
					t.Errorf("B's records differ: hidden %s %s %s %s, missing %s %s %s %s", recHidden.Action, recHidden.Outcome, recHidden.Object, recHidden.Detail,
						recMissing.Action, recMissing.Outcome, recMissing.Object, recMissing.Detail)
				}
				ev := e.audit(t, store.PlatformPartition)[plat]
				d := detail(t, ev)
				if ev.Action != "isolation.cross_tenant" || ev.Resource != "skill-registry" || d["cat"] != float64(4) || d["tenant"] != tenantB {
					t.Errorf("Cat 4 event = %s %s %s", ev.Action, ev.Resource, ev.Detail)
				}
			}
			// The latest B may see is the shared 1.0.0, not A's private 1.1.0.
			sk := decode[skillOut](t, e.must(t, 200, who, "GET", "/research/cite", nil))
			if sk.Version != "1.0.0" || strings.Contains(sk.SkillMD, "privately") {
				t.Errorf("latest research/cite as %s = %s, want 1.0.0", who, sk.Version)
			}
			vs := decode[struct{ Versions []skillOut }](t, e.must(t, 200, who, "GET", "/research/cite/versions", nil))
			if len(vs.Versions) != 1 || vs.Versions[0].Version != "1.0.0" {
				t.Errorf("versions of research/cite as %s = %+v, want 1.0.0 alone", who, vs.Versions)
			}
		}
		// A's partition holds nothing of B's attempts.
		for _, r := range e.audit(t, tenantA) {
			if strings.Contains(r.Actor, tenantB) {
				t.Errorf("A's partition holds B's record %s", r.Action)
			}
		}
	})
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	e := start(t, gatewaytest.SQLite(t))
	seed(t, e)
	e.must(t, http.StatusCreated, tenantB, "POST", "", publishBody("reply-tone", "1.0.0", "cross-tenant-readable", "Answer kindly."))
	// research.skill-publishers: the synthesizer loads research and platform
	// skills only, whatever their visibility; the tenant token is no agent.
	got := e.do(t, agentA, "GET", "/support/reply-tone", nil)
	if code, _ := got.errorCode(); got.status != http.StatusForbidden || code != "denied" || !strings.Contains(string(got.body), "research.skill-publishers") {
		t.Errorf("the synthesizer reading support's skill = %s, want 403 denied by research.skill-publishers", got)
	}
	r := last(t, e, tenantA)
	if r.Outcome != "deny" || !slices.Contains(detail(t, r)["fired"].([]any), any("research.skill-publishers")) {
		t.Errorf("record = %s %s, want deny firing research.skill-publishers", r.Outcome, r.Detail)
	}
	// Denied before the lookup: a missing skill of support answers the same.
	if miss := e.do(t, agentA, "GET", "/support/no-such", nil); miss.status != got.status {
		t.Errorf("the synthesizer reading a missing support skill = %s, want %d as for an existing one", miss, got.status)
	}
	e.must(t, http.StatusOK, tenantA, "GET", "/support/reply-tone", nil)
}

func TestPublish(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, st func(testing.TB) store.Store) {
		e := start(t, st(t))
		first := e.must(t, http.StatusCreated, tenantA, "POST", "", publishBody("cite", "1.0.0", "", "Cite every source."))
		sk := decode[skillOut](t, first)
		if sk.Owner != tenantA || sk.Visibility != "private" || !strings.HasPrefix(sk.Digest, "sha256:") {
			t.Errorf("publish = %s, want research's private skill with a digest", first)
		}
		// The same content again is a no-op; other content under the same
		// version is refused and changes nothing, visibility included.
		again := e.must(t, http.StatusOK, tenantA, "POST", "", publishBody("cite", "1.0.0", "", "Cite every source."))
		if decode[skillOut](t, again).Digest != sk.Digest {
			t.Errorf("publishing again = %s, want the stored version", again)
		}
		for _, body := range []map[string]any{
			publishBody("cite", "1.0.0", "", "Cite some sources."),
			publishBody("cite", "1.0.0", "cross-tenant-readable", "Cite every source."),
		} {
			got := e.do(t, tenantA, "POST", "", body)
			if code, field := got.errorCode(); got.status != http.StatusConflict || code != "conflict" || field != "manifest.version" {
				t.Errorf("publishing 1.0.0 with other content = %s, want 409 conflict", got)
			}
		}
		cur := decode[skillOut](t, e.must(t, 200, tenantA, "GET", "/research/cite", nil))
		if cur.Digest != sk.Digest || !strings.Contains(cur.SkillMD, "Cite every source.") || cur.Visibility != "private" {
			t.Errorf("after refused publishes the skill is %+v", cur)
		}
		e.must(t, http.StatusNotFound, tenantB, "GET", "/research/cite", nil)
		e.must(t, http.StatusCreated, tenantA, "POST", "", publishBody("cite", "1.10.0", "cross-tenant-readable", "Cite every source, v1.10."))
		e.must(t, http.StatusCreated, tenantA, "POST", "", publishBody("cite", "1.9.0", "cross-tenant-readable", "Cite every source, v1.9."))
		if v := decode[skillOut](t, e.must(t, 200, tenantB, "GET", "/research/cite", nil)).Version; v != "1.10.0" {
			t.Errorf("latest as B = %s, want 1.10.0", v)
		}

		// Fleet-wide: the platform's alone.
		got := e.do(t, tenantA, "POST", "", publishBody("everyone", "1.0.0", "fleet-wide", "For all."))
		if code, field := got.errorCode(); got.status != http.StatusForbidden || code != "forbidden" || field != "manifest.visibility" {
			t.Errorf("a tenant publishing fleet-wide = %s, want 403 forbidden", got)
		}
		if r := last(t, e, tenantA); r.Outcome != "refused" || detail(t, r)["contract"] != "fleet.skill-visibility" {
			t.Errorf("record = %s %s, want refused on fleet.skill-visibility", r.Outcome, r.Detail)
		}
		e.must(t, http.StatusNotFound, tenantA, "GET", "/research/everyone", nil)
		got = e.do(t, platform, "POST", "", publishBody("everyone", "1.0.0", "private", "For all."))
		if _, field := got.errorCode(); got.status != http.StatusBadRequest || field != "manifest.visibility" {
			t.Errorf("the platform publishing private = %s, want 400 on manifest.visibility", got)
		}
		pub := decode[skillOut](t, e.must(t, http.StatusCreated, platform, "POST", "", publishBody("everyone", "1.0.0", "", "For all.")))
		if pub.Owner != "_platform" || pub.Visibility != "fleet-wide" {
			t.Errorf("the platform's skill = %+v, want _platform's fleet-wide", pub)
		}
		if r := last(t, e, store.PlatformPartition); r.Action != "gateway.skill.publish" || r.Outcome != "allow" {
			t.Errorf("the platform's publish recorded %s %s, want it in the platform partition", r.Action, r.Outcome)
		}
	})
}

// TestCredentials checks that a skill carrying a credential is refused
// and nothing is published.
func TestCredentials(t *testing.T) {
	t.Parallel()
	e := start(t, gatewaytest.SQLite(t))
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a provider key in SKILL.md", publishBody("scrape", "1.0.0", "", "Use the key sk-proj-"+strings.Repeat("a1B2", 12)+" for the API."), "skill_md"},
		{"a fleetgov agent key in SKILL.md", publishBody("scrape", "1.0.0", "", "Authorization: Bearer "+e.Agents[agentA]), "skill_md"},
		{"a tenant token in the description", func() map[string]any {
			b := publishBody("scrape", "1.0.0", "", "Scrape.")
			b["manifest"].(map[string]any)["description"] = "call with " + e.Tenants[tenantA]
			return b
		}(), "manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, tenantA, "POST", "", tc.body)
			if code, field := got.errorCode(); got.status != http.StatusUnprocessableEntity || code != "credential_detected" || field != tc.field {
				t.Fatalf("publish = %s, want 422 credential_detected on %s", got, tc.field)
			}
			if strings.Contains(string(got.body), "sk-proj") || strings.Contains(string(got.body), "fgv_") {
				t.Errorf("the answer %s echoes the credential", got)
			}
			r := last(t, e, tenantA)
			if r.Outcome != "refused" || detail(t, r)["contract"] != "fleet.skill-visibility" || strings.Contains(string(r.Detail), "fgv_") {
				t.Errorf("record = %s %s, want refused on fleet.skill-visibility, without the credential", r.Outcome, r.Detail)
			}
		})
	}
	e.must(t, http.StatusNotFound, tenantA, "GET", "/research/scrape", nil)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := start(t, gatewaytest.SQLite(t))
	seed(t, e)
	with := func(k string, v any) map[string]any {
		b := publishBody("x", "1.0.0", "", "X.")
		b["manifest"].(map[string]any)[k] = v
		return b
	}
	md := func(s string) map[string]any {
		b := publishBody("x", "1.0.0", "", "X.")
		b["skill_md"] = s
		return b
	}
	tests := []struct {
		name   string
		who    string
		method string
		path   string
		body   any
		hdr    []string
		status int
		code   string
		field  string
	}{
		{"bad name", tenantA, "POST", "", with("name", "My Skill"), nil, 400, "invalid_field", "manifest.name"},
		{"long name", tenantA, "POST", "", with("name", strings.Repeat("a", 65)), nil, 400, "invalid_field", "manifest.name"},
		{"version with a v", tenantA, "POST", "", with("version", "v1.0.0"), nil, 400, "invalid_field", "manifest.version"},
		{"short version", tenantA, "POST", "", with("version", "1.0"), nil, 400, "invalid_field", "manifest.version"},
		{"build metadata", tenantA, "POST", "", with("version", "1.0.0+b1"), nil, 400, "invalid_field", "manifest.version"},
		{"no description", tenantA, "POST", "", with("description", " "), nil, 400, "invalid_field", "manifest.description"},
		{"unknown visibility", tenantA, "POST", "", with("visibility", "public"), nil, 400, "invalid_field", "manifest.visibility"},
		{"no SKILL.md", tenantA, "POST", "", md(""), nil, 400, "invalid_field", "skill_md"},
		{"front matter names another skill", tenantA, "POST", "", md("---\nname: y\n---\n# y\n"), nil, 400, "invalid_field", "skill_md"},
		{"front matter not closed", tenantA, "POST", "", md("---\nname: x\n# x\n"), nil, 400, "invalid_field", "skill_md"},
		{"SKILL.md over the bound", tenantA, "POST", "", md(strings.Repeat("x", skills.MaxSkillMDBytes+1)), nil, 400, "invalid_field", "skill_md"},
		{"unknown field", tenantA, "POST", "", map[string]any{"manifest": map[string]any{"name": "x"}, "skill_md": "x", "extra": 1}, nil, 400, "invalid_field", "extra"},
		{"unknown manifest field", tenantA, "POST", "", map[string]any{"manifest": map[string]any{"name": "x", "tags": []string{}}, "skill_md": "x"}, nil, 400, "invalid_field", "manifest.tags"},
		{"malformed JSON", tenantA, "POST", "", `{"manifest":`, nil, 400, "invalid_request", ""},
		{"body over the limit", tenantA, "POST", "", `{"skill_md":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "too_large", ""},
		{"bad owner", tenantA, "GET", "/Research/cite", nil, nil, 400, "invalid_field", "owner"},
		{"bad version", tenantA, "GET", "/research/cite/versions/latest", nil, nil, 400, "invalid_field", "version"},
		{"bad visibility filter", tenantA, "GET", "?visibility=all", nil, nil, 400, "invalid_field", "visibility"},
		{"publishing as another owner", tenantB, "POST", "", func() map[string]any {
			b := publishBody("x", "1.0.0", "", "X.")
			b["owner"] = tenantA
			return b
		}(), nil, 403, "cross_tenant", ""},
		{"a tenant header", agentB, "GET", "/research/cite", nil, []string{"X-Fleetgov-Tenant", tenantA}, 403, "cross_tenant", ""},
		{"a tenant parameter", tenantB, "GET", "?tenant=research", nil, nil, 403, "cross_tenant", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			part := tenantOf(tc.who)
			n, plat := len(e.audit(t, part)), len(e.audit(t, store.PlatformPartition))
			got := e.do(t, tc.who, tc.method, tc.path, tc.body, tc.hdr...)
			code, field := got.errorCode()
			if got.status != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("%s %s = %s, want %d %s field %q", tc.method, tc.path, got, tc.status, tc.code, tc.field)
			}
			recs := e.audit(t, part)
			if len(recs) != n+1 || recs[n].Outcome != "refused" || detail(t, recs[n])["error"] != tc.code {
				t.Fatalf("records: %d new, want 1 refused with error %s", len(recs)-n, tc.code)
			}
			wantPlat := plat
			if tc.code == "cross_tenant" {
				wantPlat++
			}
			if got := len(e.audit(t, store.PlatformPartition)); got != wantPlat {
				t.Errorf("platform records: %d new, want %d", got-plat, wantPlat-plat)
			}
		})
	}
	// Nothing was published.
	got := decode[struct{ Skills []skillOut }](t, e.must(t, 200, tenantA, "GET", "", nil))
	if len(got.Skills) != 3 {
		t.Errorf("A sees %d skills after bad requests, want the 3 seeded", len(got.Skills))
	}
	e.must(t, http.StatusNotFound, tenantB, "GET", "/support/x", nil)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+skills.Prefix, nil)
	req.Header.Set("Authorization", "Bearer fgv_pa_"+strings.Repeat("z", 43))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unknown platform token = %d, want 401", res.StatusCode)
	}
}
