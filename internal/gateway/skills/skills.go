// Package skills is the gateway's skill registry, at /gateway/skills:
// tenants publish skills (a SKILL.md and a manifest) and read those they
// may see.
//
// Every released version is immutable: publishing the same version with
// other content is refused (409), the same content again is a no-op.
// Visibility is the manifest's and is enforced on every read, by the store
// as well (store.SkillTx):
//
//   - private (the default): the owner tenant only;
//   - cross-tenant-readable: any tenant may read it, naming its owner;
//   - fleet-wide: pushed to every tenant, listed for everyone. Only the
//     platform admin credential publishes fleet-wide skills, owned by the
//     platform (owner "_platform"): a skill every agent may load is a
//     platform-tier change, and a tenant asking for it gets 403.
//
// Reading another tenant's private skill answers exactly as a missing skill
// does (404) and leaves the same record in the reader's partition; it is
// also recorded as a Cat 4 cross-tenant attempt at the platform tier. A
// SKILL.md or manifest that carries a credential is refused (422), since
// the incident behind fleet.skill-visibility was a shared skill with an
// embedded API key.
//
// Every call is decided by the caller's effective constraints (action
// kinds skill_publish, skill_list and skill_read, with attributes
// publisher (the owner tenant, or "platform"), owner, skill and version)
// and audited in the caller's partition before the answer.
package skills

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/semver"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Prefix is where the registry is mounted.
const Prefix = "/gateway/skills"

// Bounds of a skill.
const (
	MaxNameBytes        = 64
	MaxDescriptionBytes = 1024
	MaxSkillMDBytes     = 256 << 10
)

// Platform is the owner of fleet-wide skills, and the publisher their
// decisions see.
const (
	Platform      = store.PlatformPartition
	publisherPlat = "platform"
)

