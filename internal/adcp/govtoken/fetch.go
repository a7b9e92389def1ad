package govtoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fetcher reads a counterparty's JWKS and revocation list under the
// profile's SSRF rules: HTTPS only, no redirects, no proxy, a connection only
// to a public address (checked on the address actually dialed, so DNS
// rebinding cannot slip a private one in), a size cap and timeouts.
type Fetcher struct {
	// AllowInsecure permits http:// URLs and loopback or private addresses.
	// For local testing only.
	AllowInsecure bool
	// Timeout bounds one fetch; zero means 10 s.
	Timeout time.Duration

	once   sync.Once
	client *http.Client
}

// errUntrusted marks a URL or address the SSRF rules refuse.
var errUntrusted = errors.New("refused by the ssrf rules")

func (f *Fetcher) httpClient() *http.Client {
	f.once.Do(func() {
		timeout := f.Timeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		dialer := &net.Dialer{Timeout: timeout, Control: f.checkAddress}
		f.client = &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           dialer.DialContext,
				TLSHandshakeTimeout:   timeout,
				ResponseHeaderTimeout: timeout,
				MaxIdleConns:          4,
				IdleConnTimeout:       30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return f.client
}

// checkAddress refuses reserved addresses at dial time.
func (f *Fetcher) checkAddress(_, address string, _ syscall.RawConn) error {
	if f.AllowInsecure {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: address %q", errUntrusted, address)
	}
	if reserved(ap.Addr()) {
		return fmt.Errorf("%w: %s is a reserved address", errUntrusted, ap.Addr())
	}
	return nil
}

var reservedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// reserved reports whether a is loopback, private, link-local (cloud
// metadata included), multicast, unspecified or otherwise not a public
// unicast address. IPv4-mapped IPv6 addresses are judged as IPv4.
func reserved(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsGlobalUnicast() {
		return true
	}
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Get fetches rawURL and returns at most max bytes of a 200 response. A URL
// or address the rules refuse is an *Error with CodeJWKSUntrusted; any other
// failure is CodeJWKSUnavailable.
func (f *Fetcher) Get(ctx context.Context, rawURL string, max int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(f.AllowInsecure && u.Scheme == "http")) {
		return nil, fail(CodeJWKSUntrusted, "url %q is not https", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: err.Error(), Err: err}
	}
	req.Header.Set("Accept", "application/json, application/jose")
	resp, err := f.httpClient().Do(req)
	if err != nil {
		if errors.Is(err, errUntrusted) {
			return nil, &Error{Code: CodeJWKSUntrusted, Reason: err.Error(), Err: err}
		}
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: err.Error(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fail(CodeJWKSUnavailable, "GET %s: %s", rawURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: err.Error(), Err: err}
	}
	if int64(len(body)) > max {
		return nil, fail(CodeJWKSUnavailable, "GET %s: body over %d bytes", rawURL, max)
	}
	return body, nil
}

// load reads src: an http(s) URL through f, anything else as a file path.
func (f *Fetcher) load(ctx context.Context, src string, max int64) ([]byte, error) {
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		return f.Get(ctx, src, max)
	}
	file, err := os.Open(src)
	if err != nil {
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: err.Error(), Err: err}
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, max+1))
	if err != nil {
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: err.Error(), Err: err}
	}
	if int64(len(b)) > max {
		return nil, fail(CodeJWKSUnavailable, "%s is over %d bytes", src, max)
	}
	return b, nil
}

// LoadJWKS reads and parses a JWKS from an https URL or a file.
func (f *Fetcher) LoadJWKS(ctx context.Context, src string) (*JWKS, error) {
	b, err := f.load(ctx, src, MaxJWKSBytes)
	if err != nil {
		return nil, err
	}
	return ParseJWKS(b)
}

// LoadRevocationList reads a published revocation list from an https URL or
// a file and verifies it against keys.
func (f *Fetcher) LoadRevocationList(ctx context.Context, src string, keys *JWKS) (*RevocationList, error) {
	b, err := f.load(ctx, src, 1<<20)
	if err != nil {
		return nil, err
	}
	return ParseRevocationList(b, keys)
}

// JWKSCache is a KeySource for one issuer's jwks_uri. It keeps the set for
// TTL (which should not exceed the revocation polling interval) and refetches
// on a missed kid at most once per Cooldown.
type JWKSCache struct {
	Source   string // https URL (or file path)
	Fetcher  *Fetcher
	TTL      time.Duration // zero means 15 minutes
	Cooldown time.Duration // zero means 30 seconds
	Now      func() time.Time

	mu      sync.Mutex
	set     *JWKS
	fetched time.Time
}

// KeySet implements KeySource.
func (c *JWKSCache) KeySet(ctx context.Context, _ string, refresh bool) (*JWKS, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	ttl, cooldown := c.TTL, c.Cooldown
	if ttl == 0 {
		ttl = 15 * time.Minute
	}
	if cooldown == 0 {
		cooldown = 30 * time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	age := now.Sub(c.fetched)
	if c.set != nil && age < ttl && (!refresh || age < cooldown) {
		return c.set, nil
	}
	if c.Fetcher == nil {
		c.Fetcher = &Fetcher{}
	}
	set, err := c.Fetcher.LoadJWKS(ctx, c.Source)
	if err != nil {
		return nil, err
	}
	c.set, c.fetched = set, now
	return set, nil
}
