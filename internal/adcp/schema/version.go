package schema

import (
	"fmt"
	"regexp"
)

// Version is an AdCP wire version at release precision ("3.0", "3.1", "3.2"). Patches do not
// change the wire shape, so each release maps to one embedded schema set: the newest patch
// fleetgov carries.
type Version string

// The wire versions fleetgov validates.
const (
	V30 Version = "3.0" // validated with the released 3.0.6 schemas
	V31 Version = "3.1" // validated with the released 3.1.19 schemas
	V32 Version = "3.2" // validated with the 3.2.0-beta.5 source schemas (upstream head)
)

// Versions returns the supported versions, oldest first.
func Versions() []Version { return []Version{V30, V31, V32} }

// release describes the embedded schema set of one version.
type release struct {
	name   string // upstream release the files come from
	dir    string // folder under schemas/
	prefix string // $id prefix of its files
}

var releases = map[Version]release{
	V30: {name: "3.0.6", dir: "3.0.6", prefix: "/schemas/3.0.6/"},
	V31: {name: "3.1.19", dir: "3.1.19", prefix: "/schemas/3.1.19/"},
	V32: {name: "3.2.0-beta.5", dir: "head", prefix: "/schemas/"},
}

// head is the upstream source set; tasks a released set lacks fall back to it.
var head = releases[V32]

// Release returns the upstream release whose schemas validate v, such as "3.0.6", or "" for
// an unknown version.
func (v Version) Release() string { return releases[v].name }

// String returns the release-precision form, such as "3.1".
func (v Version) String() string { return string(v) }

// versionRE matches what the AdCP wire uses: adcp_version ("3.1", "3.1-beta", "3.1-rc.1") and
// full releases ("3.0.6", "3.2.0-beta.5").
var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.\d+)?(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)

// ParseVersion maps a version string to the Version whose schemas apply. It accepts the
// release-precision wire form ("3.0", "3.1", "3.2-beta", "3.2-beta.5") and full releases
// ("3.0.6", "3.0.26", "3.1.19", "3.2.0-beta.5"), with an optional "v" prefix. Any patch or
// pre-release of a supported release maps to that release. Anything else, including a bare
// major ("3"), is ErrUnknownVersion.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("%w: %q is not an AdCP version such as \"3.1\" or \"3.0.6\"", ErrUnknownVersion, s)
	}
	v := Version(m[1] + "." + m[2])
	if _, ok := releases[v]; !ok {
		return "", fmt.Errorf("%w: %q (supported: 3.0, 3.1, 3.2)", ErrUnknownVersion, s)
	}
	return v, nil
}
