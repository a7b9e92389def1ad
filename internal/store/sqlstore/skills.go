package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/fleetgov/fleetgov/internal/store"
)

// This file implements store.SkillTx. Visibility is enforced in the
// queries: a read selects the rows the reader owns or that are not
// private, except GetSkill, which reads the one version asked for and
// answers ErrNotVisible for another owner's private one without returning
// it.

const (
	skillCols       = `owner, name, version, visibility, description, skill_md, digest, published_at, published_by`
	skillHeaderCols = `owner, name, version, visibility, description, '', digest, published_at, published_by`
	// visibleTo is the condition a reader ($1) may see a row under.
	visibleTo = `(owner = $1 OR visibility <> 'private')`
)

func scanSkill(sc scanner) (store.Skill, error) {
	var s store.Skill
	err := sc.Scan(&s.Owner, &s.Name, &s.Version, &s.Visibility, &s.Description, &s.SkillMD, &s.Digest,
		timeCol{&s.PublishedAt}, &s.PublishedBy)
	return s, err
}

// compareVersions orders semantic versions by precedence, then bytewise.
func compareVersions(a, b string) int {
	if c := semver.Compare("v"+a, "v"+b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// compareLatest orders versions for "latest": a release above every
// pre-release, then by compareVersions.
func compareLatest(a, b string) int {
	pa, pb := semver.Prerelease("v"+a) != "", semver.Prerelease("v"+b) != ""
	switch {
	case pa && !pb:
		return -1
	case pb && !pa:
		return 1
	}
	return compareVersions(a, b)
}

// visible reports whether reader may see a skill of owner.
func visible(reader, owner, visibility string) bool {
	return owner == reader || visibility != store.VisibilityPrivate
}

func (x *tx) PublishSkill(ctx context.Context, s store.Skill) (store.Skill, bool, error) {
	if s.Owner == "" || s.Name == "" || s.Version == "" || s.Digest == "" || !store.ValidVisibility(s.Visibility) {
		return store.Skill{}, false, x.errorf("publish skill %q: a skill needs an owner, a name, a version, a digest and a known visibility", s.Name)
	}
	ok, err := x.execOne(ctx, `INSERT INTO skills (`+skillCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (owner, name, version) DO NOTHING`,
		s.Owner, s.Name, s.Version, s.Visibility, s.Description, s.SkillMD, s.Digest, x.time(s.PublishedAt), s.PublishedBy)
	if err != nil {
		return store.Skill{}, false, x.errorf("publish skill %s/%s@%s: %w", s.Owner, s.Name, s.Version, err)
	}
	if ok {
		s.PublishedAt = normTime(s.PublishedAt)
		return s, true, nil
	}
	prev, err := x.skillVersion(ctx, s.Owner, s.Name, s.Version)
	if err != nil {
		return store.Skill{}, false, x.errorf("publish skill %s/%s@%s: %w", s.Owner, s.Name, s.Version, err)
	}
	if prev.Digest != s.Digest {
		return store.Skill{}, false, x.errorf("publish skill %s/%s@%s: released with other content: %w", s.Owner, s.Name, s.Version, store.ErrConflict)
	}
	return prev, false, nil
}

// skillVersion reads one version whatever its visibility.
func (x *tx) skillVersion(ctx context.Context, owner, name, version string) (store.Skill, error) {
	s, err := scanSkill(x.queryRow(ctx, `SELECT `+skillCols+` FROM skills WHERE owner = $1 AND name = $2 AND version = $3`,
		owner, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Skill{}, store.ErrNotFound
	}
	return s, err
}

func (x *tx) GetSkill(ctx context.Context, reader, owner, name, version string) (store.Skill, error) {
	if version == "" {
		vs, err := x.skillVersions(ctx, owner, name)
		if err != nil {
			return store.Skill{}, x.errorf("skill %s/%s: %w", owner, name, err)
		}
		if len(vs) == 0 {
			return store.Skill{}, x.errorf("skill %s/%s: %w", owner, name, store.ErrNotFound)
		}
		for _, v := range vs {
			if visible(reader, owner, v.visibility) && (version == "" || compareLatest(v.version, version) > 0) {
				version = v.version
			}
		}
		if version == "" {
			return store.Skill{}, x.errorf("skill %s/%s: %w", owner, name, store.ErrNotVisible)
		}
	}
	s, err := x.skillVersion(ctx, owner, name, version)
	if err != nil {
		return store.Skill{}, x.errorf("skill %s/%s@%s: %w", owner, name, version, err)
	}
	if !visible(reader, s.Owner, s.Visibility) {
		return store.Skill{}, x.errorf("skill %s/%s@%s: %w", owner, name, version, store.ErrNotVisible)
	}
	return s, nil
}

// skillVersionRow is a version and its visibility.
type skillVersionRow struct{ version, visibility string }

// skillVersions returns every version of a skill, whatever its visibility.
func (x *tx) skillVersions(ctx context.Context, owner, name string) ([]skillVersionRow, error) {
	rows, err := x.query(ctx, `SELECT version, visibility FROM skills WHERE owner = $1 AND name = $2`, owner, name)
	if err != nil {
		return nil, err
	}
	vs, err := collect(rows, func(sc scanner) (skillVersionRow, error) {
		var v skillVersionRow
		err := sc.Scan(&v.version, &v.visibility)
		return v, err
	})
	if err != nil {
		return nil, err
	}
	return vs, nil
}

func (x *tx) ListSkills(ctx context.Context, reader string, f store.SkillFilter) ([]store.Skill, error) {
	w := &where{}
	w.arg(reader)
	w.add(visibleTo)
	w.eq("owner", f.Owner)
	w.eq("visibility", f.Visibility)
	rows, err := x.query(ctx, `SELECT `+skillHeaderCols+` FROM skills`+w.String()+` ORDER BY owner, name`, w.args...)
	if err != nil {
		return nil, x.errorf("list skills: %w", err)
	}
	all, err := collect(rows, scanSkill)
	if err != nil {
		return nil, x.errorf("list skills: %w", err)
	}
	var out []store.Skill
	for _, s := range all {
		if n := len(out); n > 0 && out[n-1].Owner == s.Owner && out[n-1].Name == s.Name {
			if compareLatest(s.Version, out[n-1].Version) > 0 {
				out[n-1] = s
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func (x *tx) ListSkillVersions(ctx context.Context, reader, owner, name string) ([]store.Skill, error) {
	rows, err := x.query(ctx, `SELECT `+skillHeaderCols+` FROM skills WHERE `+visibleTo+` AND owner = $2 AND name = $3`,
		reader, owner, name)
	if err != nil {
		return nil, x.errorf("versions of skill %s/%s: %w", owner, name, err)
	}
	vs, err := collect(rows, scanSkill)
	if err != nil {
		return nil, x.errorf("versions of skill %s/%s: %w", owner, name, err)
	}
	slices.SortFunc(vs, func(a, b store.Skill) int { return compareVersions(a.Version, b.Version) })
	return vs, nil
}

// PublishSkill implements store.Tx.
func (s *Store) PublishSkill(ctx context.Context, sk store.Skill) (store.Skill, bool, error) {
	var out store.Skill
	var created bool
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		out, created, err = tx.PublishSkill(ctx, sk)
		return err
	})
	return out, created, err
}

// GetSkill implements store.Tx.
func (s *Store) GetSkill(ctx context.Context, reader, owner, name, version string) (store.Skill, error) {
	return s.reader().GetSkill(ctx, reader, owner, name, version)
}

// ListSkills implements store.Tx.
func (s *Store) ListSkills(ctx context.Context, reader string, f store.SkillFilter) ([]store.Skill, error) {
	return s.reader().ListSkills(ctx, reader, f)
}

// ListSkillVersions implements store.Tx.
func (s *Store) ListSkillVersions(ctx context.Context, reader, owner, name string) ([]store.Skill, error) {
	return s.reader().ListSkillVersions(ctx, reader, owner, name)
}
