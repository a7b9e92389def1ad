package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func skill(owner, name, version, visibility string) store.Skill {
	md := fmt.Sprintf("---\nname: %s\ndescription: test skill\n---\n# %s %s\n", name, name, version)
	return store.Skill{Owner: owner, Name: name, Version: version, Visibility: visibility,
		Description: "the " + name + " skill", SkillMD: md, Digest: fmt.Sprintf("sha256:%s-%s-%s-%s", owner, name, version, visibility),
		PublishedAt: at(time.Minute), PublishedBy: "tenant:" + owner + ":cred"}
}

// storedSkill is s as reads return it; header drops the SKILL.md as lists do.
func storedSkill(s store.Skill, header bool) store.Skill {
	s.PublishedAt = norm(s.PublishedAt)
	if header {
		s.SkillMD = ""
	}
	return s
}

func publish(t *testing.T, s store.Tx, sk store.Skill) {
	t.Helper()
	got, created, err := s.PublishSkill(t.Context(), sk)
	if err != nil || !created {
		t.Fatalf("PublishSkill(%s/%s@%s) = %v, %v; want created", sk.Owner, sk.Name, sk.Version, created, err)
	}
	check(t, "PublishSkill", got, storedSkill(sk, false))
}

func testSkillPublish(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := skill("acme", "cite", "1.0.0", store.VisibilityPrivate)
	publish(t, s, first)

	// The same content again is a no-op that returns what is stored.
	again := first
	again.PublishedAt, again.PublishedBy = at(time.Hour), "someone else"
	got, created, err := s.PublishSkill(ctx, again)
	if err != nil || created {
		t.Fatalf("PublishSkill(same content) = %v, %v; want a no-op", created, err)
	}
	check(t, "PublishSkill(same content)", got, storedSkill(first, false))

	// A released version is immutable, its visibility included.
	changed := first
	changed.SkillMD, changed.Digest = "# changed", "sha256:changed"
	_, _, err = s.PublishSkill(ctx, changed)
	wantErr(t, "PublishSkill(other content)", err, store.ErrConflict)
	got, err = s.GetSkill(ctx, "acme", "acme", "cite", "1.0.0")
	wantErr(t, "GetSkill(acme/cite@1.0.0)", err, nil)
	check(t, "GetSkill after a refused publish", got, storedSkill(first, false))

	// Another owner's skill of the same name and version is another skill.
	publish(t, s, skill("beta", "cite", "1.0.0", store.VisibilityPrivate))

	for _, bad := range []store.Skill{
		skill("", "x", "1.0.0", store.VisibilityPrivate),
		skill("acme", "", "1.0.0", store.VisibilityPrivate),
		skill("acme", "x", "", store.VisibilityPrivate),
		skill("acme", "x", "1.0.0", "public"),
		func() store.Skill { s := skill("acme", "x", "1.0.0", store.VisibilityPrivate); s.Digest = ""; return s }(),
	} {
		if _, _, err := s.PublishSkill(ctx, bad); err == nil {
			t.Errorf("PublishSkill(%+v) = nil, want an error", bad)
		}
	}
}

