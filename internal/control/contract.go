package control

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
	"github.com/fleetgov/fleetgov/internal/store"
)

// ContractChange is a new version of the isolation contract that a reload
// brought in: what changed since the version in force before, as its
// changelog records it, and the registered agents whose specs declare a
// changed row in shared_resources.
type ContractChange struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Changed lists the rows added or changed since From, in contract
	// order; Removed the rows taken out since, sorted.
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
	// Changelog holds the entries after From, newest first.
	Changelog []fleet.ChangelogEntry `json:"changelog"`
	// AmendmentRequired lists the registered agents, of every tenant, whose
	// specs declare a changed or removed row.
	AmendmentRequired []string `json:"amendment_required"`
}

// touches reports whether a spec that declares resources depends on a row
// the change changed or removed.
func (c *ContractChange) touches(resources []string) bool {
	for _, r := range resources {
		if slices.Contains(c.Changed, r) || slices.Contains(c.Removed, r) {
			return true
		}
	}
	return false
}

// contractChange compares the contract of a reloaded repo with the one of
// the last load: its version and the digest of each row. A row may change
// only with a new version whose changelog (an entry after the last version)
// names it, under changed for an added or changed row, under removed for a
// removed one; anything else is refused with findings. It returns the
// change, or nil when the version is the same.
func contractChange(last store.FleetLoad, dir string, c *fleet.Contract) (*ContractChange, []check.Finding) {
	if last.ContractVersion == "" || !constraint.ValidVersion(last.ContractVersion) {
		return nil, nil // nothing loaded before, or nothing to compare with
	}
	file := filepath.Join(dir, fleet.ContractFile)
	cmp := constraint.CompareVersions(c.Version, last.ContractVersion)
	if cmp < 0 {
		return nil, []check.Finding{{Code: "contract-version-lowered", Kind: check.BadInput, File: file,
			Message: fmt.Sprintf("the contract version went back from %s to %s; specs pin contract versions, so a released one is never withdrawn", last.ContractVersion, c.Version),
			Fix:     fmt.Sprintf("publish the rollback as a new version above %s, with a changelog entry naming the rows it restores", last.ContractVersion)}}
	}
	after := c.EntriesAfter(last.ContractVersion)
	named := func(id, list string) bool {
		for _, e := range after {
			if (list == "changed" && slices.Contains(e.Changed, id)) || (list == "removed" && slices.Contains(e.Removed, id)) {
				return true
			}
		}
		return false
	}
	// A load recorded before the rows were (ContractRows empty) cannot be
	// compared row by row; the changelog is taken at its word.
	var findings []check.Finding
	if len(last.ContractRows) > 0 {
		rows := c.RowDigests()
		ids := slices.Sorted(mapKeys(rows))
		for id := range last.ContractRows {
			if _, ok := rows[id]; !ok {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			was, had := last.ContractRows[id]
			now, has := rows[id]
			what, list := "changed", "changed"
			switch {
			case had && has && was == now:
				continue
			case !had:
				what = "was added"
			case !has:
				what, list = "was removed", "removed"
			}
			if cmp == 0 {
				findings = append(findings, check.Finding{Code: "contract-changed-in-place", Kind: check.BadInput, File: file, Resource: id,
					Message: fmt.Sprintf("contract row %s %s but the contract version stays %s; a released version is immutable because specs pin it", id, what, c.Version),
					Fix:     fmt.Sprintf("restore row %s, or publish the change as a new contract version whose changelog entry lists %s under %s", id, id, list)})
				continue
			}
			if !named(id, list) {
				findings = append(findings, check.Finding{Code: "contract-change-unrecorded", Kind: check.BadInput, File: file, Resource: id,
					Message: fmt.Sprintf("contract row %s %s between %s and %s, but no changelog entry after %s lists it under %s", id, what, last.ContractVersion, c.Version, last.ContractVersion, list),
					Fix:     fmt.Sprintf("list %s under %s in the changelog entry of %s, so that the tenants that depend on it are told", id, list, c.Version)})
			}
		}
	}
	if len(findings) > 0 || cmp == 0 {
		return nil, findings
	}
	ch := &ContractChange{From: last.ContractVersion, To: c.Version, Changed: []string{}, Removed: []string{},
		Changelog: after, AmendmentRequired: []string{}}
	current := c.ResourceIDs()
	for _, id := range current {
		if named(id, "changed") {
			ch.Changed = append(ch.Changed, id)
		}
	}
	for _, e := range after {
		for _, id := range e.Removed {
			if !slices.Contains(current, id) && !slices.Contains(ch.Removed, id) {
				ch.Removed = append(ch.Removed, id)
			}
		}
	}
	slices.Sort(ch.Removed)
	return ch, nil
}

// notifyContractChange appends a contract.change record to the audit
// partition of every tenant, naming the tenant's own agents that must amend
// their specs, and one to the platform's naming them all.
func notifyContractChange(ctx context.Context, tx store.Tx, repo *fleet.Repo, ch *ContractChange, agents []store.Agent, at time.Time, by string) error {
	byTenant := map[string][]string{}
	for _, a := range agents {
		if slices.Contains(ch.AmendmentRequired, a.ID) {
			byTenant[a.TenantID] = append(byTenant[a.TenantID], a.ID)
		}
	}
	detail := func(amend []string) map[string]any {
		if amend == nil {
			amend = []string{}
		}
		entries := make([]map[string]any, 0, len(ch.Changelog))
		for _, e := range ch.Changelog {
			entries = append(entries, map[string]any{"version": e.Version, "date": e.Date, "summary": strings.Join(strings.Fields(e.Summary), " "),
				"changed": nonNil(e.Changed), "removed": nonNil(e.Removed)})
		}
		return map[string]any{"version": ch.To, "previous_version": ch.From, "changed": ch.Changed, "removed": ch.Removed,
			"changelog": entries, "amendment_required": amend}
	}
	for _, t := range repo.Config.Tenants {
		if err := appendAudit(ctx, tx, t.ID, at, by, "contract.change", "contract", "notified", detail(byTenant[t.ID])); err != nil {
			return err
		}
	}
	return appendAudit(ctx, tx, store.PlatformPartition, at, by, "contract.change", "contract", "notified", detail(ch.AmendmentRequired))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pendingContractChanges returns the rows a spec declares that changed
// after the contract version it pins (the oldest, if it pins none).
func pendingContractChanges(repo *fleet.Repo, s *spec.Spec) []fleet.RowChange {
	return repo.Contract.ChangesAfter(s.Front.Contract, s.Front.SharedResources)
}

// amendments returns the agents the change requires to amend; none for no change.
func (c *ContractChange) amendments() []string {
	if c == nil {
		return nil
	}
	return c.AmendmentRequired
}
