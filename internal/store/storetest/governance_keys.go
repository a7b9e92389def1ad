package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func idemRecord(account, principal, task, key string, created time.Time) store.IdempotencyRecord {
	return store.IdempotencyRecord{
		IdempotencyScope: store.IdempotencyScope{Account: account, Principal: principal, Task: task, Key: key},
		RequestHash:      "sha256:" + key, Response: json.RawMessage(`{"replayed":false, "status":"completed"}`),
		CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
}

func normIdem(r store.IdempotencyRecord) store.IdempotencyRecord {
	r.Response, r.CreatedAt, r.ExpiresAt = normRaw(r.Response), norm(r.CreatedAt), norm(r.ExpiresAt)
	return r
}

func signingKey(account, kid string, created time.Time) store.SigningKey {
	return store.SigningKey{
		Account: account, KID: kid, Public: []byte("pub-" + kid), Sealed: []byte{0, 1, 0xff, 'k', '\'', '"'},
		CreatedAt: created,
	}
}

func normKey(k store.SigningKey) store.SigningKey {
	k.CreatedAt, k.RetiredAt, k.RevokedAt = norm(k.CreatedAt), norm(k.RetiredAt), norm(k.RevokedAt)
	return k
}

func fixture(account, kind, id string, updated time.Time) store.Fixture {
	return store.Fixture{
		Account: account, Kind: kind, ID: id, Raw: json.RawMessage(`{"id":"` + id + `" }`), UpdatedAt: updated,
	}
}

func normFixture(f store.Fixture) store.Fixture {
	f.Raw, f.UpdatedAt = normRaw(f.Raw), norm(f.UpdatedAt)
	return f
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := t.Context()
	const key = "key-0123456789abcdef"
	r := idemRecord("acme", "https://buyer.example.com", "sync_plans", key, base)
	r.Response = oddJSON
	_, err := s.GetIdempotency(ctx, r.IdempotencyScope)
	wantErr(t, "GetIdempotency(unknown)", err, store.ErrNotFound)
	if err := s.PutIdempotency(ctx, r); err != nil {
		t.Fatalf("PutIdempotency = %v", err)
	}
	got, err := s.GetIdempotency(ctx, r.IdempotencyScope)
	wantErr(t, "GetIdempotency", err, nil)
	check(t, "GetIdempotency", got, normIdem(r))
	if string(got.Response) != string(oddJSON) {
		t.Errorf("GetIdempotency().Response = %q, want %q", got.Response, oddJSON)
	}

	// The first writer wins, whatever the second writes.
	for _, tc := range []struct {
		name string
		r    store.IdempotencyRecord
	}{
		{"same record", r},
		{"other request", func() store.IdempotencyRecord {
			o := idemRecord("acme", r.Principal, r.Task, key, at(time.Hour))
			o.RequestHash = "sha256:other"
			return o
		}()},
		{"expired record", func() store.IdempotencyRecord {
			o := idemRecord("acme", r.Principal, r.Task, key, at(48*time.Hour))
			o.RequestHash = "sha256:later"
			return o
		}()},
	} {
		err := s.PutIdempotency(ctx, tc.r)
		wantErr(t, "PutIdempotency("+tc.name+")", err, store.ErrConflict)
	}
	got, err = s.GetIdempotency(ctx, r.IdempotencyScope)
	wantErr(t, "GetIdempotency", err, nil)
	check(t, "GetIdempotency after conflicts", got, normIdem(r))

	// Each part of the scope separates keys.
	others := []store.IdempotencyRecord{
		idemRecord("beta", r.Principal, r.Task, key, base),
		idemRecord("acme", "https://seller.example.com", r.Task, key, base),
		idemRecord("acme", r.Principal, "check_governance", key, base),
		idemRecord("acme", r.Principal, r.Task, key+"-2", base),
	}
	others[0].Response, others[1].CreatedAt, others[2].ExpiresAt = nil, time.Time{}, time.Time{}
	for _, o := range others {
		if err := s.PutIdempotency(ctx, o); err != nil {
			t.Fatalf("PutIdempotency(%+v) = %v", o.IdempotencyScope, err)
		}
	}
	for _, o := range append(others, r) {
		got, err := s.GetIdempotency(ctx, o.IdempotencyScope)
		wantErr(t, "GetIdempotency", err, nil)
		check(t, "GetIdempotency("+show(o.IdempotencyScope)+")", got, normIdem(o))
	}
	_, err = s.GetIdempotency(ctx, store.IdempotencyScope{Account: "gamma", Principal: r.Principal, Task: r.Task, Key: key})
	wantErr(t, "GetIdempotency(other account)", err, store.ErrNotFound)
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1 := signingKey("acme", "k1", at(time.Hour))
	k2 := signingKey("acme", "k2", at(2*time.Hour))
	k0 := signingKey("acme", "k0", at(time.Hour))
	k0.Public, k0.Sealed = nil, []byte{}
	kz := signingKey("acme", "kz", time.Time{})
	kb := signingKey("beta", "k1", base)
	for _, k := range []store.SigningKey{k1, kz, kb, k2, k0} {
		if err := s.PutSigningKey(ctx, k); err != nil {
			t.Fatalf("PutSigningKey(%s/%s) = %v", k.Account, k.KID, err)
		}
	}
	k0.Sealed = nil // empty reads back as nil
	// A KID is never replaced.
	dup := signingKey("acme", "k1", at(3*time.Hour))
	dup.Sealed = []byte("other")
	err := s.PutSigningKey(ctx, dup)
	wantErr(t, "PutSigningKey(existing KID)", err, store.ErrConflict)

	list := func(account string, want ...store.SigningKey) {
		t.Helper()
		got, err := s.ListSigningKeys(ctx, account)
		if err != nil {
			t.Fatalf("ListSigningKeys(%s) = %v", account, err)
		}
		var w []store.SigningKey
		for _, k := range want {
			w = append(w, normKey(k))
		}
		if empty(got) && empty(w) {
			return
		}
		check(t, "ListSigningKeys("+account+")", got, w)
	}
	// Newest first; equal times by KID; a zero time is the oldest.
	list("acme", k2, k0, k1, kz)
	list("beta", kb)
	list("gamma")

	// Rotation and revocation; then clearing.
	k1.RetiredAt, k1.RevokedAt = at(3*time.Hour), at(4*time.Hour)
	upd := k1
	upd.Public, upd.Sealed, upd.CreatedAt = []byte("ignored"), []byte("ignored"), at(9*time.Hour)
	if err := s.UpdateSigningKey(ctx, upd); err != nil {
		t.Fatalf("UpdateSigningKey = %v", err)
	}
	list("acme", k2, k0, k1, kz)
	k2.RetiredAt = at(5 * time.Hour)
	if err := s.UpdateSigningKey(ctx, k2); err != nil {
		t.Fatalf("UpdateSigningKey = %v", err)
	}
	k1.RetiredAt, k1.RevokedAt = time.Time{}, time.Time{}
	if err := s.UpdateSigningKey(ctx, k1); err != nil {
		t.Fatalf("UpdateSigningKey(clear) = %v", err)
	}
	list("acme", k2, k0, k1, kz)
	list("beta", kb)
	for _, k := range []store.SigningKey{signingKey("acme", "nope", base), signingKey("gamma", "k1", base)} {
		k.RevokedAt = base
		err := s.UpdateSigningKey(ctx, k)
		wantErr(t, "UpdateSigningKey("+k.Account+"/"+k.KID+")", err, store.ErrNotFound)
	}
}

func testRevokedTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListRevokedTokens(ctx, "acme")
	if err != nil || !empty(got) {
		t.Fatalf("ListRevokedTokens(empty) = %s, %v, want none", show(got), err)
	}
	revoke := func(account, jti string, when time.Time) {
		t.Helper()
		if err := s.RevokeToken(ctx, account, jti, when); err != nil {
			t.Fatalf("RevokeToken(%s, %s) = %v", account, jti, err)
		}
	}
	revoke("acme", "j2", at(2*time.Second))
	revoke("acme", "j1", at(time.Second))
	revoke("acme", "j0", at(2*time.Second))
	revoke("beta", "j1", base)
	revoke("acme", "j1", at(time.Hour)) // again: the first revocation stays
	if err := s.RevokeToken(ctx, "acme", "j9", time.Time{}); err == nil {
		t.Errorf("RevokeToken(zero time) = nil, want an error")
	}
	got, err = s.ListRevokedTokens(ctx, "acme")
	wantErr(t, "ListRevokedTokens", err, nil)
	check(t, "ListRevokedTokens(acme)", got, []store.RevokedToken{
		{Account: "acme", JTI: "j1", RevokedAt: norm(at(time.Second))},
		{Account: "acme", JTI: "j0", RevokedAt: norm(at(2 * time.Second))},
		{Account: "acme", JTI: "j2", RevokedAt: norm(at(2 * time.Second))},
	})
	got, err = s.ListRevokedTokens(ctx, "beta")
	wantErr(t, "ListRevokedTokens", err, nil)
	check(t, "ListRevokedTokens(beta)", got, []store.RevokedToken{{Account: "beta", JTI: "j1", RevokedAt: norm(base)}})
}

