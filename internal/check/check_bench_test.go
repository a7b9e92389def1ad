package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// The benchmark fleet: a 200-clause library and 500 specs.
const (
	benchTenants   = 10
	benchSpecs     = 500
	benchT1        = 40 // T1 clauses; the rest are T2, spread over the archetypes
	benchClauses   = 200
	benchResources = 5
)

// benchChecks is how many structural checks the library has: one for each
// archetype.
const benchChecks = 5

var benchResourceIDs = []string{"model-provider", "mcp-servers", "vector-store", "audit-log", "skill-registry"}

// benchRule returns the i-th of a varied set of CEL rules.
func benchRule(i int) string {
	switch i % 8 {
	case 0:
		return fmt.Sprintf(`action.kind == "tool_call" && action.tool == "svc%d.delete"`, i)
	case 1:
		return fmt.Sprintf(`action.kind == "tool_call" && has(action.arguments.amount) && action.arguments.amount > %d`, 100+i)
	case 2:
		return `action.kind == "tool_call" && (action.tool in agent.not_authorized || !(action.tool in agent.tools))`
	case 3:
		return `action.target_tenant != "" && action.target_tenant != agent.tenant`
	case 4:
		return `action.kind == "tool_call" && (action.credential_detected || contains_credential(action.arguments))`
	case 5:
		return fmt.Sprintf(`action.kind == "model_call" && has(action.attributes.mode%d) && action.attributes.mode%d == "off"`, i, i)
	case 6:
		return fmt.Sprintf(`action.kind.startsWith("vector_") && has(action.attributes.namespace) && action.attributes.namespace != agent.tenant && %d > 0`, i)
	default:
		return fmt.Sprintf(`action.kind == "tool_call" && action.effect in ["delete", "transmit"] && action.tool.startsWith("svc%d.")`, i)
	}
}

// benchLibrary writes a 200-clause library: 40 T1 and 32 T2 per archetype,
// with ~40 CEL rules, limits, allow-lists, structural checks and plain text,
// some T1 clauses scoped to shared resources.
func benchLibrary() string {
	var b strings.Builder
	b.WriteString("version: 1.0.0\nowner: bench@example.com\nclauses:\n")
	checks := map[string]string{constraint.Executor: "tool-manifest", constraint.Guardian: "enforcement-boundary",
		constraint.Orchestrator: "composition-declared", constraint.Advisor: "not-authorized-scope", constraint.Synthesizer: "escalation-path"}
	for i := range benchClauses {
		tier, arch, prefix := "T1", "", "fleet"
		if i >= benchT1 {
			tier, arch = "T2", constraint.Archetypes[(i-benchT1)%5]
			prefix = strings.ToLower(arch)
		}
		id := fmt.Sprintf("%s.c%03d", prefix, i)
		fmt.Fprintf(&b, "  - id: %s\n    tier: %s\n", id, tier)
		if arch != "" {
			fmt.Fprintf(&b, "    archetype: %s\n", arch)
		}
		fmt.Fprintf(&b, "    section: %d\n", 6+i%3)
		fmt.Fprintf(&b, "    text: Clause %d keeps the fleet safe, and its text is long enough to look like a real invariant of %s.\n", i, prefix)
		fmt.Fprintf(&b, "    provenance: {cat: %d, incidents: [INC-%04d]}\n", 1+i%7, i)
		if tier == "T1" && i%10 == 9 {
			fmt.Fprintf(&b, "    resource: %s\n", benchResourceIDs[(i/10)%benchResources])
		}
		// The machine form cycles independently of the archetype, so that
		// every archetype gets a mix: 40 rules, ~40 limits, ~40 allow-lists,
		// one structural check per archetype, and plain text.
		switch kind := (i + i/5) % 5; {
		case arch != "" && i < benchT1+5:
			fmt.Fprintf(&b, "    check: %s\n", checks[arch])
		case kind == 0:
			fmt.Fprintf(&b, "    rule: {when: '%s', effect: %s}\n", benchRule(i), []string{"deny", "escalate", "warn"}[i%3])
		case kind == 1: // T1 and T2 limits have distinct names: no T2 weakens a T1
			fmt.Fprintf(&b, "    limit: {name: bench.%s_%d, max: %d}\n", prefix, i, 1000+i)
		case kind == 2:
			fmt.Fprintf(&b, "    allow: {name: bench.%s_%d, values: [a%d, b%d, \"c%d-*\"]}\n", prefix, i, i, i, i)
		}
	}
	return b.String()
}

