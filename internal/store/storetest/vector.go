package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func collection(tenant, name string, dims int, metric string) store.VectorCollection {
	return store.VectorCollection{Tenant: tenant, Name: name, Dims: dims, Metric: metric, CreatedAt: at(time.Second), CreatedBy: "tenant:" + tenant + ":cred"}
}

func createCollection(t *testing.T, s store.Tx, c store.VectorCollection) {
	t.Helper()
	wantErr(t, fmt.Sprintf("CreateCollection(%s/%s)", c.Tenant, c.Name), s.CreateCollection(t.Context(), c), nil)
}

// storedCollection is c as reads return it, holding points.
func storedCollection(c store.VectorCollection, points int64) store.VectorCollection {
	c.CreatedAt, c.Points = norm(c.CreatedAt), points
	return c
}

func point(id string, meta string, v ...float32) store.VectorPoint {
	p := store.VectorPoint{ID: id, Vector: v, Text: "text of " + id, UpdatedAt: at(2 * time.Second)}
	if meta != "" {
		p.Metadata = json.RawMessage(meta)
	}
	return p
}

// storedPoint is p as reads return it.
func storedPoint(p store.VectorPoint) store.VectorPoint {
	p.Metadata, p.UpdatedAt = normRaw(p.Metadata), norm(p.UpdatedAt)
	return p
}

func upsert(t *testing.T, s store.Tx, tenant, coll string, ps ...store.VectorPoint) int64 {
	t.Helper()
	n, err := s.UpsertVectors(t.Context(), tenant, coll, ps)
	wantErr(t, fmt.Sprintf("UpsertVectors(%s/%s)", tenant, coll), err, nil)
	return n
}

// points fails the test unless the collection holds exactly want.
func points(t *testing.T, s store.Tx, tenant, coll string, want ...store.VectorPoint) {
	t.Helper()
	ids := []string{"a", "b", "c", "d", "e", "x", "y", "z"}
	got, err := s.GetVectors(t.Context(), tenant, coll, ids)
	wantErr(t, fmt.Sprintf("GetVectors(%s/%s)", tenant, coll), err, nil)
	var stored []store.VectorPoint
	for _, p := range want {
		stored = append(stored, storedPoint(p))
	}
	if len(got) != 0 || len(stored) != 0 {
		check(t, fmt.Sprintf("GetVectors(%s/%s)", tenant, coll), got, stored)
	}
	c, err := s.GetCollection(t.Context(), tenant, coll)
	wantErr(t, fmt.Sprintf("GetCollection(%s/%s)", tenant, coll), err, nil)
	if c.Points != int64(len(want)) {
		t.Errorf("GetCollection(%s/%s).Points = %d, want %d", tenant, coll, c.Points, len(want))
	}
}

func testVectorCollections(t *testing.T, s store.Store) {
	ctx := t.Context()
	docs := collection("acme", "docs", 3, store.MetricCosine)
	createCollection(t, s, docs)
	createCollection(t, s, collection("acme", "alpha", 2, store.MetricDot))
	// Another tenant's collection of the same name is another collection.
	createCollection(t, s, collection("beta", "docs", 5, store.MetricEuclidean))

	wantErr(t, "CreateCollection(acme/docs again)", s.CreateCollection(ctx, collection("acme", "docs", 8, store.MetricDot)), store.ErrConflict)
	for _, bad := range []store.VectorCollection{
		collection("", "x", 3, store.MetricCosine),
		collection("acme", "", 3, store.MetricCosine),
		collection("acme", "x", 0, store.MetricCosine),
		collection("acme", "x", -1, store.MetricCosine),
		collection("acme", "x", 3, "manhattan"),
	} {
		if err := s.CreateCollection(ctx, bad); err == nil {
			t.Errorf("CreateCollection(%+v) = nil, want an error", bad)
		}
	}

	got, err := s.GetCollection(ctx, "acme", "docs")
	wantErr(t, "GetCollection(acme/docs)", err, nil)
	check(t, "GetCollection(acme/docs)", got, storedCollection(docs, 0))
	list, err := s.ListCollections(ctx, "acme")
	wantErr(t, "ListCollections(acme)", err, nil)
	check(t, "ListCollections(acme)", list, []store.VectorCollection{
		storedCollection(collection("acme", "alpha", 2, store.MetricDot), 0), storedCollection(docs, 0)})
	if list, err := s.ListCollections(ctx, "nobody"); err != nil || !empty(list) {
		t.Errorf("ListCollections(nobody) = %v, %v; want none", list, err)
	}

	upsert(t, s, "acme", "docs", point("a", "", 1, 0, 0), point("b", "", 0, 1, 0))
	wantErr(t, "DeleteCollection(acme/docs)", s.DeleteCollection(ctx, "acme", "docs"), nil)
	for name, err := range map[string]error{
		"GetCollection":    second(s.GetCollection(ctx, "acme", "docs")),
		"DeleteCollection": s.DeleteCollection(ctx, "acme", "docs"),
		"GetVectors":       second(s.GetVectors(ctx, "acme", "docs", []string{"a"})),
	} {
		wantErr(t, name+"(deleted acme/docs)", err, store.ErrNotFound)
	}
	// A new collection of the name starts empty, with its own dims.
	createCollection(t, s, collection("acme", "docs", 2, store.MetricDot))
	points(t, s, "acme", "docs")
	points(t, s, "beta", "docs")
}

