package modelproxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/loadtest"

	"github.com/fleetgov/fleetgov/internal/gateway/gatewaytest"
	"github.com/fleetgov/fleetgov/internal/gateway/modelproxy"
	"github.com/fleetgov/fleetgov/internal/gctune"
	"github.com/fleetgov/fleetgov/internal/store"
)

// benchUpstream is a loopback OpenAI-compatible upstream at its fastest: it
// reads the request and answers a canned 1 KiB chat completion with usage.
func benchUpstream() http.Handler {
	content := strings.Repeat("The refund is within policy. ", 30) // ~900 bytes
	body := []byte(fmt.Sprintf(`{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"fleet-demo-mini",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop","logprobs":null}],`+
		`"usage":{"prompt_tokens":262,"completion_tokens":60,"total_tokens":322}}`, content))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// benchRequest is a 1 KiB chat completion request.
func benchRequest() []byte {
	prompt := strings.Repeat("Customer 4411 reports parcel 77 lost; carrier confirms. ", 17) // ~950 bytes
	return []byte(fmt.Sprintf(`{"model":"fleet-demo-mini","max_tokens":64,"messages":[{"role":"user","content":%q}]}`, prompt))
}

// BenchmarkGateway measures the model proxy's overhead: 1 KiB non-streaming
// chat completions through the gateway (agent key checked, decision core,
// budget reserved and settled in SQLite, the call audited durably, its log
// synced before the answer) against the same loopback upstream called
// directly, in the same run, and against a bare httputil.ReverseProxy in
// front of it, which governs nothing: the floor of any proxy's cost here.
// Saturation: 16 closed-loop clients; latency: an open loop at 1,000
// requests/s.
func BenchmarkGateway(b *testing.B) {
	prev := gctune.Current()
	gctune.Apply()
	defer debug.SetGCPercent(prev)

	up := httptest.NewServer(benchUpstream())
	b.Cleanup(up.Close)
	keyFile := filepath.Join(b.TempDir(), "provider-key")
	if err := os.WriteFile(keyFile, []byte(upstreamKey), 0o600); err != nil {
		b.Fatal(err)
	}
	e := gatewaytest.Start(b, gatewaytest.Options{Edit: func(tb testing.TB, dir string) {
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "    - id: demo\n      url: builtin:demo\n",
			fmt.Sprintf("    - id: demo\n      url: %s/v1\n      api_key_file: %s\n", up.URL, keyFile))
		// Budgets large enough for any benchmark run; every window is still
		// reserved and settled.
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "fleet: {day: 400, month: 8000}", "fleet: {day: 1000000, month: 1000000}")
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "tenant: {day: 40, month: 800}", "tenant: {day: 1000000, month: 1000000}")
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "payments.refund-executor: {day: 3}", "payments.refund-executor: {day: 1000000}")
	}})
	gw := httptest.NewServer(modelproxy.New(e.Gateway, modelproxy.Options{}).Handler())
	b.Cleanup(gw.Close)

	body := benchRequest()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	call := func(url, key string) bool {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// A bare reverse proxy in front of the same upstream, with no
	// governance at all: how much of the gateway's cost is the extra hop.
	target, _ := url.Parse(up.URL)
	rp := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	})
	b.Cleanup(rp.Close)
	// The same bare proxy that also makes one audit record durable in a
	// SQLite store of its own before it answers: the floor of any gateway
	// that keeps its audit log durable before answering, on this disk.
	auditDB := gatewaytest.SQLite(b)
	rec := store.AuditRecord{Partition: "bench", Actor: "agent:bench", Action: "gateway.model.chat", Object: "fleet-demo-mini",
		Outcome: "allow", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Detail: []byte(`{"kind":"chat","input_tokens":262,"output_tokens":60}`)}
	rpAudit := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
		ModifyResponse: func(resp *http.Response) error {
			r := rec
			r.Time = time.Now()
			_, err := auditDB.AppendAudit(resp.Request.Context(), r)
			return err
		},
	})
	b.Cleanup(rpAudit.Close)
	direct := func() bool { return call(up.URL+"/v1/chat/completions", upstreamKey) }
	bare := func() bool { return call(rp.URL+"/v1/chat/completions", upstreamKey) }
	durable := func() bool { return call(rpAudit.URL+"/v1/chat/completions", upstreamKey) }
	key := e.Agents[refunder]
	gateway := func() bool { return call(gw.URL+modelproxy.Prefix+"/chat/completions", key) }
	if !direct() || !bare() || !durable() || !gateway() {
		b.Fatal("a warm-up call failed")
	}

	const clients = 16
	saturate := func(f func() bool) func(b *testing.B) {
		return func(b *testing.B) {
			var failed atomic.Int64
			b.ReportAllocs()
			b.SetParallelism((clients + 1) / 2)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !f() {
						failed.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d calls failed", n, b.N)
			}
		}
	}
	rate := func(f func() bool) func(b *testing.B) {
		return func(b *testing.B) {
			lat := loadtest.OpenLoop(b, 1000, f)
			b.ReportMetric(loadtest.Percentile(lat, 50), "p50-ms")
			b.ReportMetric(loadtest.Percentile(lat, 99), "p99-ms")
		}
	}
	b.Run("peer=direct/saturation", saturate(direct))
	b.Run("peer=reverseproxy/saturation", saturate(bare))
	b.Run("peer=reverseproxy+durable-audit/saturation", saturate(durable))
	b.Run("gateway/saturation", saturate(gateway))
	b.Run("peer=direct/rate=1000", rate(direct))
	b.Run("peer=reverseproxy/rate=1000", rate(bare))
	b.Run("peer=reverseproxy+durable-audit/rate=1000", rate(durable))
	b.Run("gateway/rate=1000", rate(gateway))
}
