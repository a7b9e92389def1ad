package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway/inproc"
)

var errShutdown = errors.New("mcpproxy: shut down")

// Tool list freshness: a list older than toolsTTL is fetched again before a
// call relies on it; a tool missing from a list is looked for again once
// the list is older than toolsRetry.
const (
	toolsTTL   = 30 * time.Second
	toolsRetry = time.Second
)

// credentialHeaders never go upstream but for the one the gateway injects.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}

// poolKey names an upstream session: one per server and tenant, so that no
// session or credential is ever shared between tenants.
type poolKey struct{ server, tenant string }

// upstream is the gateway's client of one server for one tenant.
type upstream struct {
	p   *Proxy
	key poolKey
	sig string // the configuration it was made for
	srv fleet.MCPServer

	connect sync.Mutex // held while connecting

	mu       sync.Mutex // guards what follows
	sess     *mcp.ClientSession
	tools    []*mcp.Tool
	listedAt time.Time
	closed   bool
}

// signature is what, in a server's configuration, an upstream session
// depends on for a tenant; when it changes (a fleet reload) the session is
// replaced.
func signature(srv fleet.MCPServer, tenant string) string {
	parts := []string{srv.URL, strconv.Itoa(srv.TimeoutSeconds)}
	if c := srv.Tenants[tenant].Credential; c != nil {
		parts = append(parts, c.Env, c.File, c.Header)
	}
	return strings.Join(parts, "\x00")
}

// upstream returns the pooled upstream of a server for a tenant. It does no
// I/O.
func (p *Proxy) upstream(srv fleet.MCPServer, tenant string) (*upstream, error) {
	sig := signature(srv, tenant)
	k := poolKey{srv.ID, tenant}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil, errShutdown
	}
	if u, ok := p.pool[k]; ok {
		if u.sig == sig {
			return u, nil
		}
		go u.close()
	}
	u := &upstream{p: p, key: k, sig: sig, srv: srv}
	p.pool[k] = u
	return u, nil
}

