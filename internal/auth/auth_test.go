package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/secret"
	"github.com/fleetgov/fleetgov/internal/store"
)

type fakeLookup map[string]store.Credential

func (f fakeLookup) CredentialByHash(_ context.Context, hash []byte) (store.Credential, error) {
	c, ok := f[string(hash)]
	if !ok {
		return store.Credential{}, store.ErrNotFound
	}
	return c, nil
}

func TestMintAndAuthenticate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tenant, err := Mint(store.KindTenant, "payments", "", "ci", now)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := Mint(store.KindAgent, "payments", "payments.refunds", "", now)
	if err != nil {
		t.Fatal(err)
	}
	revoked.Credential.RevokedAt = now
	lookup := fakeLookup{string(tenant.Credential.Hash): tenant.Credential, string(revoked.Credential.Hash): revoked.Credential}

	if !strings.HasPrefix(tenant.Secret, secret.PrefixTenant) || len(tenant.Secret) < 40 {
		t.Errorf("Mint secret = %q, want %s and 43 random characters", tenant.Secret, secret.PrefixTenant)
	}
	if strings.Contains(string(tenant.Credential.Hash), tenant.Secret) || len(tenant.Credential.Hash) != 32 {
		t.Errorf("stored hash is not a SHA-256 digest")
	}
	if _, found := secret.Detect(tenant.Secret); !found {
		t.Errorf("secret.Detect(%q) = false: minted tokens must be recognisable as credentials", tenant.Secret)
	}
	tests := []struct {
		name    string
		bearer  string
		want    Principal
		wantErr error
	}{
		{"valid", tenant.Secret, Principal{Kind: store.KindTenant, CredentialID: tenant.Credential.ID, TenantID: "payments"}, nil},
		{"revoked", revoked.Secret, Principal{}, ErrUnauthenticated},
		{"unknown", tenant.Secret + "x", Principal{}, ErrUnauthenticated},
		{"empty", "", Principal{}, ErrUnauthenticated},
		{"not a fleetgov token", "sk-abcdef", Principal{}, ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Authenticate(context.Background(), lookup, tc.bearer)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Authenticate(%q) = %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestNewIDUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewID("exc")
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] || !strings.HasPrefix(id, "exc_") || len(id) != 4+16 {
			t.Fatalf("NewID = %q (seen before: %v), want a fresh exc_ and 16 characters", id, seen[id])
		}
		seen[id] = true
	}
}
