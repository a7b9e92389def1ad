package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/fleetgov/fleetgov/internal/store"
)

// This file implements store.VectorTx. Every query names the tenant, the
// first column of every key, so another tenant's collection is ErrNotFound,
// as a missing one is.
//
// A write to a collection first takes its row (an UPDATE that changes
// nothing and returns its dims), which serializes writes to one collection,
// also across PostgreSQL replicas, so that the vector lengths are checked
// against the collection they are written to, not one deleted and created
// again meanwhile. vector_collections.points stays exact: an upsert adds
// the points its INSERT ... ON CONFLICT DO NOTHING inserted (a concurrent
// insert of the same ID waits and then inserts nothing), a delete subtracts
// the rows it deleted. Queries are exact and brute force: QueryVectors
// reads the collection's vectors once, scores each against the query in Go
// and keeps the best TopK, then reads the metadata and text of those only.

const collectionCols = `tenant, name, dims, metric, points, created_at, created_by`

// encodeVector returns v as little-endian float32 values.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeVector is encodeVector's inverse.
func decodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector of %d bytes is not float32 values", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

func scanCollection(sc scanner) (store.VectorCollection, error) {
	var c store.VectorCollection
	err := sc.Scan(&c.Tenant, &c.Name, &c.Dims, &c.Metric, &c.Points, timeCol{&c.CreatedAt}, &c.CreatedBy)
	return c, err
}

func (x *tx) CreateCollection(ctx context.Context, c store.VectorCollection) error {
	if c.Tenant == "" || c.Name == "" || c.Dims <= 0 || !store.ValidMetric(c.Metric) {
		return x.errorf("create collection %q: a collection needs a tenant, a name, positive dims and a known metric", c.Name)
	}
	ok, err := x.execOne(ctx, `INSERT INTO vector_collections (`+collectionCols+`) VALUES ($1, $2, $3, $4, 0, $5, $6)
		ON CONFLICT (tenant, name) DO NOTHING`, c.Tenant, c.Name, c.Dims, c.Metric, x.time(c.CreatedAt), c.CreatedBy)
	if err != nil {
		return x.errorf("create collection %s/%s: %w", c.Tenant, c.Name, err)
	}
	if !ok {
		return x.errorf("create collection %s/%s: %w", c.Tenant, c.Name, store.ErrConflict)
	}
	return nil
}

