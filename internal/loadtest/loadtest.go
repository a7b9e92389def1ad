// Package loadtest drives benchmarks that measure latency under load: an
// open loop at a fixed rate, without coordinated omission, and
// nearest-rank percentiles.
package loadtest

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// OpenLoop sends b.N calls at a fixed rate, each on schedule whether or
// not earlier ones have answered (latency counts from the scheduled start,
// so a stall counts against every call queued behind it), and returns the
// latencies in milliseconds. A call that returns false fails b.
func OpenLoop(b *testing.B, rate int, call func() bool) []float64 {
	b.Helper()
	interval := time.Second / time.Duration(rate)
	lat := make([]float64, b.N)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !call() {
				failed.Add(1)
			}
			lat[i] = float64(time.Since(due).Microseconds()) / 1000
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed", n, b.N)
	}
	return lat
}

// Percentile returns the p-th percentile of xs (nearest rank).
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
