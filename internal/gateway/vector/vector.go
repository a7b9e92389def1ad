// Package vector is the gateway's vector store, at /gateway/vector/:
// collections of embedding vectors in per-tenant namespaces, with upsert,
// exact similarity query (cosine, dot product or Euclidean distance, with a
// metadata equality filter) and delete.
//
// The namespace is the tenant of the caller's credential (an agent key or
// a tenant token), never anything the request says. A request that names
// another namespace or tenant, in a body field, a query parameter or a
// header, is refused as a cross-tenant attempt and recorded as a Cat 4
// event at the platform tier; its answer is the same whatever it named.
// The store partitions by tenant too (store.VectorTx), so another tenant's
// collection of the same name is simply not there: it answers exactly as a
// missing one.
//
// Every call is decided by the caller's effective constraints (action
// kinds vector_create, vector_list, vector_describe, vector_drop,
// vector_upsert, vector_fetch, vector_query and vector_delete, with
// attributes.namespace set to the tenant and the collection as the
// resource), and leaves an audit record in the tenant's partition; a write
// and its record commit in one transaction, and every answer waits for its
// record to be durable.
//
// Queries are exact and brute force: each one reads and scores every
// vector of the collection. That suits collections up to about 100,000
// vectors (DefaultMaxPoints): at 768 dimensions a query reads about 300 MB
// at that size. Larger corpora belong in a dedicated vector database.
package vector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Prefix is where the vector store is mounted.
const Prefix = "/gateway/vector"

// Bounds of a request.
const (
	MaxDims          = 4096     // dimensions of a collection
	MaxTopK          = 100      // matches of a query
	DefaultTopK      = 10       // matches of a query that names no top_k
	MaxBatch         = 1000     // points of an upsert, IDs of a fetch or delete
	MaxIDBytes       = 256      // a point ID
	MaxMetadataBytes = 16 << 10 // a point's metadata, as compact JSON
	MaxTextBytes     = 64 << 10 // a point's text
	MaxFilterKeys    = 16       // keys of a query's metadata filter
	DefaultMaxPoints = 100_000  // points of a collection
	maxNameBytes     = 64       // of a collection name
	minFloat32Range  = -math.MaxFloat32
)

// nameRE is a collection name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Options configures a Server.
type Options struct {
	// MaxPoints caps the points of one collection; DefaultMaxPoints if 0.
	MaxPoints int64
}

// Server serves the vector store. It is safe for concurrent use.
type Server struct {
	g         *gateway.Gateway
	log       *slog.Logger
	maxPoints int64
}

// New returns the vector store over g's store.
func New(g *gateway.Gateway, opt Options) *Server {
	if opt.MaxPoints <= 0 {
		opt.MaxPoints = DefaultMaxPoints
	}
	return &Server{g: g, log: g.Logger(), maxPoints: opt.MaxPoints}
}

// Handler serves the vector store under Prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+Prefix+"/collections", s.handle("vector.create", "vector_create", s.create))
	mux.Handle("GET "+Prefix+"/collections", s.handle("vector.list", "vector_list", s.list))
	mux.Handle("GET "+Prefix+"/collections/{name}", s.handle("vector.describe", "vector_describe", s.describe))
	mux.Handle("DELETE "+Prefix+"/collections/{name}", s.handle("vector.drop", "vector_drop", s.drop))
	mux.Handle("POST "+Prefix+"/collections/{name}/upsert", s.handle("vector.upsert", "vector_upsert", s.upsert))
	mux.Handle("POST "+Prefix+"/collections/{name}/fetch", s.handle("vector.fetch", "vector_fetch", s.fetch))
	mux.Handle("POST "+Prefix+"/collections/{name}/query", s.handle("vector.query", "vector_query", s.query))
	mux.Handle("POST "+Prefix+"/collections/{name}/delete", s.handle("vector.delete", "vector_delete", s.delete))
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Code: "not_found", Message: fmt.Sprintf("no route %s %s; see docs/gateway.md", r.Method, r.URL.Path)})
	})
	return mux
}

// Wire types.

type collectionWire struct {
	Name      string    `json:"name"`
	Dims      int       `json:"dims"`
	Metric    string    `json:"metric"`
	Points    int64     `json:"points"`
	CreatedAt time.Time `json:"created_at"`
}