// benchSpec renders a spec that carries its inherited clauses verbatim and a
// few tenant clauses with machine forms.
func benchSpec(n int, lib *constraint.Library) string {
	arch := constraint.Archetypes[n%5]
	tenant := fmt.Sprintf("tenant%d", n%benchTenants)
	var resources []string
	for i, r := range benchResourceIDs {
		if (n>>i)&1 == 1 || i == 0 {
			resources = append(resources, r)
		}
	}
	inherited := lib.Inherited([]string{arch}, resources)
	var b strings.Builder
	fmt.Fprintf(&b, "---\nspec: SPEC-BENCH-%d\ntenant: %s\nagent: agent-%d\nversion: 1.0.0\nstatus: Approved\nowner: %s-team\nlibrary: 1.0.0\n", n, tenant, n, tenant)
	fmt.Fprintf(&b, "shared_resources: [%s]\nescalation: \"#%s-oncall\"\n---\n# Agent %d\n\n", strings.Join(resources, ", "), tenant, n)
	b.WriteString("## §1 Problem Statement\n\nWork piles up.\n\n## §2 Desired Outcome\n\nIt does not.\n\n")
	b.WriteString("## §3 Scope\n\n### In Scope\n- The work.\n\n### Out of Scope\n- Everything else.\n\n")
	fmt.Fprintf(&b, "## §4 Archetype Declaration\n- **Classification:** %s\n", arch)
	dims := map[string]string{
		constraint.Advisor:      "- **Agency Level:** 1\n- **Risk Posture:** Low\n- **Oversight Model:** A\n- **Reversibility:** R1\n",
		constraint.Executor:     "- **Agency Level:** 3\n- **Risk Posture:** Medium\n- **Oversight Model:** D\n- **Reversibility:** R2\n",
		constraint.Guardian:     "- **Agency Level:** 2\n- **Risk Posture:** High\n- **Oversight Model:** B\n- **Reversibility:** R1\n",
		constraint.Synthesizer:  "- **Agency Level:** 2\n- **Risk Posture:** Low\n- **Oversight Model:** C\n- **Reversibility:** R1\n",
		constraint.Orchestrator: "- **Agency Level:** 4\n- **Risk Posture:** High\n- **Oversight Model:** C\n- **Reversibility:** R3\n",
	}
	b.WriteString(dims[arch])
	if arch == constraint.Orchestrator {
		fmt.Fprintf(&b, "\n### Composition Declaration\n- **Governing archetype:** Orchestrator\n- **Pattern:** C\n\n### Sub-Agent Inventory\n")
		b.WriteString("| Agent | Archetype | Authorization Scope | Failure Behavior |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %s.agent-%d | Executor | the work | halt-and-surface |\n", tenant, n+1)
	}
	b.WriteString("\n## §5 Functional Intent\n\nDo the work.\n\n")
	own := []string{
		fmt.Sprintf("- (Tenant, T3) [%s.a%d-rule] Tenant rule for agent %d.\n  `rule deny: %s`\n", tenant, n, n, benchRule(n)),
		fmt.Sprintf("- (Tenant, T3) [%s.a%d-escalate] Tenant escalation for agent %d.\n  `rule escalate: action.kind == \"tool_call\" && has(action.arguments.total) && action.arguments.total > %d`\n", tenant, n, n, 1000+n),
		fmt.Sprintf("- (Tenant, T3) [%s.a%d-limit] Tenant limit for agent %d.\n  `limit tenant.budget_%d <= %d`\n", tenant, n, n, n%7, 500+n),
		fmt.Sprintf("- (Tenant, T3) [%s.a%d-text] Tenant text clause for agent %d.\n", tenant, n, n),
	}
	// Tighten an inherited limit and allow-list.
	for _, c := range inherited {
		if c.Limit != nil {
			own = append(own, fmt.Sprintf("- (Tenant, T3) [%s.a%d-tight] Tighter than %s.\n  `limit %s <= %v`\n", tenant, n, c.ID, c.Limit.Name, c.Limit.Max/2))
			break
		}
	}
	for _, c := range slices.Backward(inherited) {
		if c.Allow != nil {
			own = append(own, fmt.Sprintf("- (Tenant, T3) [%s.a%d-narrow] Narrower than %s.\n  `allow %s: %s`\n", tenant, n, c.ID, c.Allow.Name, c.Allow.Values[0]))
			break
		}
	}
	for sec := 6; sec <= 8; sec++ {
		fmt.Fprintf(&b, "## §%d %s\n", sec, spec.Titles[sec])
		if sec == 8 {
			b.WriteString("\n### Tool Manifest\n| Tool | Effect Class | Constraints |\n|---|---|---|\n| `svc.read` | Read | |\n| `svc.write` | Write | |\n\n")
			b.WriteString("### NOT authorized\n- `svc.delete`\n\n**Exception gate:** halt and escalate.\n\n")
			b.WriteString("### Enforced invariants\n- the invariants of §6\n\n**Action on violation:** block and surface.\n\n")
		}
		for _, c := range inherited {
			if c.Section == sec {
				b.WriteString(c.SpecLine())
				b.WriteString("\n")
			}
		}
		for i, o := range own {
			if 6+i%3 == sec {
				b.WriteString(o)
			}
		}
		b.WriteString("\n")
	}
	for _, sec := range []int{9, 11, 12, 13} {
		fmt.Fprintf(&b, "## §%d %s\n\n- Done.\n\n", sec, spec.Titles[sec])
	}
	return b.String()
}

