package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// VectorTx is the gateway's vector store: collections of embedding vectors,
// each in its tenant's namespace. Every method takes the tenant and never
// crosses it: another tenant's collection of the same name is a different
// collection, and to every method it is as absent as a missing one
// (ErrNotFound). The namespace is the backend's partition as well as the
// gateway's, so that a lost filter in a caller cannot read across it.
//
// Vectors read back exactly as written (float32 values, bit for bit).
// Metadata is a JSON object kept byte for byte; empty reads back as nil.
// Times read back in UTC at microsecond precision.
//
// Queries are exact: every point of the collection is scored, so a query
// costs time proportional to the collection's size times its dimensions.
type VectorTx interface {
	// CreateCollection creates c in the namespace c.Tenant. A collection of
	// that name in that namespace is ErrConflict. Dims must be positive and
	// Metric one of the Metric constants; c.Points is ignored.
	CreateCollection(ctx context.Context, c VectorCollection) error
	// GetCollection returns a collection of the tenant, with Points set.
	GetCollection(ctx context.Context, tenant, name string) (VectorCollection, error)
	// ListCollections returns the tenant's collections ordered by name, with
	// Points set.
	ListCollections(ctx context.Context, tenant string) ([]VectorCollection, error)
	// DeleteCollection deletes a collection of the tenant and every point in
	// it.
	DeleteCollection(ctx context.Context, tenant, name string) error
	// UpsertVectors inserts points into a collection of the tenant, or
	// replaces those whose ID it holds, and returns how many points the
	// collection holds afterwards. A vector whose length is not the
	// collection's Dims is a *DimensionError, an ID given twice an error,
	// and in both cases nothing is written. A missing collection is
	// ErrNotFound.
	UpsertVectors(ctx context.Context, tenant, collection string, points []VectorPoint) (int64, error)
	// GetVectors returns the points of a collection of the tenant with the
	// given IDs, ordered by ID; IDs it does not hold are left out.
	GetVectors(ctx context.Context, tenant, collection string, ids []string) ([]VectorPoint, error)
	// DeleteVectors deletes the points with the given IDs from a collection
	// of the tenant and returns how many it held; IDs it does not hold are
	// ignored.
	DeleteVectors(ctx context.Context, tenant, collection string, ids []string) (int64, error)
	// QueryVectors scores every point of the collection q names that
	// matches q.Filter against q.Vector by the collection's metric and
	// returns the q.TopK best, best first, ties broken by ID. A query
	// vector of the wrong length is a *DimensionError.
	QueryVectors(ctx context.Context, q VectorQuery) ([]VectorMatch, error)
}

// Vector similarity metrics.
const (
	// MetricCosine scores by cosine similarity, from -1 to 1; higher is
	// closer. A zero vector scores 0 against everything.
	MetricCosine = "cosine"
	// MetricDot scores by dot product; higher is closer.
	MetricDot = "dot"
	// MetricEuclidean scores by Euclidean distance; lower is closer.
	MetricEuclidean = "euclidean"
)

// ValidMetric reports whether m is one of the Metric constants.
func ValidMetric(m string) bool {
	return m == MetricCosine || m == MetricDot || m == MetricEuclidean
}

// VectorCollection is a named set of vectors of one length, in its tenant's
// namespace.
type VectorCollection struct {
	Tenant    string
	Name      string
	Dims      int
	Metric    string
	Points    int64 // how many points it holds; set by reads
	CreatedAt time.Time
	CreatedBy string // the principal that created it
}

// VectorPoint is one stored vector with what it points at.
type VectorPoint struct {
	ID     string
	Vector []float32
	// Metadata is a JSON object, kept byte for byte; empty for none.
	Metadata  json.RawMessage
	Text      string // the text the vector embeds, optional
	UpdatedAt time.Time
}

// VectorQuery is a similarity query within one tenant's collection.
type VectorQuery struct {
	Tenant     string
	Collection string
	Vector     []float32
	TopK       int // at least 1
	// Filter keeps the points whose metadata holds every key of Filter
	// with an equal value. Values are JSON scalars as encoding/json
	// decodes them (string, float64, bool, nil); numbers compare by value.
	Filter map[string]any
	// WithVectors returns the matches' vectors too.
	WithVectors bool
}

// VectorMatch is one result of QueryVectors: a point and its score.
type VectorMatch struct {
	Point VectorPoint
	Score float64
}

// DimensionError is a vector whose length is not its collection's.
type DimensionError struct {
	Index int // the point's index in the call, -1 for a query vector
	Got   int
	Want  int
}

func (e *DimensionError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("store: query vector has %d dimensions, the collection %d", e.Got, e.Want)
	}
	return fmt.Sprintf("store: point %d has %d dimensions, the collection %d", e.Index, e.Got, e.Want)
}