func (x *tx) GetCollection(ctx context.Context, tenant, name string) (store.VectorCollection, error) {
	c, err := scanCollection(x.queryRow(ctx, `SELECT `+collectionCols+` FROM vector_collections
		WHERE tenant = $1 AND name = $2`, tenant, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.VectorCollection{}, x.errorf("collection %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	if err != nil {
		return store.VectorCollection{}, x.errorf("collection %s/%s: %w", tenant, name, err)
	}
	return c, nil
}

func (x *tx) ListCollections(ctx context.Context, tenant string) ([]store.VectorCollection, error) {
	rows, err := x.query(ctx, `SELECT `+collectionCols+` FROM vector_collections WHERE tenant = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, x.errorf("list collections of %s: %w", tenant, err)
	}
	cs, err := collect(rows, scanCollection)
	if err != nil {
		return nil, x.errorf("list collections of %s: %w", tenant, err)
	}
	return cs, nil
}

func (x *tx) DeleteCollection(ctx context.Context, tenant, name string) error {
	ok, err := x.execOne(ctx, `DELETE FROM vector_collections WHERE tenant = $1 AND name = $2`, tenant, name)
	if err != nil {
		return x.errorf("delete collection %s/%s: %w", tenant, name, err)
	}
	if !ok {
		return x.errorf("delete collection %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	// The foreign key cascades; this says so without relying on it.
	if _, err := x.exec(ctx, `DELETE FROM vector_points WHERE tenant = $1 AND collection = $2`, tenant, name); err != nil {
		return x.errorf("delete collection %s/%s: points: %w", tenant, name, err)
	}
	return nil
}

// lockCollection takes a collection's row until the transaction ends and
// returns its dims.
func (x *tx) lockCollection(ctx context.Context, tenant, name string) (int, error) {
	var dims int
	err := x.queryRow(ctx, `UPDATE vector_collections SET points = points WHERE tenant = $1 AND name = $2 RETURNING dims`,
		tenant, name).Scan(&dims)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return dims, err
}

func (x *tx) UpsertVectors(ctx context.Context, tenant, collection string, points []store.VectorPoint) (int64, error) {
	seen := make(map[string]bool, len(points))
	for i, p := range points {
		if p.ID == "" || seen[p.ID] {
			return 0, x.errorf("upsert into %s/%s: point %d: an empty or repeated ID", tenant, collection, i)
		}
		seen[p.ID] = true
	}
	dims, err := x.lockCollection(ctx, tenant, collection)
	if err != nil {
		return 0, x.errorf("upsert into %s/%s: %w", tenant, collection, err)
	}
	for i, p := range points {
		if len(p.Vector) != dims {
			return 0, &store.DimensionError{Index: i, Got: len(p.Vector), Want: dims}
		}
	}
	var added int64
	for _, p := range points {
		vec, meta, at := encodeVector(p.Vector), bytesArg(p.Metadata), x.time(p.UpdatedAt)
		ok, err := x.execOne(ctx, `INSERT INTO vector_points (tenant, collection, id, vector, metadata, content, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, collection, id) DO NOTHING`,
			tenant, collection, p.ID, vec, meta, p.Text, at)
		if err != nil {
			return 0, x.errorf("upsert %s into %s/%s: %w", p.ID, tenant, collection, err)
		}
		if ok {
			added++
			continue
		}
		if _, err := x.exec(ctx, `UPDATE vector_points SET vector = $4, metadata = $5, content = $6, updated_at = $7
			WHERE tenant = $1 AND collection = $2 AND id = $3`, tenant, collection, p.ID, vec, meta, p.Text, at); err != nil {
			return 0, x.errorf("upsert %s into %s/%s: %w", p.ID, tenant, collection, err)
		}
	}
	var n int64
	if err := x.queryRow(ctx, `UPDATE vector_collections SET points = points + $3 WHERE tenant = $1 AND name = $2 RETURNING points`,
		tenant, collection, added).Scan(&n); err != nil {
		return 0, x.errorf("upsert into %s/%s: count: %w", tenant, collection, err)
	}
	return n, nil
}

const pointCols = `id, vector, metadata, content, updated_at`

func scanPoint(sc scanner) (store.VectorPoint, error) {
	var p store.VectorPoint
	var vec []byte
	if err := sc.Scan(&p.ID, &vec, bytesCol{(*[]byte)(&p.Metadata)}, &p.Text, timeCol{&p.UpdatedAt}); err != nil {
		return store.VectorPoint{}, err
	}
	v, err := decodeVector(vec)
	if err != nil {
		return store.VectorPoint{}, fmt.Errorf("point %s: %w", p.ID, err)
	}
	p.Vector = v
	return p, nil
}

// getPoint returns one point, or ok false when the collection lacks it.
func (x *tx) getPoint(ctx context.Context, tenant, collection, id string) (store.VectorPoint, bool, error) {
	p, err := scanPoint(x.queryRow(ctx, `SELECT `+pointCols+` FROM vector_points
		WHERE tenant = $1 AND collection = $2 AND id = $3`, tenant, collection, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.VectorPoint{}, false, nil
	}
	if err != nil {
		return store.VectorPoint{}, false, x.errorf("point %s of %s/%s: %w", id, tenant, collection, err)
	}
	return p, true, nil
}

func (x *tx) GetVectors(ctx context.Context, tenant, collection string, ids []string) ([]store.VectorPoint, error) {
	if _, err := x.GetCollection(ctx, tenant, collection); err != nil {
		return nil, err
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []store.VectorPoint
	for _, id := range ids {
		p, ok, err := x.getPoint(ctx, tenant, collection, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (x *tx) DeleteVectors(ctx context.Context, tenant, collection string, ids []string) (int64, error) {
	if _, err := x.lockCollection(ctx, tenant, collection); err != nil {
		return 0, x.errorf("delete from %s/%s: %w", tenant, collection, err)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var n int64
	for _, id := range ids {
		ok, err := x.execOne(ctx, `DELETE FROM vector_points WHERE tenant = $1 AND collection = $2 AND id = $3`, tenant, collection, id)
		if err != nil {
			return 0, x.errorf("delete %s from %s/%s: %w", id, tenant, collection, err)
		}
		if ok {
			n++
		}
	}
	if _, err := x.exec(ctx, `UPDATE vector_collections SET points = points - $3 WHERE tenant = $1 AND name = $2`,
		tenant, collection, n); err != nil {
		return 0, x.errorf("delete from %s/%s: count: %w", tenant, collection, err)
	}
	return n, nil
}

// scored is a candidate of QueryVectors.
type scored struct {
	id    string
	score float64
}

// ranking keeps the k best candidates, best first.
type ranking struct {
	k     int
	lower bool // lower scores are better (distances)
	best  []scored
}

// before reports whether a ranks before b.
func (r *ranking) before(a, b scored) bool {
	if a.score != b.score {
		return (a.score < b.score) == r.lower
	}
	return a.id < b.id
}

// offer adds c if it is among the k best so far.
func (r *ranking) offer(c scored) {
	if len(r.best) == r.k && !r.before(c, r.best[len(r.best)-1]) {
		return
	}
	i, _ := slices.BinarySearchFunc(r.best, c, func(e, t scored) int {
		if r.before(e, t) {
			return -1
		}
		return 1
	})
	if len(r.best) == r.k {
		r.best = r.best[:len(r.best)-1]
	}
	r.best = slices.Insert(r.best, i, c)
}

// scorer scores stored vectors against a query vector by a metric.
type scorer struct {
	metric string
	q      []float64
	qnorm  float64
}

func newScorer(metric string, q []float32) *scorer {
	s := &scorer{metric: metric, q: make([]float64, len(q))}
	var n float64
	for i, f := range q {
		s.q[i] = float64(f)
		n += s.q[i] * s.q[i]
	}
	s.qnorm = math.Sqrt(n)
	return s
}

// score scores b, little-endian float32 values as many as the query's.
func (s *scorer) score(b []byte) float64 {
	switch s.metric {
	case store.MetricDot:
		var dot float64
		for i, q := range s.q {
			dot += q * float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
		return dot
	case store.MetricEuclidean:
		var d float64
		for i, q := range s.q {
			e := q - float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			d += e * e
		}
		return math.Sqrt(d)
	}
	var dot, n float64
	for i, q := range s.q {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		dot += q * v
		n += v * v
	}
	if n == 0 || s.qnorm == 0 {
		return 0
	}
	return dot / (s.qnorm * math.Sqrt(n))
}

// matches reports whether metadata, a JSON object, holds every key of
// filter with an equal value.
func matches(metadata []byte, filter map[string]any) bool {
	if len(filter) == 0 {
		return true
	}
	var m map[string]any
	if len(metadata) == 0 || json.Unmarshal(metadata, &m) != nil {
		return false
	}
	for k, want := range filter {
		got, ok := m[k]
		if !ok || !scalarEqual(got, want) {
			return false
		}
	}
	return true
}

// scalarEqual compares a decoded JSON value with a filter value.
func scalarEqual(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	wf, ok := number(want)
	if !ok {
		return false
	}
	g, ok := got.(float64)
	return ok && g == wf
}

// scalar reports whether v is a filter value: a JSON scalar.
func scalar(v any) bool {
	switch v.(type) {
	case nil, string, bool:
		return true
	}
	_, ok := number(v)
	return ok
}

// number converts a numeric filter value to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func (x *tx) QueryVectors(ctx context.Context, q store.VectorQuery) ([]store.VectorMatch, error) {
	c, err := x.GetCollection(ctx, q.Tenant, q.Collection)
	if err != nil {
		return nil, err
	}
	if len(q.Vector) != c.Dims {
		return nil, &store.DimensionError{Index: -1, Got: len(q.Vector), Want: c.Dims}
	}
	if q.TopK < 1 {
		return nil, x.errorf("query %s/%s: top k %d is below 1", q.Tenant, q.Collection, q.TopK)
	}
	for k, v := range q.Filter {
		if !scalar(v) {
			return nil, x.errorf("query %s/%s: filter %q: %T is not a JSON scalar", q.Tenant, q.Collection, k, v)
		}
	}
	r := &ranking{k: q.TopK, lower: c.Metric == store.MetricEuclidean}
	sc := newScorer(c.Metric, q.Vector)
	if err := x.scan(ctx, q, c.Dims, func(id string, vec []byte) { r.offer(scored{id: id, score: sc.score(vec)}) }); err != nil {
		return nil, err
	}
	out := make([]store.VectorMatch, 0, len(r.best))
	for _, b := range r.best {
		p, ok, err := x.getPoint(ctx, q.Tenant, q.Collection, b.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // deleted since the scan
		}
		if !q.WithVectors {
			p.Vector = nil
		}
		out = append(out, store.VectorMatch{Point: p, Score: b.score})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// scan calls fn with the ID and the vector of every point of the queried
// collection that matches the filter; vec is valid during the call only.
func (x *tx) scan(ctx context.Context, q store.VectorQuery, dims int, fn func(id string, vec []byte)) error {
	query := `SELECT id, vector FROM vector_points WHERE tenant = $1 AND collection = $2`
	if len(q.Filter) > 0 {
		query = `SELECT id, vector, metadata FROM vector_points WHERE tenant = $1 AND collection = $2`
	}
	rows, err := x.query(ctx, query, q.Tenant, q.Collection)
	if err != nil {
		return x.errorf("query %s/%s: %w", q.Tenant, q.Collection, err)
	}
	defer rows.Close()
	var id string
	var vec, meta sql.RawBytes
	dest := []any{&id, &vec}
	if len(q.Filter) > 0 {
		dest = append(dest, &meta)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return x.errorf("query %s/%s: %w", q.Tenant, q.Collection, err)
		}
		if len(vec) != 4*dims {
			return x.errorf("query %s/%s: point %s has %d bytes of vector, want %d", q.Tenant, q.Collection, id, len(vec), 4*dims)
		}
		if matches(meta, q.Filter) {
			fn(id, vec)
		}
	}
	if err := rows.Err(); err != nil {
		return x.errorf("query %s/%s: %w", q.Tenant, q.Collection, err)
	}
	return nil
}

// CreateCollection implements store.Tx.
func (s *Store) CreateCollection(ctx context.Context, c store.VectorCollection) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.CreateCollection(ctx, c) })
}

// GetCollection implements store.Tx.
func (s *Store) GetCollection(ctx context.Context, tenant, name string) (store.VectorCollection, error) {
	return s.reader().GetCollection(ctx, tenant, name)
}

// ListCollections implements store.Tx.
func (s *Store) ListCollections(ctx context.Context, tenant string) ([]store.VectorCollection, error) {
	return s.reader().ListCollections(ctx, tenant)
}

// DeleteCollection implements store.Tx.
func (s *Store) DeleteCollection(ctx context.Context, tenant, name string) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.DeleteCollection(ctx, tenant, name) })
}

// UpsertVectors implements store.Tx.
func (s *Store) UpsertVectors(ctx context.Context, tenant, collection string, points []store.VectorPoint) (int64, error) {
	var n int64
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.UpsertVectors(ctx, tenant, collection, points)
		return err
	})
	return n, err
}

// GetVectors implements store.Tx.
func (s *Store) GetVectors(ctx context.Context, tenant, collection string, ids []string) ([]store.VectorPoint, error) {
	return s.reader().GetVectors(ctx, tenant, collection, ids)
}

// DeleteVectors implements store.Tx.
func (s *Store) DeleteVectors(ctx context.Context, tenant, collection string, ids []string) (int64, error) {
	var n int64
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteVectors(ctx, tenant, collection, ids)
		return err
	})
	return n, err
}

// QueryVectors implements store.Tx.
func (s *Store) QueryVectors(ctx context.Context, q store.VectorQuery) ([]store.VectorMatch, error) {
	return s.reader().QueryVectors(ctx, q)
}