// knownTool reports whether a tenant's upstream session last listed tool.
// It does no I/O.
func (p *Proxy) knownTool(srv fleet.MCPServer, tenant, tool string) bool {
	p.mu.Lock()
	u, ok := p.pool[poolKey{srv.ID, tenant}]
	p.mu.Unlock()
	if !ok {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.ContainsFunc(u.tools, func(t *mcp.Tool) bool { return t.Name == tool })
}

func (u *upstream) timeout() time.Duration { return time.Duration(u.srv.TimeoutSeconds) * time.Second }

// session returns the upstream session, connecting when there is none.
func (u *upstream) session(ctx context.Context) (*mcp.ClientSession, error) {
	if s, err := u.current(); s != nil || err != nil {
		return s, err
	}
	u.connect.Lock()
	defer u.connect.Unlock()
	if s, err := u.current(); s != nil || err != nil {
		return s, err
	}
	header, value := u.p.credential(u.srv, u.key.tenant)
	base, endpoint := u.p.opt.Transport, u.srv.URL
	if u.srv.URL == fleet.BuiltinDemo {
		base, endpoint = inproc.Transport{Handler: u.p.demo(u.srv.ID)}, "http://builtin-demo.invalid/"+u.srv.ID
	}
	hc := &http.Client{
		Transport: &inject{base: base, header: header, value: value},
		// A redirect could carry the tenant's credential to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Connecting is bounded by the server's timeout and the caller's
	// context; the session then outlives the call that opened it, and
	// carries none of that call's context values.
	cctx, cancel := context.WithTimeout(context.Background(), u.timeout())
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	client := mcp.NewClient(&mcp.Implementation{Name: "fleetgov-gateway", Version: "1.0.0"}, nil)
	sess, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc,
		DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		// Whatever the upstream said while connecting is no answer to the
		// call: the error keeps only whether time ran out.
		if cctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("mcpproxy: connect to %s for tenant %s: %w (%v)", u.srv.ID, u.key.tenant, context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("mcpproxy: connect to %s for tenant %s: %v", u.srv.ID, u.key.tenant, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		go sess.Close()
		return nil, errShutdown
	}
	u.sess = sess
	return sess, nil
}

// current returns the open session, if any.
func (u *upstream) current() (*mcp.ClientSession, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, errShutdown
	}
	return u.sess, nil
}

// drop forgets a broken session; the next call connects again.
func (u *upstream) drop(s *mcp.ClientSession) {
	u.mu.Lock()
	if u.sess == s {
		u.sess = nil
	}
	u.mu.Unlock()
	go s.Close()
}

func (u *upstream) close() {
	u.mu.Lock()
	s := u.sess
	u.sess, u.closed = nil, true
	u.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// transportCodes are the codes of the SDK's own transport errors, which
// are no answer of the upstream server: rejected by transport, server and
// client closing.
var transportCodes = []int64{-32005, -32004, -32003}

// answered returns the JSON-RPC error the upstream server answered with,
// if err holds one (and not only a transport failure).
func answered(err error) (*jsonrpc.Error, bool) {
	switch e := err.(type) {
	case nil:
		return nil, false
	case *jsonrpc.Error:
		if !slices.Contains(transportCodes, e.Code) {
			return e, true
		}
		return nil, false
	case interface{ Unwrap() []error }:
		for _, w := range e.Unwrap() {
			if rpc, ok := answered(w); ok {
				return rpc, true
			}
		}
		return nil, false
	}
	return answered(errors.Unwrap(err))
}

// broken reports whether err means the session cannot be used again (as
// opposed to an answer the upstream gave, or a deadline).
func broken(err error) bool {
	_, ok := answered(err)
	return !ok && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// listTools lists the upstream's tools (every page), within the timeout,
// and caches them. A session that turns out broken is replaced once.
func (u *upstream) listTools(ctx context.Context) ([]*mcp.Tool, error) {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var sess *mcp.ClientSession
		sess, err = u.session(ctx)
		if err != nil {
			return nil, err
		}
		var tools []*mcp.Tool
		tools, err = u.list(ctx, sess)
		if err == nil {
			u.mu.Lock()
			u.tools, u.listedAt = tools, time.Now()
			u.mu.Unlock()
			return tools, nil
		}
		if !broken(err) {
			break
		}
		u.drop(sess)
	}
	return nil, err
}

func (u *upstream) list(ctx context.Context, sess *mcp.ClientSession) ([]*mcp.Tool, error) {
	cctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	var tools []*mcp.Tool
	for t, err := range sess.Tools(cctx, nil) {
		if err != nil {
			return nil, deadline(ctx, cctx, err)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// hasTool reports whether the upstream has a tool, from the cached list
// when it is fresh.
func (u *upstream) hasTool(ctx context.Context, name string) (bool, error) {
	u.mu.Lock()
	never, age := u.listedAt.IsZero(), time.Since(u.listedAt)
	has := slices.ContainsFunc(u.tools, func(t *mcp.Tool) bool { return t.Name == name })
	u.mu.Unlock()
	if never || age > toolsTTL || !has && age > toolsRetry {
		tools, err := u.listTools(ctx)
		if err != nil {
			return false, err
		}
		has = slices.ContainsFunc(tools, func(t *mcp.Tool) bool { return t.Name == name })
	}
	return has, nil
}

// callTool calls a tool upstream within the timeout. A broken session is
// dropped, but the call is not repeated: it may have run.
func (u *upstream) callTool(ctx context.Context, name string, args json.RawMessage) (*mcp.CallToolResult, error) {
	sess, err := u.session(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	params := &mcp.CallToolParams{Name: name}
	if len(args) > 0 && string(args) != "null" {
		params.Arguments = args
	}
	res, err := sess.CallTool(cctx, params)
	if err != nil {
		err = deadline(ctx, cctx, err)
		if broken(err) {
			u.drop(sess)
		}
		return nil, err
	}
	return res, nil
}

// deadline makes an error that the upstream timeout caused say so.
func deadline(parent, ctx context.Context, err error) error {
	if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

// credential returns the header and value the gateway injects upstream for
// a tenant. A credential that cannot be read injects nothing; the gateway
// warns of it once, when it reads the fleet repo's secrets.
func (p *Proxy) credential(srv fleet.MCPServer, tenant string) (header, value string) {
	c := srv.Tenants[tenant].Credential
	if c == nil {
		return "", ""
	}
	header = c.Header
	if header == "" {
		header = "Authorization"
	}
	v, _ := p.g.UpstreamCredential(srv.ID, tenant)
	if v == "" {
		return header, ""
	}
	if strings.EqualFold(header, "Authorization") {
		v = "Bearer " + v
	}
	return header, v
}

// demo returns the in-process handler of a builtin:demo server.
func (p *Proxy) demo(id string) http.Handler {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.demos[id]
	if !ok {
		h = p.opt.Demo(id)
		p.demos[id] = h
	}
	return h
}

// valueless is a context with its parent's deadline and cancellation but
// none of its values.
type valueless struct{ context.Context }

func (valueless) Value(any) any { return nil }

// inject sends a tenant's upstream credential, and no other.
type inject struct {
	base          http.RoundTripper
	header, value string
}

func (t *inject) RoundTrip(r *http.Request) (*http.Response, error) {
	// The caller's request context values (its server's addresses, its
	// token info) stay behind; its deadline and cancellation go along.
	r = r.Clone(valueless{r.Context()})
	for _, h := range credentialHeaders {
		r.Header.Del(h)
	}
	if t.header != "" {
		r.Header.Del(t.header)
		if t.value != "" {
			r.Header.Set(t.header, t.value)
		}
	}
	return t.base.RoundTrip(r)
}