// second returns the error of a two-valued call.
func second[T any](_ T, err error) error { return err }

func testVectorRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCollection(t, s, collection("acme", "docs", 4, store.MetricCosine))
	// Values that must read back bit for bit.
	negZero := float32(math.Copysign(0, -1))
	a := point("a", string(oddJSON), 1, negZero, math.SmallestNonzeroFloat32, math.MaxFloat32)
	b := point("b", "", -0.1, 0.2, -0.3, 1e-30)
	b.Text = ""
	b.UpdatedAt = time.Time{}
	if n := upsert(t, s, "acme", "docs", b, a); n != 2 {
		t.Errorf("UpsertVectors(a, b) = %d points, want 2", n)
	}
	points(t, s, "acme", "docs", a, b)
	got, err := s.GetVectors(ctx, "acme", "docs", []string{"a"})
	wantErr(t, "GetVectors(a)", err, nil)
	if len(got) != 1 || math.Float32bits(got[0].Vector[1]) != math.Float32bits(negZero) {
		t.Errorf("GetVectors(a) = %v, want -0 kept", got)
	}

	// Upserting an ID it holds replaces the point; the count stays.
	a2 := point("a", `{"v":2}`, 0, 0, 1, 0)
	c := point("c", `{}`, 0, 1, 0, 0)
	if n := upsert(t, s, "acme", "docs", a2, c); n != 3 {
		t.Errorf("UpsertVectors(a again, c) = %d points, want 3", n)
	}
	points(t, s, "acme", "docs", a2, b, c)

	// IDs it lacks are left out, and an ID asked twice comes once.
	got, err = s.GetVectors(ctx, "acme", "docs", []string{"c", "nope", "c", "a"})
	wantErr(t, "GetVectors(c, nope, c, a)", err, nil)
	check(t, "GetVectors(c, nope, c, a)", got, []store.VectorPoint{storedPoint(a2), storedPoint(c)})
	if n := upsert(t, s, "acme", "docs"); n != 3 {
		t.Errorf("UpsertVectors(no points) = %d, want 3", n)
	}
}

func testVectorUpsertErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCollection(t, s, collection("acme", "docs", 3, store.MetricCosine))
	a := point("a", "", 1, 2, 3)
	upsert(t, s, "acme", "docs", a)

	// A wrong length anywhere in the batch writes nothing of it.
	_, err := s.UpsertVectors(ctx, "acme", "docs", []store.VectorPoint{point("b", "", 1, 1, 1), point("a", "", 9, 9, 9), point("c", "", 1, 1)})
	var de *store.DimensionError
	if !errors.As(err, &de) || *de != (store.DimensionError{Index: 2, Got: 2, Want: 3}) {
		t.Fatalf("UpsertVectors(wrong length) = %v, want a DimensionError for point 2", err)
	}
	points(t, s, "acme", "docs", a)

	for name, ps := range map[string][]store.VectorPoint{
		"a repeated ID": {point("b", "", 1, 1, 1), point("b", "", 2, 2, 2)},
		"an empty ID":   {point("", "", 1, 1, 1)},
	} {
		if _, err := s.UpsertVectors(ctx, "acme", "docs", ps); err == nil {
			t.Errorf("UpsertVectors(%s) = nil, want an error", name)
		}
	}
	points(t, s, "acme", "docs", a)
	_, err = s.UpsertVectors(ctx, "acme", "nope", []store.VectorPoint{point("x", "", 1, 1, 1)})
	wantErr(t, "UpsertVectors(missing collection)", err, store.ErrNotFound)

	// ErrNotFound leaves a transaction usable; a rolled-back upsert keeps
	// nothing.
	err = s.Atomic(ctx, func(tx store.Tx) error {
		if _, err := tx.UpsertVectors(ctx, "acme", "nope", []store.VectorPoint{point("x", "", 1, 1, 1)}); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("UpsertVectors(missing collection) = %v, want ErrNotFound", err)
		}
		if n, err := tx.UpsertVectors(ctx, "acme", "docs", []store.VectorPoint{point("b", "", 1, 1, 1)}); err != nil || n != 2 {
			return fmt.Errorf("UpsertVectors(b) = %d, %v, want 2 points", n, err)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatalf("Atomic = %v, want the rollback", err)
	}
	points(t, s, "acme", "docs", a)
}

func testVectorDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCollection(t, s, collection("acme", "docs", 2, store.MetricDot))
	a, b, c := point("a", "", 1, 0), point("b", "", 0, 1), point("c", "", 1, 1)
	upsert(t, s, "acme", "docs", a, b, c)
	n, err := s.DeleteVectors(ctx, "acme", "docs", []string{"b", "nope", "b", "c"})
	if err != nil || n != 2 {
		t.Fatalf("DeleteVectors(b, nope, b, c) = %d, %v, want 2", n, err)
	}
	points(t, s, "acme", "docs", a)
	if n, err := s.DeleteVectors(ctx, "acme", "docs", []string{"b"}); err != nil || n != 0 {
		t.Errorf("DeleteVectors(b again) = %d, %v, want 0", n, err)
	}
	_, err = s.DeleteVectors(ctx, "acme", "nope", []string{"a"})
	wantErr(t, "DeleteVectors(missing collection)", err, store.ErrNotFound)
	if n := upsert(t, s, "acme", "docs", b); n != 2 {
		t.Errorf("UpsertVectors(b) after deletes = %d points, want 2", n)
	}
}

// ids returns the IDs of ms in order.
func ids(ms []store.VectorMatch) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Point.ID)
	}
	return out
}

func testVectorQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, m := range []string{store.MetricCosine, store.MetricDot, store.MetricEuclidean} {
		createCollection(t, s, collection("acme", m, 2, m))
		upsert(t, s, "acme", m,
			point("a", `{"lang":"en","year":2024,"draft":false}`, 1, 0),
			point("b", `{"lang":"de","year":2025,"draft":true}`, 0, 2),
			point("c", `{"lang":"en","year":2025,"draft":null}`, 3, 3),
			point("d", ``, -1, 0),
			point("e", `{"lang":"en","year":2025}`, 1, 0),
		)
	}
	// Against (1, 0): cosine a and e 1, c 0.707, b 0, d -1; dot c 3, a and
	// e 1, b 0, d -1; Euclidean a and e 0, d 2, b 2.236, c 3.606.
	tests := []struct {
		name   string
		metric string
		topK   int
		filter map[string]any
		want   []string
		score  float64 // of the first match
	}{
		{"cosine", store.MetricCosine, 10, nil, []string{"a", "e", "c", "b", "d"}, 1},
		{"ties by ID", store.MetricCosine, 2, nil, []string{"a", "e"}, 1},
		{"dot", store.MetricDot, 3, nil, []string{"c", "a", "e"}, 3},
		{"euclidean, lower first", store.MetricEuclidean, 10, nil, []string{"a", "e", "d", "b", "c"}, 0},
		{"string filter", store.MetricCosine, 10, map[string]any{"lang": "en"}, []string{"a", "e", "c"}, 1},
		{"number filter", store.MetricDot, 10, map[string]any{"year": 2025}, []string{"c", "e", "b"}, 3},
		{"float filter", store.MetricDot, 10, map[string]any{"year": 2025.0, "lang": "en"}, []string{"c", "e"}, 3},
		{"bool filter", store.MetricCosine, 10, map[string]any{"draft": false}, []string{"a"}, 1},
		{"null filter", store.MetricCosine, 10, map[string]any{"draft": nil}, []string{"c"}, math.Sqrt2 / 2},
		{"no match", store.MetricCosine, 10, map[string]any{"lang": "fr"}, []string{}, 0},
		{"a number is not its string", store.MetricCosine, 10, map[string]any{"year": "2025"}, []string{}, 0},
	}
	for _, tc := range tests {
		got, err := s.QueryVectors(ctx, store.VectorQuery{Tenant: "acme", Collection: tc.metric, Vector: []float32{1, 0}, TopK: tc.topK, Filter: tc.filter})
		if err != nil {
			t.Errorf("%s: QueryVectors = %v", tc.name, err)
			continue
		}
		check(t, tc.name+": QueryVectors IDs", ids(got), tc.want)
		if len(got) > 0 && math.Abs(got[0].Score-tc.score) > 1e-6 {
			t.Errorf("%s: QueryVectors first score = %v, want %v", tc.name, got[0].Score, tc.score)
		}
		for _, m := range got {
			if m.Point.Vector != nil {
				t.Errorf("%s: QueryVectors returned the vector of %s without WithVectors", tc.name, m.Point.ID)
			}
		}
	}

	// A match carries its point whole, the vector only when asked.
	got, err := s.QueryVectors(ctx, store.VectorQuery{Tenant: "acme", Collection: store.MetricDot, Vector: []float32{0, 1}, TopK: 1, WithVectors: true})
	wantErr(t, "QueryVectors(WithVectors)", err, nil)
	check(t, "QueryVectors(WithVectors)", got, []store.VectorMatch{
		{Point: storedPoint(point("c", `{"lang":"en","year":2025,"draft":null}`, 3, 3)), Score: 3}})

	var de *store.DimensionError
	_, err = s.QueryVectors(ctx, store.VectorQuery{Tenant: "acme", Collection: store.MetricDot, Vector: []float32{1, 0, 0}, TopK: 1})
	if !errors.As(err, &de) || *de != (store.DimensionError{Index: -1, Got: 3, Want: 2}) {
		t.Errorf("QueryVectors(3 dims) = %v, want a DimensionError", err)
	}
	_, err = s.QueryVectors(ctx, store.VectorQuery{Tenant: "acme", Collection: "nope", Vector: []float32{1, 0}, TopK: 1})
	wantErr(t, "QueryVectors(missing collection)", err, store.ErrNotFound)
	for name, q := range map[string]store.VectorQuery{
		"top k 0":            {Tenant: "acme", Collection: store.MetricDot, Vector: []float32{1, 0}},
		"a non-scalar value": {Tenant: "acme", Collection: store.MetricDot, Vector: []float32{1, 0}, TopK: 1, Filter: map[string]any{"lang": []any{"en"}}},
	} {
		if _, err := s.QueryVectors(ctx, q); err == nil {
			t.Errorf("QueryVectors(%s) = nil, want an error", name)
		}
	}
}

