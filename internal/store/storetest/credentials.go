package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func credential(id string, kind store.CredentialKind, tenantID, agentID string, created time.Time) store.Credential {
	return store.Credential{
		ID: id, Kind: kind, TenantID: tenantID, AgentID: agentID, Hash: hashOf("secret-" + id),
		Prefix: "fg_" + id, Label: "label " + id, CreatedAt: created,
	}
}

// normCredential is c as a store returns it.
func normCredential(c store.Credential) store.Credential {
	c.CreatedAt, c.RevokedAt = norm(c.CreatedAt), norm(c.RevokedAt)
	return c
}

func testCredentialRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		c    store.Credential
	}{
		{"platform admin", credential("adm", store.KindPlatformAdmin, "", "", base)},
		{"tenant", credential("ten", store.KindTenant, "acme", "", at(time.Second))},
		{"agent", credential("agt", store.KindAgent, "acme", "acme.bot", at(2*time.Second))},
		{"adcp principal", func() store.Credential {
			c := credential("adcp", store.KindADCPPrincipal, "acme", "", at(3*time.Second))
			c.AgentURL = "https://buyer.example.com/adcp/mcp?x=1#ü"
			return c
		}()},
		{"zero created", credential("zero", store.KindTenant, "acme", "", time.Time{})},
		{"created revoked", func() store.Credential {
			c := credential("rev", store.KindTenant, "acme", "", base)
			c.RevokedAt = at(time.Hour)
			return c
		}()},
		{"pre-1970 and far future", func() store.Credential {
			c := credential("odd", store.KindTenant, "acme", "", time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC))
			c.RevokedAt = time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			return c
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreateCredential(ctx, tc.c); err != nil {
				t.Fatalf("CreateCredential(%q) = %v", tc.c.ID, err)
			}
			got, err := s.CredentialByHash(ctx, tc.c.Hash)
			if err != nil {
				t.Fatalf("CredentialByHash(%q) = %v", tc.c.ID, err)
			}
			check(t, "CredentialByHash("+tc.c.ID+")", got, normCredential(tc.c))
		})
	}
	_, err := s.CredentialByHash(ctx, hashOf("unknown"))
	wantErr(t, "CredentialByHash(unknown)", err, store.ErrNotFound)
	_, err = s.CredentialByHash(ctx, nil)
	wantErr(t, "CredentialByHash(nil)", err, store.ErrNotFound)
}

func testCredentialConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := credential("c1", store.KindTenant, "acme", "", base)
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatalf("CreateCredential = %v", err)
	}
	sameID := credential("c1", store.KindTenant, "acme", "", base)
	sameID.Hash = hashOf("other")
	sameHash := credential("c2", store.KindTenant, "acme", "", base)
	sameHash.Hash = c.Hash
	for _, tc := range []struct {
		name string
		c    store.Credential
	}{{"same id", sameID}, {"same hash", sameHash}} {
		err := s.CreateCredential(ctx, tc.c)
		wantErr(t, "CreateCredential("+tc.name+")", err, store.ErrConflict)
	}
	cs, err := s.ListCredentials(ctx, store.CredentialFilter{})
	if err != nil {
		t.Fatalf("ListCredentials = %v", err)
	}
	check(t, "ListCredentials after conflicts", cs, []store.Credential{normCredential(c)})
}

func testListCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Inserted out of order: the list is by CreatedAt (zero first), then ID.
	adm := credential("adm", store.KindPlatformAdmin, "", "", at(3*time.Second))
	t1 := credential("t1", store.KindTenant, "acme", "", at(time.Second))
	t2 := credential("t2", store.KindTenant, "beta", "", at(time.Second))
	a1 := credential("a1", store.KindAgent, "acme", "acme.bot", at(2*time.Second))
	a0 := credential("a0", store.KindAgent, "acme", "acme.bot", at(2*time.Second))
	a2 := credential("a2", store.KindAgent, "beta", "beta.bot", time.Time{})
	p1 := credential("p1", store.KindADCPPrincipal, "beta", "", at(4*time.Second))
	p1.AgentURL = "https://seller.example.com"
	for _, c := range []store.Credential{adm, t2, p1, a1, t1, a2, a0} {
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatalf("CreateCredential(%q) = %v", c.ID, err)
		}
	}
	tests := []struct {
		name string
		f    store.CredentialFilter
		want []store.Credential
	}{
		{"all", store.CredentialFilter{}, []store.Credential{a2, t1, t2, a0, a1, adm, p1}},
		{"adcp principal", store.CredentialFilter{Kind: store.KindADCPPrincipal}, []store.Credential{p1}},
		{"kind", store.CredentialFilter{Kind: store.KindAgent}, []store.Credential{a2, a0, a1}},
		{"tenant", store.CredentialFilter{TenantID: "acme"}, []store.Credential{t1, a0, a1}},
		{"agent", store.CredentialFilter{AgentID: "beta.bot"}, []store.Credential{a2}},
		{"id", store.CredentialFilter{ID: t1.ID}, []store.Credential{t1}},
		{"unknown id", store.CredentialFilter{ID: "cred-nope"}, nil},
		{"kind and tenant", store.CredentialFilter{Kind: store.KindTenant, TenantID: "beta"}, []store.Credential{t2}},
		{"tenant of a principal", store.CredentialFilter{TenantID: "beta"}, []store.Credential{a2, t2, p1}},
		{"platform", store.CredentialFilter{Kind: store.KindPlatformAdmin}, []store.Credential{adm}},
		{"none", store.CredentialFilter{TenantID: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListCredentials(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListCredentials(%+v) = %v", tc.f, err)
			}
			var want []store.Credential
			for _, c := range tc.want {
				want = append(want, normCredential(c))
			}
			if empty(got) && empty(want) {
				return
			}
			check(t, "ListCredentials("+show(tc.f)+")", got, want)
		})
	}
}

func testRevokeCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := credential("c1", store.KindTenant, "acme", "", base)
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatalf("CreateCredential = %v", err)
	}
	tests := []struct {
		name string
		id   string
		at   time.Time
		want error
	}{
		{"first", "c1", at(time.Hour), nil},
		{"twice", "c1", at(2 * time.Hour), store.ErrNotFound},
		{"unknown", "nope", at(time.Hour), store.ErrNotFound},
	}
	for _, tc := range tests {
		err := s.RevokeCredential(ctx, tc.id, tc.at)
		wantErr(t, "RevokeCredential("+tc.name+")", err, tc.want)
	}
	if err := s.RevokeCredential(ctx, "c1", time.Time{}); err == nil {
		t.Errorf("RevokeCredential(zero time) = nil, want an error")
	}
	// Revoked credentials are still found; the first revocation time stays.
	got, err := s.CredentialByHash(ctx, c.Hash)
	if err != nil {
		t.Fatalf("CredentialByHash = %v", err)
	}
	want := c
	want.RevokedAt = at(time.Hour)
	check(t, "CredentialByHash(revoked)", got, normCredential(want))
}
