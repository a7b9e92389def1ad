package store

import (
	"context"
	"fmt"
	"time"
)

// ErrNotVisible is a skill that exists but is private to another tenant.
// It wraps ErrNotFound, so that a caller that only checks ErrNotFound
// answers it as a missing skill; the gateway checks it to record the
// attempt as a cross-tenant one. It never comes with the skill.
var ErrNotVisible = fmt.Errorf("store: another tenant's private skill: %w", ErrNotFound)

// SkillTx is the gateway's skill registry: released versions of skills
// (a SKILL.md and its manifest), each owned by a tenant or, for fleet-wide
// skills, by the platform (PlatformPartition). A released version is
// immutable.
//
// Reads take the reading tenant and enforce visibility: a reader sees its
// own skills and the cross-tenant-readable and fleet-wide skills of
// others, never another owner's private ones. Versions order by semantic
// version precedence.
type SkillTx interface {
	// PublishSkill stores a released version. If (Owner, Name, Version)
	// exists with the same Digest it is a no-op that returns the stored
	// version and false; with another Digest it is ErrConflict and nothing
	// changes. Otherwise it stores s and returns it and true.
	PublishSkill(ctx context.Context, s Skill) (Skill, bool, error)
	// GetSkill returns a version of owner's skill as reader sees it. An
	// empty version is the reader's latest: the highest release version it
	// may see, or the highest pre-release if it may see no release. A skill
	// (or version) that does not exist is ErrNotFound; one that exists but
	// is private to another owner is ErrNotVisible.
	GetSkill(ctx context.Context, reader, owner, name, version string) (Skill, error)
	// ListSkills returns, for each skill the reader may see that matches
	// f, the reader's latest version (as GetSkill's) without its SKILL.md
	// (SkillMD empty), ordered by owner, then name.
	ListSkills(ctx context.Context, reader string, f SkillFilter) ([]Skill, error)
	// ListSkillVersions returns the versions of owner's skill that the
	// reader may see, lowest first, without their SKILL.md; nil when none.
	ListSkillVersions(ctx context.Context, reader, owner, name string) ([]Skill, error)
}

// Skill visibilities.
const (
	// VisibilityPrivate: the owner tenant only.
	VisibilityPrivate = "private"
	// VisibilityCrossTenant: any tenant may read it.
	VisibilityCrossTenant = "cross-tenant-readable"
	// VisibilityFleetWide: pushed to every tenant; published by the
	// platform.
	VisibilityFleetWide = "fleet-wide"
)

// ValidVisibility reports whether v is one of the Visibility constants.
func ValidVisibility(v string) bool {
	return v == VisibilityPrivate || v == VisibilityCrossTenant || v == VisibilityFleetWide
}

// Skill is one released version of a skill.
type Skill struct {
	Owner       string // the owning tenant, or PlatformPartition
	Name        string
	Version     string // a semantic version, e.g. 1.2.0
	Visibility  string
	Description string
	SkillMD     string // the SKILL.md text
	Digest      string // "sha256:<hex>" of the manifest and SKILL.md
	PublishedAt time.Time
	PublishedBy string // the principal that published it
}

// SkillFilter selects skills; empty fields match everything.
type SkillFilter struct {
	Owner      string
	Visibility string
}