// testSkillVisibility checks that every read enforces visibility and tells
// a hidden skill from a missing one only through ErrNotVisible.
func testSkillVisibility(t *testing.T, s store.Store) {
	ctx := t.Context()
	priv := skill("acme", "scrape", "1.0.0", store.VisibilityPrivate)
	shared := skill("acme", "cite", "1.0.0", store.VisibilityCrossTenant)
	fleet := skill(store.PlatformPartition, "style", "2.0.0", store.VisibilityFleetWide)
	for _, sk := range []store.Skill{priv, shared, fleet} {
		publish(t, s, sk)
	}
	tests := []struct {
		reader, owner, name, version string
		want                         store.Skill
		err                          error
	}{
		{"acme", "acme", "scrape", "", priv, nil},
		{"acme", "acme", "scrape", "1.0.0", priv, nil},
		{"beta", "acme", "cite", "", shared, nil},
		{"beta", "acme", "cite", "1.0.0", shared, nil},
		{"beta", store.PlatformPartition, "style", "", fleet, nil},
		{"acme", store.PlatformPartition, "style", "2.0.0", fleet, nil},
		{"beta", "acme", "scrape", "", store.Skill{}, store.ErrNotVisible},
		{"beta", "acme", "scrape", "1.0.0", store.Skill{}, store.ErrNotVisible},
		{"beta", "acme", "nope", "", store.Skill{}, store.ErrNotFound},
		{"beta", "acme", "scrape", "9.9.9", store.Skill{}, store.ErrNotFound},
		{"acme", "acme", "nope", "", store.Skill{}, store.ErrNotFound},
	}
	for _, tc := range tests {
		call := fmt.Sprintf("GetSkill(%s reads %s/%s@%s)", tc.reader, tc.owner, tc.name, tc.version)
		got, err := s.GetSkill(ctx, tc.reader, tc.owner, tc.name, tc.version)
		wantErr(t, call, err, tc.err)
		if tc.err == nil {
			check(t, call, got, storedSkill(tc.want, false))
			continue
		}
		// A hidden skill is also not found; a missing one is never hidden.
		if !errors.Is(err, store.ErrNotFound) || (tc.err == store.ErrNotFound) == errors.Is(err, store.ErrNotVisible) {
			t.Errorf("%s = %v, want %v only", call, err, tc.err)
		}
		if got != (store.Skill{}) {
			t.Errorf("%s returned %+v with its error", call, got)
		}
	}

	list, err := s.ListSkills(ctx, "beta", store.SkillFilter{})
	wantErr(t, "ListSkills(beta)", err, nil)
	check(t, "ListSkills(beta)", list, []store.Skill{storedSkill(fleet, true), storedSkill(shared, true)})
	list, err = s.ListSkills(ctx, "acme", store.SkillFilter{})
	wantErr(t, "ListSkills(acme)", err, nil)
	check(t, "ListSkills(acme)", list, []store.Skill{storedSkill(fleet, true), storedSkill(shared, true), storedSkill(priv, true)})
	list, err = s.ListSkills(ctx, "beta", store.SkillFilter{Owner: "acme"})
	wantErr(t, "ListSkills(beta, owner acme)", err, nil)
	check(t, "ListSkills(beta, owner acme)", list, []store.Skill{storedSkill(shared, true)})
	list, err = s.ListSkills(ctx, "beta", store.SkillFilter{Visibility: store.VisibilityPrivate})
	if err != nil || !empty(list) {
		t.Errorf("ListSkills(beta, private) = %v, %v; want none", list, err)
	}
	list, err = s.ListSkills(ctx, "acme", store.SkillFilter{Visibility: store.VisibilityFleetWide})
	wantErr(t, "ListSkills(acme, fleet-wide)", err, nil)
	check(t, "ListSkills(acme, fleet-wide)", list, []store.Skill{storedSkill(fleet, true)})
	vs, err := s.ListSkillVersions(ctx, "beta", "acme", "scrape")
	if err != nil || !empty(vs) {
		t.Errorf("ListSkillVersions(beta reads acme/scrape) = %v, %v; want none", vs, err)
	}
}

// testSkillVersions checks the latest version and visibility per version.
func testSkillVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1 := skill("acme", "cite", "1.2.0", store.VisibilityCrossTenant)
	v2 := skill("acme", "cite", "1.10.0", store.VisibilityCrossTenant)
	rc := skill("acme", "cite", "2.0.0-rc.1", store.VisibilityCrossTenant)
	v3 := skill("acme", "cite", "3.0.0", store.VisibilityPrivate)
	for _, sk := range []store.Skill{v2, rc, v1, v3} {
		publish(t, s, sk)
	}
	tests := []struct {
		reader string
		want   store.Skill
	}{
		// 1.10.0 is above 1.2.0; a release is above a pre-release, even a
		// higher one; the private 3.0.0 is the owner's alone.
		{"beta", v2},
		{"acme", v3},
	}
	for _, tc := range tests {
		got, err := s.GetSkill(ctx, tc.reader, "acme", "cite", "")
		wantErr(t, "GetSkill("+tc.reader+" reads latest)", err, nil)
		check(t, "GetSkill("+tc.reader+" reads latest)", got, storedSkill(tc.want, false))
		list, err := s.ListSkills(ctx, tc.reader, store.SkillFilter{})
		wantErr(t, "ListSkills("+tc.reader+")", err, nil)
		check(t, "ListSkills("+tc.reader+")", list, []store.Skill{storedSkill(tc.want, true)})
	}
	vs, err := s.ListSkillVersions(ctx, "beta", "acme", "cite")
	wantErr(t, "ListSkillVersions(beta)", err, nil)
	check(t, "ListSkillVersions(beta)", vs, []store.Skill{storedSkill(v1, true), storedSkill(v2, true), storedSkill(rc, true)})
	vs, err = s.ListSkillVersions(ctx, "acme", "acme", "cite")
	wantErr(t, "ListSkillVersions(acme)", err, nil)
	check(t, "ListSkillVersions(acme)", vs, []store.Skill{storedSkill(v1, true), storedSkill(v2, true), storedSkill(rc, true), storedSkill(v3, true)})

	// Only pre-releases: the highest is the latest.
	publish(t, s, skill("acme", "beta-only", "0.1.0-alpha", store.VisibilityPrivate))
	publish(t, s, skill("acme", "beta-only", "0.1.0-beta", store.VisibilityPrivate))
	got, err := s.GetSkill(ctx, "acme", "acme", "beta-only", "")
	wantErr(t, "GetSkill(acme/beta-only)", err, nil)
	if got.Version != "0.1.0-beta" {
		t.Errorf("GetSkill(acme/beta-only) = %s, want 0.1.0-beta", got.Version)
	}
}