// benchFleet writes the benchmark fleet repo and its specs into dir.
func benchFleet(b *testing.B, dir string) (*fleet.Repo, []string) {
	b.Helper()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	var cfg strings.Builder
	cfg.WriteString("fleet: bench\nescalation: {min_tenants: 3, window_days: 14, same_cat: true, same_root_cause: true, committed_by: bench, committed_at: \"2026-01-01\"}\ntenants:\n")
	for i := range benchTenants {
		fmt.Fprintf(&cfg, "  - id: tenant%d\n", i)
	}
	write(fleet.ConfigFile, cfg.String())
	libSrc := benchLibrary()
	write("constraints/1.0.0.yaml", libSrc)
	lib, err := constraint.ParseLibrary("1.0.0.yaml", []byte(libSrc))
	if err != nil {
		b.Fatal(err)
	}
	var contract strings.Builder
	contract.WriteString("version: 1.0.0\nchangelog:\n  - {version: 1.0.0, date: \"2026-09-01\", summary: The first contract.}\nresources:\n")
	for _, r := range benchResourceIDs {
		fmt.Fprintf(&contract, "  - {id: %s, guarantee: isolated, mechanism: the gateway, invariants: [fleet.c000]}\n", r)
	}
	write(fleet.ContractFile, contract.String())
	repo, err := fleet.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for n := range benchSpecs {
		paths = append(paths, write(fmt.Sprintf("specs/tenant%d/agent-%d.md", n%benchTenants, n), benchSpec(n, lib)))
	}
	return repo, paths
}

// BenchmarkSpecCheck500 checks 500 specs against a 200-clause library: one
// op reads, parses (compiling every tenant rule) and checks all of them,
// as fleetgov spec check does.
func BenchmarkSpecCheck500(b *testing.B) {
	repo, paths := benchFleet(b, b.TempDir())
	forms := map[string]int{}
	for _, c := range repo.Library.Current().Clauses {
		switch {
		case c.Rule != nil:
			forms["rule"]++
		case c.Check != "":
			forms["check"]++
		case c.Limit != nil:
			forms["limit"]++
		case c.Allow != nil:
			forms["allow"]++
		default:
			forms["text"]++
		}
	}
	if n := len(repo.Library.Current().Clauses); n != benchClauses || forms["rule"] < 35 || forms["rule"] > 45 || forms["check"] != benchChecks ||
		forms["limit"] < 30 || forms["allow"] < 30 || forms["text"] < 30 {
		b.Fatalf("library has %d clauses %v, want %d with ~40 rules, %d checks and a mix of the rest", n, forms, benchClauses, benchChecks)
	}
	// The generated fleet is clean: the benchmark measures the passing path.
	if rep := Files(repo, paths); rep.Status != Pass || len(rep.Results) != benchSpecs {
		for _, r := range rep.Results {
			if r.Status != Pass {
				b.Fatalf("%s: %s%s", r.File, r.Status, summary(r))
			}
		}
		b.Fatalf("Files = %s", rep.Status)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rep := Files(repo, paths); rep.Status != Pass {
			b.Fatalf("Files = %s", rep.Status)
		}
	}
}

// BenchmarkCheckSpec checks one parsed example spec.
func BenchmarkCheckSpec(b *testing.B) {
	r := repo(b)
	path, src := readSpec(b, "payments/refund-executor.md")
	s, err := spec.Parse(path, []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if res := Spec(r, s); res.Status != Pass {
			b.Fatalf("Spec = %s", res.Status)
		}
	}
}
