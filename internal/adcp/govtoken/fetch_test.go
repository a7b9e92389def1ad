package govtoken

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReserved(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
		"0.0.0.0", "255.255.255.255", "224.0.0.1", "::1", "fc00::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "ff02::1"} {
		if !reserved(netip.MustParseAddr(a)) {
			t.Errorf("reserved(%s) = false", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"} {
		if reserved(netip.MustParseAddr(a)) {
			t.Errorf("reserved(%s) = true", a)
		}
	}
}

func TestFetcher(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doc, _ := f.jwks.Marshal()
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write(doc)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks.json", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat(" ", MaxJWKSBytes+1)))
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tls := httptest.NewTLSServer(mux)
	t.Cleanup(tls.Close)

	ctx := t.Context()
	strict := &Fetcher{}
	if _, err := strict.LoadJWKS(ctx, srv.URL+"/jwks.json"); CodeOf(err) != CodeJWKSUntrusted {
		t.Errorf("http URL: %v, want untrusted", err)
	}
	if _, err := strict.LoadJWKS(ctx, tls.URL+"/jwks.json"); CodeOf(err) != CodeJWKSUntrusted {
		t.Errorf("https to loopback: %v, want untrusted", err)
	}
	loose := &Fetcher{AllowInsecure: true, Timeout: 5 * time.Second}
	set, err := loose.LoadJWKS(ctx, srv.URL+"/jwks.json")
	if err != nil {
		t.Fatalf("LoadJWKS = %v", err)
	}
	if _, ok := set.Lookup(f.key.KID); !ok {
		t.Error("fetched jwks lacks the key")
	}
	for _, path := range []string{"/redirect", "/big", "/down"} {
		if _, err := loose.LoadJWKS(ctx, srv.URL+path); CodeOf(err) != CodeJWKSUnavailable {
			t.Errorf("LoadJWKS(%s) = %v, want unavailable", path, err)
		}
	}
	if _, err := loose.LoadJWKS(ctx, t.TempDir()+"/missing.json"); CodeOf(err) != CodeJWKSUnavailable {
		t.Errorf("missing file: %v, want unavailable", err)
	}

	// The cache refetches on a missed kid once per cooldown.
	now := t0
	cache := &JWKSCache{Source: srv.URL + "/jwks.json", Fetcher: loose, Now: func() time.Time { return now }}
	before := hits.Load()
	for _, refresh := range []bool{false, false, true} {
		if _, err := cache.KeySet(ctx, "", refresh); err != nil {
			t.Fatal(err)
		}
	}
	if n := hits.Load() - before; n != 1 {
		t.Errorf("%d fetches within the cooldown, want 1", n)
	}
	now = now.Add(31 * time.Second)
	if _, err := cache.KeySet(ctx, "", true); err != nil || hits.Load()-before != 2 {
		t.Errorf("refresh after the cooldown: %v, %d fetches", err, hits.Load()-before)
	}
}