// testVectorIsolation checks that no method reaches across namespaces,
// whatever the other tenant holds.
func testVectorIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCollection(t, s, collection("acme", "docs", 2, store.MetricCosine))
	createCollection(t, s, collection("acme", "private", 2, store.MetricCosine))
	createCollection(t, s, collection("beta", "docs", 3, store.MetricCosine))
	a := point("a", `{"secret":"acme"}`, 1, 0)
	upsert(t, s, "acme", "docs", a)
	upsert(t, s, "acme", "private", a)
	upsert(t, s, "beta", "docs", point("a", `{"secret":"beta"}`, 0, 0, 1), point("b", "", 0, 1, 0))

	// Beta's writes to "docs" land in its own collection, with its own dims.
	var de *store.DimensionError
	if _, err := s.UpsertVectors(ctx, "beta", "docs", []store.VectorPoint{point("a", "", 9, 9)}); !errors.As(err, &de) {
		t.Errorf("UpsertVectors(beta/docs, 2 dims) = %v, want a DimensionError (beta's docs has 3)", err)
	}
	if n, err := s.DeleteVectors(ctx, "beta", "docs", []string{"a"}); err != nil || n != 1 {
		t.Errorf("DeleteVectors(beta/docs, a) = %d, %v, want 1", n, err)
	}
	points(t, s, "acme", "docs", a)

	// What only acme holds is missing to beta.
	for name, err := range map[string]error{
		"GetCollection":    second(s.GetCollection(ctx, "beta", "private")),
		"GetVectors":       second(s.GetVectors(ctx, "beta", "private", []string{"a"})),
		"UpsertVectors":    second(s.UpsertVectors(ctx, "beta", "private", []store.VectorPoint{point("x", "", 1, 0)})),
		"DeleteVectors":    second(s.DeleteVectors(ctx, "beta", "private", []string{"a"})),
		"QueryVectors":     second(s.QueryVectors(ctx, store.VectorQuery{Tenant: "beta", Collection: "private", Vector: []float32{1, 0}, TopK: 5})),
		"DeleteCollection": s.DeleteCollection(ctx, "beta", "private"),
	} {
		wantErr(t, name+"(beta/private)", err, store.ErrNotFound)
	}
	points(t, s, "acme", "private", a)
	got, err := s.QueryVectors(ctx, store.VectorQuery{Tenant: "beta", Collection: "docs", Vector: []float32{0, 1, 0}, TopK: 10})
	wantErr(t, "QueryVectors(beta/docs)", err, nil)
	check(t, "QueryVectors(beta/docs) IDs", ids(got), []string{"b"})
	list, err := s.ListCollections(ctx, "beta")
	wantErr(t, "ListCollections(beta)", err, nil)
	check(t, "ListCollections(beta)", list, []store.VectorCollection{storedCollection(collection("beta", "docs", 3, store.MetricCosine), 1)})
	// Deleting beta's docs leaves acme's.
	wantErr(t, "DeleteCollection(beta/docs)", s.DeleteCollection(ctx, "beta", "docs"), nil)
	points(t, s, "acme", "docs", a)
}

// testVectorConcurrentUpsert checks that concurrent writes to one
// collection, overlapping in IDs, keep its point count exact.
func testVectorConcurrentUpsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCollection(t, s, collection("acme", "docs", 2, store.MetricDot))
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var ps []store.VectorPoint
			for i := range each {
				// Writers 2k and 2k+1 write the same IDs.
				ps = append(ps, point(fmt.Sprintf("p%d-%d", w/2, i), "", float32(w), float32(i)))
			}
			if _, err := s.UpsertVectors(ctx, "acme", "docs", ps); err != nil {
				errs <- err
			}
			if _, err := s.DeleteVectors(ctx, "acme", "docs", []string{fmt.Sprintf("p%d-0", w/2)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	c, err := s.GetCollection(ctx, "acme", "docs")
	wantErr(t, "GetCollection", err, nil)
	// Each pair's first ID may come back if one writer upserted it after the
	// other deleted it, so count the points directly.
	var all []string
	for p := range writers / 2 {
		for i := range each {
			all = append(all, fmt.Sprintf("p%d-%d", p, i))
		}
	}
	held, err := s.GetVectors(ctx, "acme", "docs", all)
	wantErr(t, "GetVectors", err, nil)
	if c.Points != int64(len(held)) || len(held) < writers/2*(each-1) {
		t.Errorf("after concurrent writes Points = %d, %d points held; want equal, at least %d", c.Points, len(held), writers/2*(each-1))
	}
}