func wireCollection(c store.VectorCollection) collectionWire {
	return collectionWire{Name: c.Name, Dims: c.Dims, Metric: c.Metric, Points: c.Points, CreatedAt: c.CreatedAt}
}

// scope is the namespace and tenant fields every body may carry; a value
// other than the caller's tenant is a cross-tenant attempt.
type scope struct {
	Namespace string `json:"namespace"`
	Tenant    string `json:"tenant"`
}

type createRequest struct {
	Name   string `json:"name"`
	Dims   int    `json:"dims"`
	Metric string `json:"metric"`
	scope
}

type pointIn struct {
	ID       string          `json:"id"`
	Vector   []float64       `json:"vector"`
	Metadata json.RawMessage `json:"metadata"`
	Text     string          `json:"text"`
}

type upsertRequest struct {
	Points []pointIn `json:"points"`
	scope
}

type idsRequest struct {
	IDs []string `json:"ids"`
	scope
}

type queryRequest struct {
	Vector         []float64      `json:"vector"`
	TopK           *int           `json:"top_k"`
	Filter         map[string]any `json:"filter"`
	IncludeVectors bool           `json:"include_vectors"`
	scope
}

type pointOut struct {
	ID        string          `json:"id"`
	Score     *float64        `json:"score,omitempty"`
	Vector    []float32       `json:"vector,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	Text      string          `json:"text,omitempty"`
	UpdatedAt *time.Time      `json:"updated_at,omitempty"`
}

// Handlers.

// collection validates the collection name of the path.
func (x *call) collection() (string, error) {
	name := x.r.PathValue("name")
	if err := validName("name", name); err != nil {
		return "", err
	}
	return name, nil
}

func validName(field, name string) error {
	if len(name) > maxNameBytes || !nameRE.MatchString(name) {
		return invalid(field, "%q: 1 to %d letters, digits, dots, dashes and underscores, starting with a letter or digit", clip(name), maxNameBytes)
	}
	return nil
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

func (s *Server) create(x *call) error {
	var req createRequest
	if err := x.decode(&req); err != nil {
		return err
	}
	if err := x.namespaceOf(req.Namespace, req.Tenant); err != nil {
		return err
	}
	x.rec.Object = req.Name
	if err := validName("name", req.Name); err != nil {
		return err
	}
	if req.Dims < 1 || req.Dims > MaxDims {
		return invalid("dims", "%d: between 1 and %d", req.Dims, MaxDims)
	}
	if req.Metric == "" {
		req.Metric = store.MetricCosine
	}
	if !store.ValidMetric(req.Metric) {
		return invalid("metric", "%q: cosine, dot or euclidean", clip(req.Metric))
	}
	if err := x.decide("write", map[string]any{"dims": req.Dims, "metric": req.Metric}); err != nil {
		return err
	}
	c := store.VectorCollection{Tenant: x.rec.Caller.Tenant(), Name: req.Name, Dims: req.Dims, Metric: req.Metric,
		CreatedAt: s.g.Now(), CreatedBy: x.rec.Caller.Principal.String()}
	err := x.finish(map[string]any{"dims": req.Dims, "metric": req.Metric}, func(tx store.Tx) error {
		return tx.CreateCollection(x.r.Context(), c)
	}, http.StatusCreated, func() any { return wireCollection(storedTimes(c)) })
	if errors.Is(err, store.ErrConflict) {
		return &failure{status: http.StatusConflict, code: "conflict", msg: fmt.Sprintf("collection %q exists", req.Name)}
	}
	return err
}

// storedTimes is c as the store reads it back.
func storedTimes(c store.VectorCollection) store.VectorCollection {
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Microsecond)
	return c
}

func (s *Server) list(x *call) error {
	if err := x.decide("read", nil); err != nil {
		return err
	}
	cs, err := s.g.Store().ListCollections(x.r.Context(), x.rec.Caller.Tenant())
	if err != nil {
		return err
	}
	out := make([]collectionWire, 0, len(cs))
	for _, c := range cs {
		out = append(out, wireCollection(c))
	}
	return x.finish(map[string]any{"collections": len(out)}, nil, http.StatusOK, func() any {
		return map[string]any{"collections": out}
	})
}

// get reads a collection of the caller, answering a missing one.
func (s *Server) get(x *call, name string) (store.VectorCollection, error) {
	c, err := s.g.Store().GetCollection(x.r.Context(), x.rec.Caller.Tenant(), name)
	if errors.Is(err, store.ErrNotFound) {
		return c, notFound(name)
	}
	return c, err
}

func (s *Server) describe(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	if err := x.decide("read", nil); err != nil {
		return err
	}
	c, err := s.get(x, name)
	if err != nil {
		return err
	}
	return x.finish(nil, nil, http.StatusOK, func() any { return wireCollection(c) })
}

func (s *Server) drop(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	if err := x.decide("delete", nil); err != nil {
		return err
	}
	err = x.finish(nil, func(tx store.Tx) error {
		return tx.DeleteCollection(x.r.Context(), x.rec.Caller.Tenant(), name)
	}, http.StatusOK, func() any { return map[string]any{"name": name, "deleted": true} })
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name)
	}
	return err
}

// errFull is an upsert that would take a collection over its cap.
var errFull = errors.New("vector: collection full")

func (s *Server) upsert(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	var req upsertRequest
	if err := x.decode(&req); err != nil {
		return err
	}
	if err := x.namespaceOf(req.Namespace, req.Tenant); err != nil {
		return err
	}
	if len(req.Points) == 0 || len(req.Points) > MaxBatch {
		return invalid("points", "%d points: send 1 to %d", len(req.Points), MaxBatch)
	}
	c, err := s.get(x, name)
	if err != nil {
		return err
	}
	now := s.g.Now()
	points := make([]store.VectorPoint, len(req.Points))
	seen := make(map[string]int, len(req.Points))
	for i, p := range req.Points {
		field := fmt.Sprintf("points[%d]", i)
		if err := validID(field+".id", p.ID); err != nil {
			return err
		}
		if j, ok := seen[p.ID]; ok {
			return invalid(field+".id", "%q repeats points[%d].id", clip(p.ID), j)
		}
		seen[p.ID] = i
		v, err := vectorOf(field+".vector", p.Vector, c)
		if err != nil {
			return err
		}
		meta, err := metadataOf(field+".metadata", p.Metadata)
		if err != nil {
			return err
		}
		if len(p.Text) > MaxTextBytes || !utf8.ValidString(p.Text) {
			return invalid(field+".text", "at most %d bytes of UTF-8", MaxTextBytes)
		}
		points[i] = store.VectorPoint{ID: p.ID, Vector: v, Metadata: meta, Text: p.Text, UpdatedAt: now}
	}
	if err := x.decide("write", map[string]any{"points": len(points)}); err != nil {
		return err
	}
	var total int64
	detail := map[string]any{"points": len(points)}
	err = x.finish(detail, func(tx store.Tx) error {
		n, err := tx.UpsertVectors(x.r.Context(), x.rec.Caller.Tenant(), name, points)
		if err != nil {
			return err
		}
		if n > s.maxPoints {
			return errFull
		}
		total = n
		detail["total"] = n
		return nil
	}, http.StatusOK, func() any { return map[string]any{"upserted": len(points), "points": total} })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(name)
	case errors.Is(err, errFull):
		return &failure{status: http.StatusConflict, code: "collection_full",
			msg: fmt.Sprintf("collection %q would hold more than %d points; nothing was written", name, s.maxPoints)}
	}
	return err
}

func validID(field, id string) error {
	if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return invalid(field, "%q: 1 to %d bytes of UTF-8 without control characters", clip(id), MaxIDBytes)
	}
	return nil
}

// vectorOf converts a JSON vector to float32 values for collection c.
func vectorOf(field string, in []float64, c store.VectorCollection) ([]float32, error) {
	if len(in) != c.Dims {
		return nil, invalid(field, "has %d dimensions, the collection %q %d", len(in), c.Name, c.Dims)
	}
	v := make([]float32, len(in))
	zero := true
	for i, f := range in {
		if f > math.MaxFloat32 || f < minFloat32Range {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "%g is out of the float32 range", f)
		}
		v[i] = float32(f)
		zero = zero && v[i] == 0
	}
	if zero && c.Metric == store.MetricCosine {
		return nil, invalid(field, "a zero vector has no direction, so no cosine similarity")
	}
	return v, nil
}

// metadataOf validates and compacts a point's metadata: a JSON object.
func metadataOf(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid(field, "a JSON object, or null")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid(field, "%v", err)
	}
	if buf.Len() > MaxMetadataBytes {
		return nil, invalid(field, "%d bytes: at most %d", buf.Len(), MaxMetadataBytes)
	}
	return json.RawMessage(buf.Bytes()), nil
}

func (s *Server) fetch(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	ids, err := x.ids()
	if err != nil {
		return err
	}
	if err := x.decide("read", map[string]any{"ids": len(ids)}); err != nil {
		return err
	}
	ps, err := s.g.Store().GetVectors(x.r.Context(), x.rec.Caller.Tenant(), name, ids)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name)
	}
	if err != nil {
		return err
	}
	out := make([]pointOut, 0, len(ps))
	for _, p := range ps {
		out = append(out, pointOut{ID: p.ID, Vector: p.Vector, Metadata: p.Metadata, Text: p.Text, UpdatedAt: &p.UpdatedAt})
	}
	return x.finish(map[string]any{"ids": len(ids), "found": len(out)}, nil, http.StatusOK, func() any {
		return map[string]any{"points": out}
	})
}

// ids decodes and validates a body of point IDs.
func (x *call) ids() ([]string, error) {
	var req idsRequest
	if err := x.decode(&req); err != nil {
		return nil, err
	}
	if err := x.namespaceOf(req.Namespace, req.Tenant); err != nil {
		return nil, err
	}
	if len(req.IDs) == 0 || len(req.IDs) > MaxBatch {
		return nil, invalid("ids", "%d IDs: send 1 to %d", len(req.IDs), MaxBatch)
	}
	for i, id := range req.IDs {
		if err := validID(fmt.Sprintf("ids[%d]", i), id); err != nil {
			return nil, err
		}
	}
	return req.IDs, nil
}

func (s *Server) query(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	var req queryRequest
	if err := x.decode(&req); err != nil {
		return err
	}
	if err := x.namespaceOf(req.Namespace, req.Tenant); err != nil {
		return err
	}
	topK := DefaultTopK
	if req.TopK != nil {
		topK = *req.TopK
	}
	if topK < 1 || topK > MaxTopK {
		return invalid("top_k", "%d: between 1 and %d", topK, MaxTopK)
	}
	if len(req.Filter) > MaxFilterKeys {
		return invalid("filter", "%d keys: at most %d", len(req.Filter), MaxFilterKeys)
	}
	for k, v := range req.Filter {
		switch v.(type) {
		case nil, string, bool, float64:
		default:
			return invalid("filter."+clip(k), "a filter value is a string, number, boolean or null")
		}
	}
	if len(req.Vector) == 0 {
		return invalid("vector", "send the query vector")
	}
	c, err := s.get(x, name)
	if err != nil {
		return err
	}
	v, err := vectorOf("vector", req.Vector, c)
	if err != nil {
		return err
	}
	if err := x.decide("read", map[string]any{"top_k": topK, "filtered": len(req.Filter) > 0}); err != nil {
		return err
	}
	ms, err := s.g.Store().QueryVectors(x.r.Context(), store.VectorQuery{Tenant: x.rec.Caller.Tenant(), Collection: name,
		Vector: v, TopK: topK, Filter: req.Filter, WithVectors: req.IncludeVectors})
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name)
	}
	if err != nil {
		return err
	}
	out := make([]pointOut, 0, len(ms))
	for _, m := range ms {
		score := m.Score
		out = append(out, pointOut{ID: m.Point.ID, Score: &score, Vector: m.Point.Vector, Metadata: m.Point.Metadata, Text: m.Point.Text})
	}
	return x.finish(map[string]any{"top_k": topK, "matches": len(out), "filtered": len(req.Filter) > 0}, nil, http.StatusOK, func() any {
		return map[string]any{"metric": c.Metric, "matches": out}
	})
}

func (s *Server) delete(x *call) error {
	name, err := x.collection()
	if err != nil {
		return err
	}
	ids, err := x.ids()
	if err != nil {
		return err
	}
	if err := x.decide("delete", map[string]any{"ids": len(ids)}); err != nil {
		return err
	}
	var n int64
	detail := map[string]any{"ids": len(ids)}
	err = x.finish(detail, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteVectors(x.r.Context(), x.rec.Caller.Tenant(), name, ids)
		detail["deleted"] = n
		return err
	}, http.StatusOK, func() any { return map[string]any{"deleted": n} })
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name)
	}
	return err
}