var (
	// nameRE is a skill name: lower-case words joined by dashes.
	nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	// ownerRE is a tenant ID, or Platform.
	ownerRE = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*|_platform)$`)
)

// Options configures a Registry. It has no fields yet.
type Options struct{}

// Registry serves the skill registry. It is safe for concurrent use.
type Registry struct {
	g   *gateway.Gateway
	log *slog.Logger
}

// New returns the skill registry over g's store.
func New(g *gateway.Gateway, _ Options) *Registry {
	return &Registry{g: g, log: g.Logger()}
}

// Handler serves the registry under Prefix.
func (s *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+Prefix, s.handle("skill.publish", "skill_publish", s.publish))
	mux.Handle("GET "+Prefix, s.handle("skill.list", "skill_list", s.list))
	mux.Handle("GET "+Prefix+"/{owner}/{name}", s.handle("skill.get", "skill_read", s.get))
	mux.Handle("GET "+Prefix+"/{owner}/{name}/versions", s.handle("skill.versions", "skill_read", s.versions))
	mux.Handle("GET "+Prefix+"/{owner}/{name}/versions/{version}", s.handle("skill.get", "skill_read", s.get))
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Code: "not_found", Message: fmt.Sprintf("no route %s %s; see docs/gateway.md", r.Method, r.URL.Path)})
	})
	return mux
}

// authenticate resolves an agent key or a tenant token, or the platform
// admin token, which acts as the platform: its tenant is Platform, so that
// it reads as the platform and its records go to the platform partition.
func (s *Registry) authenticate(r *http.Request) (gateway.Caller, error) {
	c, err := s.g.Authenticate(r)
	if !errors.Is(err, gateway.ErrUnauthenticated) {
		return c, err
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return c, err
	}
	pr, aerr := s.g.Plane().Authenticate(r.Context(), tok)
	if aerr != nil || !pr.IsPlatform() {
		if aerr != nil && !errors.Is(aerr, auth.ErrUnauthenticated) {
			return gateway.Caller{}, aerr
		}
		return c, err
	}
	pr.TenantID = Platform
	return gateway.Caller{Principal: pr}, nil
}

// objectOf names what a request is about in its record.
func objectOf(r *http.Request) string {
	owner, name := r.PathValue("owner"), r.PathValue("name")
	if name == "" {
		return ""
	}
	obj := owner + "/" + name
	if v := r.PathValue("version"); v != "" {
		obj += "@" + v
	}
	return clip(obj)
}

// clip shortens s for a message or a record.
func clip(s string) string {
	if len(s) <= 160 {
		return s
	}
	return s[:157] + "..."
}

// Wire types.

type manifest struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
	Visibility  string `json:"visibility"`
}

type publishRequest struct {
	Manifest json.RawMessage `json:"manifest"`
	SkillMD  string          `json:"skill_md"`
	// The tenant to act as is the credential's: a value other than the
	// caller's tenant in any of these is a cross-tenant attempt.
	Owner     string `json:"owner"`
	Tenant    string `json:"tenant"`
	Namespace string `json:"namespace"`
}

type skillWire struct {
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Visibility  string    `json:"visibility"`
	Description string    `json:"description"`
	Digest      string    `json:"digest"`
	PublishedAt time.Time `json:"published_at"`
	// PublishedBy names the publishing principal, to the owner only.
	PublishedBy string `json:"published_by,omitempty"`
	SkillMD     string `json:"skill_md,omitempty"`
}

func (x *call) wire(sk store.Skill) skillWire {
	w := skillWire{Owner: sk.Owner, Name: sk.Name, Version: sk.Version, Visibility: sk.Visibility,
		Description: sk.Description, Digest: sk.Digest, PublishedAt: sk.PublishedAt, SkillMD: sk.SkillMD}
	if sk.Owner == x.rec.Caller.Tenant() {
		w.PublishedBy = sk.PublishedBy
	}
	return w
}

// digest is the content address of a version: its manifest and SKILL.md.
func digest(m manifest, md string) string {
	b, _ := json.Marshal(struct {
		manifest
		SkillMD string `json:"skill_md"`
	}{m, md}) // a struct of strings always encodes
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// validVersion reports whether v is a semantic version without a "v" or
// build metadata, e.g. 1.2.0 or 2.0.0-rc.1.
func validVersion(v string) bool {
	return v != "" && semver.IsValid("v"+v) && semver.Canonical("v"+v) == "v"+v
}

func publisher(owner string) string {
	if owner == Platform {
		return publisherPlat
	}
	return owner
}

func (s *Registry) publish(x *call) error {
	var req publishRequest
	if err := x.decode(&req); err != nil {
		return err
	}
	if err := x.namespaceOf(req.Owner, req.Tenant, req.Namespace); err != nil {
		return err
	}
	m, err := decodeManifest(req.Manifest)
	if err != nil {
		return err
	}
	owner := x.rec.Caller.Tenant()
	x.rec.Object = clip(owner + "/" + m.Name + "@" + m.Version)
	if len(m.Name) > MaxNameBytes || !nameRE.MatchString(m.Name) {
		return invalid("manifest.name", "%q: 1 to %d lower-case letters and digits, words joined by single dashes", clip(m.Name), MaxNameBytes)
	}
	if !validVersion(m.Version) {
		return invalid("manifest.version", "%q: a semantic version such as 1.2.0 or 2.0.0-rc.1, without a v or build metadata", clip(m.Version))
	}
	if strings.TrimSpace(m.Description) == "" || len(m.Description) > MaxDescriptionBytes || !utf8.ValidString(m.Description) {
		return invalid("manifest.description", "1 to %d bytes of UTF-8 saying what the skill does and when to use it", MaxDescriptionBytes)
	}
	switch {
	case m.Visibility == "" && owner == Platform:
		m.Visibility = store.VisibilityFleetWide
	case m.Visibility == "":
		m.Visibility = store.VisibilityPrivate
	case !store.ValidVisibility(m.Visibility):
		return invalid("manifest.visibility", "%q: private, cross-tenant-readable or fleet-wide", clip(m.Visibility))
	case m.Visibility == store.VisibilityFleetWide && owner != Platform:
		return &failure{status: http.StatusForbidden, code: "forbidden", field: "manifest.visibility", contract: "fleet.skill-visibility",
			msg: "only the platform admin credential publishes fleet-wide skills, which every tenant receives; publish it private or cross-tenant-readable"}
	case m.Visibility != store.VisibilityFleetWide && owner == Platform:
		return invalid("manifest.visibility", "the platform publishes fleet-wide skills only")
	}
	if err := checkSkillMD(req.SkillMD, m.Name); err != nil {
		return err
	}
	for _, part := range []struct {
		field string
		v     any
	}{{"manifest", map[string]any{"name": m.Name, "version": m.Version, "description": m.Description}}, {"skill_md", req.SkillMD}} {
		if kind, found := s.g.CredentialIn(part.v); found {
			return &failure{status: http.StatusUnprocessableEntity, code: "credential_detected", field: part.field, contract: "fleet.skill-visibility",
				msg: fmt.Sprintf("%s carries a credential (%s); a skill must not embed one. Nothing was published", part.field, kind)}
		}
	}
	if err := x.decide("write", map[string]any{"publisher": publisher(owner), "owner": owner, "skill": m.Name,
		"version": m.Version, "visibility": m.Visibility}); err != nil {
		return err
	}
	sk := store.Skill{Owner: owner, Name: m.Name, Version: m.Version, Visibility: m.Visibility, Description: m.Description,
		SkillMD: req.SkillMD, Digest: digest(m, req.SkillMD), PublishedAt: s.g.Now(), PublishedBy: x.rec.Caller.Principal.String()}
	var stored store.Skill
	status := http.StatusOK
	detail := map[string]any{"visibility": m.Visibility, "digest": sk.Digest}
	err = x.finish(detail, func(tx store.Tx) error {
		got, created, err := tx.PublishSkill(x.r.Context(), sk)
		if err != nil {
			return err
		}
		stored = got
		if created {
			status = http.StatusCreated
		}
		detail["created"] = created
		return nil
	}, func() int { return status }, func() any { return x.wire(stored) })
	if errors.Is(err, store.ErrConflict) {
		return &failure{status: http.StatusConflict, code: "conflict", field: "manifest.version",
			msg: fmt.Sprintf("version %s of skill %s is released with other content and is immutable; publish a new version", m.Version, m.Name)}
	}
	return err
}

// decodeManifest strictly decodes a manifest; errors name the field
// within it.
func decodeManifest(raw json.RawMessage) (manifest, error) {
	var m manifest
	if len(raw) == 0 || string(raw) == "null" {
		return m, invalid("manifest", "send the manifest: name, version, description and visibility")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var f *failure
		if errors.As(jsonError(err), &f) && f.field != "" {
			return m, invalid("manifest."+f.field, "%s", strings.TrimPrefix(f.msg, f.field+": "))
		}
		return m, invalid("manifest", "a JSON object of name, version, description and visibility")
	}
	return m, nil
}

// checkSkillMD checks a SKILL.md: UTF-8 text within the bound, whose front
// matter, if it has one, names the manifest's skill.
func checkSkillMD(md, name string) error {
	if strings.TrimSpace(md) == "" || len(md) > MaxSkillMDBytes || !utf8.ValidString(md) {
		return invalid("skill_md", "1 to %d bytes of UTF-8: the SKILL.md text", MaxSkillMDBytes)
	}
	rest, ok := strings.CutPrefix(strings.ReplaceAll(md, "\r\n", "\n"), "---\n")
	if !ok {
		return nil
	}
	front, _, ok := strings.Cut(rest, "\n---")
	if !ok {
		return invalid("skill_md", "the front matter opened by --- is not closed")
	}
	var fm struct {
		Name any `yaml:"name"`
	}
	if err := yaml.Unmarshal([]byte(front), &fm); err != nil {
		return invalid("skill_md", "the front matter is not YAML: %v", err)
	}
	if fm.Name != nil && fmt.Sprint(fm.Name) != name {
		return invalid("skill_md", "the front matter names the skill %q, the manifest %q", clip(fmt.Sprint(fm.Name)), name)
	}
	return nil
}

// path validates the owner, name and version of the path.
func (x *call) path() (owner, name, version string, err error) {
	owner, name, version = x.r.PathValue("owner"), x.r.PathValue("name"), x.r.PathValue("version")
	switch {
	case !ownerRE.MatchString(owner) || len(owner) > MaxNameBytes:
		return "", "", "", invalid("owner", "%q is not a tenant ID or %s", clip(owner), Platform)
	case len(name) > MaxNameBytes || !nameRE.MatchString(name):
		return "", "", "", invalid("name", "%q is not a skill name", clip(name))
	case x.r.PathValue("version") != "" && !validVersion(version):
		return "", "", "", invalid("version", "%q is not a semantic version", clip(version))
	}
	return owner, name, version, nil
}

// read decides a read of owner's skill and reads it as the caller. A skill
// the caller may not see answers as a missing one; another tenant's
// private skill is also a cross-tenant attempt.
func (s *Registry) read(x *call, owner, name, version string) (store.Skill, error) {
	attrs := map[string]any{"publisher": publisher(owner), "owner": owner, "skill": name}
	if version != "" {
		attrs["version"] = version
	}
	if err := x.decide("read", attrs); err != nil {
		return store.Skill{}, err
	}
	sk, err := s.g.Store().GetSkill(x.r.Context(), x.rec.Caller.Tenant(), owner, name, version)
	switch {
	case errors.Is(err, store.ErrNotVisible):
		f := *notFound(owner, name, version)
		f.cross = true
		return store.Skill{}, &f
	case errors.Is(err, store.ErrNotFound):
		return store.Skill{}, notFound(owner, name, version)
	}
	return sk, err
}

func (s *Registry) get(x *call) error {
	owner, name, version, err := x.path()
	if err != nil {
		return err
	}
	sk, err := s.read(x, owner, name, version)
	if err != nil {
		return err
	}
	return x.finish(map[string]any{"version": sk.Version, "visibility": sk.Visibility}, nil,
		func() int { return http.StatusOK }, func() any { return x.wire(sk) })
}

func (s *Registry) versions(x *call) error {
	owner, name, _, err := x.path()
	if err != nil {
		return err
	}
	if _, err := s.read(x, owner, name, ""); err != nil {
		return err
	}
	vs, err := s.g.Store().ListSkillVersions(x.r.Context(), x.rec.Caller.Tenant(), owner, name)
	if err != nil {
		return err
	}
	out := make([]skillWire, 0, len(vs))
	for _, v := range vs {
		out = append(out, x.wire(v))
	}
	return x.finish(map[string]any{"versions": len(out)}, nil, func() int { return http.StatusOK },
		func() any { return map[string]any{"versions": out} })
}

func (s *Registry) list(x *call) error {
	q := x.r.URL.Query()
	f := store.SkillFilter{Owner: q.Get("owner"), Visibility: q.Get("visibility")}
	if f.Owner != "" && (!ownerRE.MatchString(f.Owner) || len(f.Owner) > MaxNameBytes) {
		return invalid("owner", "%q is not a tenant ID or %s", clip(f.Owner), Platform)
	}
	if f.Visibility != "" && !store.ValidVisibility(f.Visibility) {
		return invalid("visibility", "%q: private, cross-tenant-readable or fleet-wide", clip(f.Visibility))
	}
	attrs := map[string]any{}
	if f.Owner != "" {
		attrs["owner"], attrs["publisher"] = f.Owner, publisher(f.Owner)
	}
	if f.Visibility != "" {
		attrs["visibility"] = f.Visibility
	}
	if err := x.decide("read", attrs); err != nil {
		return err
	}
	sks, err := s.g.Store().ListSkills(x.r.Context(), x.rec.Caller.Tenant(), f)
	if err != nil {
		return err
	}
	out := make([]skillWire, 0, len(sks))
	for _, sk := range sks {
		out = append(out, x.wire(sk))
	}
	return x.finish(map[string]any{"skills": len(out)}, nil, func() int { return http.StatusOK },
		func() any { return map[string]any{"skills": out} })
}
