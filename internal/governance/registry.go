package governance

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"
)

//go:embed registry/policies/*.json registry/policy-categories/*.json
var registryFS embed.FS

// RegistryPolicy is a shared policy of the AdCP policy registry.
type RegistryPolicy struct {
	PolicyID            string              `json:"policy_id"`
	Name                string              `json:"name"`
	Category            string              `json:"category"`
	Enforcement         string              `json:"enforcement"` // must, should, may
	Jurisdictions       []string            `json:"jurisdictions"`
	RegionAliases       map[string][]string `json:"region_aliases"`
	PolicyCategories    []string            `json:"policy_categories"`
	GovernanceDomains   []string            `json:"governance_domains"`
	EffectiveDate       string              `json:"effective_date"`
	SunsetDate          string              `json:"sunset_date"`
	RequiresHumanReview bool                `json:"requires_human_review"`
	Policy              string              `json:"policy"`
}

// PolicyCategory is a registry policy category.
type PolicyCategory struct {
	CategoryID           string   `json:"category_id"`
	Name                 string   `json:"name"`
	RestrictedAttributes []string `json:"restricted_attributes"`
	RequiresHumanReview  bool     `json:"requires_human_review"`
}

// Registry is the embedded offline copy of the AdCP policy registry.
type Registry struct {
	Policies   map[string]RegistryPolicy
	Categories map[string]PolicyCategory
}

// LoadRegistry reads the embedded registry.
func LoadRegistry() (*Registry, error) {
	r := &Registry{Policies: map[string]RegistryPolicy{}, Categories: map[string]PolicyCategory{}}
	err := fs.WalkDir(registryFS, "registry", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := registryFS.ReadFile(p)
		if err != nil {
			return err
		}
		switch path.Base(path.Dir(p)) {
		case "policies":
			var rp RegistryPolicy
			if err := json.Unmarshal(b, &rp); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			r.Policies[rp.PolicyID] = rp
		case "policy-categories":
			var c PolicyCategory
			if err := json.Unmarshal(b, &c); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			r.Categories[c.CategoryID] = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("governance: policy registry: %w", err)
	}
	return r, nil
}

// inForce reports whether a registry policy applies on day t.
func (p RegistryPolicy) inForce(t time.Time) bool {
	day := t.Format(time.DateOnly)
	if p.EffectiveDate != "" && day < p.EffectiveDate {
		return false
	}
	return p.SunsetDate == "" || day < p.SunsetDate
}

// appliesTo reports whether the policy's jurisdictions meet the markets.
func (p RegistryPolicy) appliesTo(markets []string) bool {
	if len(p.Jurisdictions) == 0 || len(markets) == 0 {
		return true
	}
	for _, m := range markets {
		if slices.Contains(p.Jurisdictions, m) {
			return true
		}
		for _, alias := range p.RegionAliases {
			if slices.Contains(alias, m) {
				return true
			}
		}
	}
	return false
}

// requiresHumanReview reports whether a plan's policies or categories force
// human review of every action.
func (r *Registry) requiresHumanReview(p *Plan) (bool, string) {
	for _, id := range p.PolicyIDs {
		if rp, ok := r.Policies[id]; ok && rp.RequiresHumanReview {
			return true, "registry policy " + id + " requires human review"
		}
	}
	for _, id := range p.PolicyCategories {
		if c, ok := r.Categories[id]; ok && c.RequiresHumanReview {
			return true, "policy category " + id + " requires human review"
		}
	}
	return false, ""
}

// restrictedAttributes returns the attributes the plan's categories restrict,
// with the plan's own.
func (r *Registry) restrictedAttributes(p *Plan) []string {
	out := slices.Clone(p.RestrictedAttributes)
	for _, id := range p.PolicyCategories {
		for _, a := range r.Categories[id].RestrictedAttributes {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
