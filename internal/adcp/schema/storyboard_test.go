package schema

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// generateRE matches the runner's generated-value placeholders.
var generateRE = regexp.MustCompile(`^\$generate:(uuid_v4|opaque_id)(?:#[A-Za-z0-9_.-]+)?$`)

// substitute replaces "$generate:..." strings with a UUID v4, as the storyboard runner does.
func substitute(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = substitute(e)
		}
	case []any:
		for i, e := range v {
			v[i] = substitute(e)
		}
	case string:
		if generateRE.MatchString(v) {
			return "6f1c2a9e-3b4d-4c5e-8f60-718293a4b5c6"
		}
	}
	return v
}

// TestStoryboardRequests validates the sample_request of every step of the AdCP 3.0.6
// compliance storyboards (testdata/storyboards/3.0.6, what @adcp/sdk@6.11.0 runs) whose task
// this package knows against the 3.0 request schema. "$context.plan_id" placeholders stay
// strings, which the schemas accept where they appear; "$generate:uuid_v4#alias" becomes a
// UUID v4, as the runner substitutes it (the literal fails idempotency_key's pattern).
func TestStoryboardRequests(t *testing.T) {
	t.Parallel()
	var steps int
	seen := map[string]bool{}
	err := filepath.WalkDir("testdata/storyboards/3.0.6", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		for _, st := range storyboardSteps(t, path) {
			if _, ok := tasks[st.Task]; !ok {
				continue // a seller task such as create_media_buy
			}
			steps++
			seen[st.Task] = true
			t.Run(strings.TrimPrefix(path, "testdata/storyboards/3.0.6/")+"/"+st.ID, func(t *testing.T) {
				t.Parallel()
				if err := Validate(V30, st.Task, Request, st.Request); err != nil {
					t.Errorf("Validate(3.0, %s, request) = %v", st.Task, err)
				}
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The storyboards exercise these governance-agent tasks; a lost step would shrink the test.
	want := []string{"check_governance", "get_adcp_capabilities", "get_plan_audit_logs", "report_plan_outcome", "sync_governance", "sync_plans"}
	var got []string
	for task := range seen {
		got = append(got, task)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || steps != 18 {
		t.Errorf("validated %d steps of tasks %q, want 18 of %q", steps, got, want)
	}
}

type storyboardStep struct {
	ID      string
	Task    string
	Request any // JSON-typed
}

// storyboardSteps returns the steps of a storyboard file that carry a sample_request.
func storyboardSteps(t *testing.T, path string) []storyboardStep {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb struct {
		Phases []struct {
			Steps []struct {
				ID            string    `yaml:"id"`
				Task          string    `yaml:"task"`
				SampleRequest yaml.Node `yaml:"sample_request"`
			} `yaml:"steps"`
		} `yaml:"phases"`
	}
	if err := yaml.Unmarshal(b, &sb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []storyboardStep
	for _, ph := range sb.Phases {
		for _, st := range ph.Steps {
			if st.SampleRequest.Kind == 0 {
				continue
			}
			var v any
			if err := st.SampleRequest.Decode(&v); err != nil {
				t.Fatalf("%s: step %s: %v", path, st.ID, err)
			}
			out = append(out, storyboardStep{ID: st.ID, Task: st.Task, Request: substitute(jsonTyped(t, v))})
		}
	}
	return out
}

// jsonTyped round-trips a YAML-decoded value through JSON, so that it holds only the types
// encoding/json produces (YAML gives ints and may give timestamps).
func jsonTyped(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