func testFixtures(t *testing.T, s store.Store) {
	ctx := t.Context()
	f2 := fixture("acme", "product", "b", at(time.Second))
	f1 := fixture("acme", "product", "a", base)
	f1.Raw = oddJSON
	f3 := fixture("acme", "plan", "a", time.Time{})
	f3.Raw = nil
	fb := fixture("beta", "product", "a", base)
	for _, f := range []store.Fixture{f2, f1, f3, fb} {
		if err := s.PutFixture(ctx, f); err != nil {
			t.Fatalf("PutFixture(%s/%s/%s) = %v", f.Account, f.Kind, f.ID, err)
		}
	}
	get := func(account, kind, id string, want store.Fixture) {
		t.Helper()
		got, err := s.GetFixture(ctx, account, kind, id)
		if err != nil {
			t.Fatalf("GetFixture(%s, %s, %s) = %v", account, kind, id, err)
		}
		check(t, "GetFixture("+account+"/"+kind+"/"+id+")", got, normFixture(want))
	}
	get("acme", "product", "a", f1)
	get("acme", "plan", "a", f3)
	get("beta", "product", "a", fb)
	// Replace.
	f1b := fixture("acme", "product", "a", at(time.Hour))
	f1b.Raw = json.RawMessage(`{"replaced": true}`)
	if err := s.PutFixture(ctx, f1b); err != nil {
		t.Fatalf("PutFixture(replace) = %v", err)
	}
	get("acme", "product", "a", f1b)
	get("beta", "product", "a", fb)
	for _, k := range [][3]string{{"acme", "product", "c"}, {"acme", "pricing_option", "a"}, {"gamma", "product", "a"}} {
		_, err := s.GetFixture(ctx, k[0], k[1], k[2])
		wantErr(t, "GetFixture("+show(k)+")", err, store.ErrNotFound)
	}
	tests := []struct {
		account, kind string
		want          []store.Fixture
	}{
		{"acme", "product", []store.Fixture{f1b, f2}},
		{"acme", "plan", []store.Fixture{f3}},
		{"beta", "product", []store.Fixture{fb}},
		{"acme", "pricing_option", nil},
		{"gamma", "product", nil},
	}
	for _, tc := range tests {
		got, err := s.ListFixtures(ctx, tc.account, tc.kind)
		if err != nil {
			t.Fatalf("ListFixtures(%s, %s) = %v", tc.account, tc.kind, err)
		}
		var want []store.Fixture
		for _, f := range tc.want {
			want = append(want, normFixture(f))
		}
		if empty(got) && empty(want) {
			continue
		}
		check(t, "ListFixtures("+tc.account+", "+tc.kind+")", got, want)
	}
}
