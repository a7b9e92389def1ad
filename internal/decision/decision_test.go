package decision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

// testAgent is an agent of testdata/agents.yaml.
type testAgent struct {
	Tenant        string   `yaml:"tenant"`
	Archetype     string   `yaml:"archetype"`
	Status        string   `yaml:"status"`
	Tools         []string `yaml:"tools"`
	NotAuthorized []string `yaml:"not_authorized"`
	Own           []struct {
		ID      string `yaml:"id"`
		Text    string `yaml:"text"`
		Machine string `yaml:"machine"`
	} `yaml:"own"`
}

// loadPolicy builds the effective set of a test agent and its policy inputs.
func loadAgent(tb testing.TB, id string) (*constraint.Effective, constraint.Agent) {
	tb.Helper()
	lib := loadLibrary(tb)
	var agents map[string]testAgent
	readYAML(tb, "testdata/agents.yaml", &agents)
	ta, ok := agents[id]
	if !ok {
		tb.Fatalf("no agent %s in testdata/agents.yaml", id)
	}
	var own []*constraint.Clause
	for _, o := range ta.Own {
		c := &constraint.Clause{ID: o.ID, Tier: constraint.T3, Section: 6, Text: o.Text}
		if o.Machine != "" {
			m, err := constraint.ParseMachine(o.Machine)
			if err != nil {
				tb.Fatalf("agent %s clause %s: %v", id, o.ID, err)
			}
			c.SetMachine(m)
		}
		if errs := c.Validate(); len(errs) > 0 {
			tb.Fatalf("agent %s clause %s: %v", id, o.ID, errs)
		}
		own = append(own, c)
	}
	eff, weak := constraint.Resolve(lib.Inherited([]string{ta.Archetype}, nil), own)
	if len(weak) > 0 {
		tb.Fatalf("agent %s weakens: %v", id, weak[0].Message)
	}
	return eff, constraint.Agent{ID: id, Tenant: ta.Tenant, Archetype: ta.Archetype, Status: ta.Status,
		Tools: ta.Tools, NotAuthorized: ta.NotAuthorized}
}

func loadLibrary(tb testing.TB) *constraint.Library {
	tb.Helper()
	f := filepath.Join("testdata", "library", "1.0.0.yaml")
	data, err := os.ReadFile(f)
	if err != nil {
		tb.Fatal(err)
	}
	lib, err := constraint.ParseLibrary(f, data)
	if err != nil {
		tb.Fatalf("ParseLibrary: %v", err)
	}
	return lib
}

func readYAML(tb testing.TB, path string, out any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// toAction converts a YAML action to an Action the way the API does, through JSON.
func toAction(tb testing.TB, m map[string]any) *constraint.Action {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	var a constraint.Action
	if err := json.Unmarshal(b, &a); err != nil {
		tb.Fatal(err)
	}
	return &a
}

type decisionCase struct {
	Name       string         `yaml:"name"`
	Agent      string         `yaml:"agent"`
	Now        string         `yaml:"now"`
	Action     map[string]any `yaml:"action"`
	Exceptions []struct {
		ID      string   `yaml:"id"`
		Clause  string   `yaml:"clause"`
		Limit   *float64 `yaml:"limit"`
		Allow   []string `yaml:"allow"`
		Waive   bool     `yaml:"waive"`
		Expires string   `yaml:"expires"`
	} `yaml:"exceptions"`
	Want    Outcome  `yaml:"want"`
	Fired   []string `yaml:"fired"`
	Applied []string `yaml:"applied"`
}

func TestDecide(t *testing.T) {
	t.Parallel()
	var cases []decisionCase
	readYAML(t, "testdata/decisions.yaml", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/decisions.yaml")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			eff, agent := loadAgent(t, tc.Agent)
			var excs []Exception
			for _, e := range tc.Exceptions {
				exp, err := time.Parse(time.RFC3339, e.Expires)
				if err != nil {
					t.Fatal(err)
				}
				excs = append(excs, Exception{ID: e.ID, ClauseID: e.Clause, Limit: e.Limit, Allow: e.Allow, Waive: e.Waive, ExpiresAt: exp})
			}
			p, err := New(eff, agent, excs)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			if tc.Now != "" {
				if now, err = time.Parse(time.RFC3339, tc.Now); err != nil {
					t.Fatal(err)
				}
			}
			d := p.Decide(toAction(t, tc.Action), now)
			var fired, applied []string
			for _, f := range d.Fired {
				fired = append(fired, f.Clause)
			}
			for _, a := range d.ExceptionsApplied {
				applied = append(applied, a.Exception)
			}
			slices.Sort(fired)
			slices.Sort(tc.Fired)
			if d.Outcome != tc.Want || !slices.Equal(fired, tc.Fired) || !slices.Equal(applied, tc.Applied) {
				t.Errorf("Decide(%v) = %s fired %v applied %v, want %s fired %v applied %v\n%+v",
					tc.Action, d.Outcome, fired, applied, tc.Want, tc.Fired, tc.Applied, d.Fired)
			}
		})
	}
}

func TestEffectiveSetSize(t *testing.T) {
	t.Parallel()
	eff, _ := loadAgent(t, "payments.refunds")
	rules := len(eff.Rules())
	if len(eff.Clauses) != 50 || rules != 20 {
		t.Fatalf("payments.refunds effective set = %d clauses, %d rules; the benchmark needs 50 and 20", len(eff.Clauses), rules)
	}
}

func TestNewRejectsBadExceptions(t *testing.T) {
	t.Parallel()
	eff, agent := loadAgent(t, "payments.refunds")
	exp := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	limit := 1.0
	tests := []struct {
		name string
		exc  Exception
	}{
		{"unknown clause", Exception{ID: "e", ClauseID: "nope", Waive: true, ExpiresAt: exp}},
		{"limit without ceiling", Exception{ID: "e", ClauseID: "payments.cost-per-claim", Waive: true, ExpiresAt: exp}},
		{"rule with a limit", Exception{ID: "e", ClauseID: "payments.refund-review", Limit: &limit, ExpiresAt: exp}},
		{"allow without values", Exception{ID: "e", ClauseID: "payments.models", ExpiresAt: exp}},
		{"textual clause", Exception{ID: "e", ClauseID: "payments.case-note", Waive: true, ExpiresAt: exp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(eff, agent, []Exception{tc.exc}); err == nil {
				t.Errorf("New with exception %+v = nil error, want an error", tc.exc)
			}
		})
	}
}

func TestDecideAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	eff, agent := loadAgent(t, "payments.refunds")
	p, err := New(eff, agent, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := benchAction()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if d := p.Decide(a, now); d.Outcome != Allow {
		t.Fatalf("benchmark action: %s %+v, want allow", d.Outcome, d.Fired)
	}
	// cel-go boxes each map value and string it reads; fleetgov adds one
	// allocation (the timestamp). Pin the count so a regression shows.
	const maxAllocs = 24
	if n := testing.AllocsPerRun(200, func() { p.Decide(a, now) }); n > maxAllocs {
		t.Errorf("Decide allocates %v times per allowed action, want at most %d", n, maxAllocs)
	}
}
