package vector_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/gateway/gatewaytest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// BenchmarkQuery measures the brute-force query the vector store runs: one
// query scores every vector of the collection (768 dimensions, cosine).
// The ns/vector metric is what sizes DefaultMaxPoints.
func BenchmarkQuery(b *testing.B) {
	backends := []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", gatewaytest.SQLite}, {"postgres", gatewaytest.Postgres}}
	for _, be := range backends {
		for _, n := range []int{1_000, 10_000} {
			b.Run(fmt.Sprintf("%s/%d", be.name, n), func(b *testing.B) { benchQuery(b, be.open(b), n) })
		}
	}
}

func benchQuery(b *testing.B, st store.Store, n int) {
	const dims = 768
	ctx := b.Context()
	if err := st.CreateCollection(ctx, store.VectorCollection{Tenant: "t", Name: "c", Dims: dims, Metric: store.MetricCosine, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func() []float32 {
		v := make([]float32, dims)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	for lo := 0; lo < n; lo += 1000 {
		ps := make([]store.VectorPoint, 0, 1000)
		for i := lo; i < min(lo+1000, n); i++ {
			ps = append(ps, store.VectorPoint{ID: fmt.Sprint("p", i), Vector: vec(), Metadata: []byte(`{"i":1}`), UpdatedAt: time.Now()})
		}
		if _, err := st.UpsertVectors(ctx, "t", "c", ps); err != nil {
			b.Fatal(err)
		}
	}
	q := store.VectorQuery{Tenant: "t", Collection: "c", Vector: vec(), TopK: 10}
	b.ReportAllocs()
	for b.Loop() {
		if ms, err := st.QueryVectors(ctx, q); err != nil || len(ms) != 10 {
			b.Fatalf("QueryVectors = %d matches, %v", len(ms), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/vector")
}
