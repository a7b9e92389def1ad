package schema

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// files holds the verbatim upstream schemas; see schemas/README.md.
//
//go:embed all:schemas
var files embed.FS

// baseURL is the origin the relative $ids ("/schemas/...") resolve against. It is the
// upstream site; nothing is ever fetched from it: the loader serves only embedded files.
const baseURL = "https://adcontextprotocol.org"

// loader resolves $ids and $refs to the embedded files. It implements jsonschema.URLLoader.
type loader struct{}

// Load returns the decoded schema at url, or an error wrapping fs.ErrNotExist when url is not
// an embedded schema.
func (loader) Load(url string) (any, error) {
	name, ok := embeddedName(url)
	if !ok {
		return nil, fmt.Errorf("schema: load %s: %w (only embedded AdCP schemas are served)", url, fs.ErrNotExist)
	}
	f, err := files.Open(name)
	if err != nil {
		return nil, fmt.Errorf("schema: load %s: %w", url, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("schema: decode %s: %w", name, err)
	}
	return doc, nil
}

// embeddedName maps "https://adcontextprotocol.org/schemas/3.0.6/core/x.json" to
// "schemas/3.0.6/core/x.json" and "…/schemas/core/x.json" to "schemas/head/core/x.json".
func embeddedName(url string) (string, bool) {
	url, _, _ = strings.Cut(url, "#")
	rest, ok := strings.CutPrefix(url, baseURL+"/schemas/")
	if !ok || rest == "" || strings.Contains(rest, "..") {
		return "", false
	}
	dir := head.dir
	for _, r := range releases {
		if r.dir != head.dir && strings.HasPrefix(rest, r.dir+"/") {
			dir, rest = r.dir, strings.TrimPrefix(rest, r.dir+"/")
			break
		}
	}
	return "schemas/" + dir + "/" + rest, true
}

// registry compiles schemas on first use and keeps them. Compiled schemas are immutable and
// safe for concurrent validation; compiling is serialized because the compiler is not safe
// for concurrent use.
type registry struct {
	mu       sync.Mutex // guards compiler
	compiler *jsonschema.Compiler

	ids      sync.Map // taskKey → schema $id
	compiled sync.Map // schema $id → *jsonschema.Schema
	raw      sync.Map // embedded file name → decoded JSON, for error messages
}

func newRegistry() *registry {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(loader{})
	c.UseRegexpEngine(compileRegexp)
	// The official harness (@adcp/sdk, ajv + ajv-formats) asserts formats; so do we, with
	// ajv-formats' definitions of the formats the schemas use.
	c.AssertFormat()
	for _, f := range ajvFormats() {
		c.RegisterFormat(f)
	}
	return &registry{compiler: c}
}

// defaultRegistry is shared by the package-level functions.
var defaultRegistry = sync.OnceValue(newRegistry)

// schema returns the compiled schema with the given $id.
func (r *registry) schema(id string) (*jsonschema.Schema, error) {
	if s, ok := r.compiled.Load(id); ok {
		return s.(*jsonschema.Schema), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.compiled.Load(id); ok {
		return s.(*jsonschema.Schema), nil
	}
	s, err := r.compiler.Compile(baseURL + id)
	if err != nil {
		return nil, fmt.Errorf("schema: compile %s: %w", id, err)
	}
	r.compiled.Store(id, s)
	return s, nil
}

// rawAt returns the raw JSON value at the schema location loc (a URL whose fragment is a JSON
// pointer), or nil when it cannot be found.
func (r *registry) rawAt(loc string) any {
	url, ptr, _ := strings.Cut(loc, "#")
	name, ok := embeddedName(url)
	if !ok {
		return nil
	}
	doc, ok := r.raw.Load(name)
	if !ok {
		v, err := loader{}.Load(url)
		if err != nil {
			return nil
		}
		doc, _ = r.raw.LoadOrStore(name, v)
	}
	return resolvePointer(doc, ptr)
}

// resolvePointer walks a JSON pointer ("/allOf/2/then") into v.
func resolvePointer(v any, ptr string) any {
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := v.(type) {
		case map[string]any:
			v = n[tok]
		case []any:
			i, ok := index(tok)
			if !ok || i >= len(n) {
				return nil
			}
			v = n[i]
		default:
			return nil
		}
	}
	return v
}

func index(tok string) (int, bool) {
	if tok == "" || len(tok) > 9 {
		return 0, false
	}
	i := 0
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}
