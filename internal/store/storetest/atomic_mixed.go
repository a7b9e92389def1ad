package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fleetgov/fleetgov/internal/store"
)

// testAtomicConcurrentMixed runs concurrent transactions of which some fail
// and some panic after writing: each behaves as a transaction of its own,
// also where the store joins concurrent transactions into one commit. A
// failed one returns its own error and a panicking one re-panics in its
// caller, and neither leaves a write behind; every other one commits whole,
// and the audit chains stay intact.
func testAtomicConcurrentMixed(t *testing.T, s store.Store) {
	const goroutines, txs = 8, 12
	ctx := t.Context()
	errFail := errors.New("deliberate failure")
	type result struct {
		actor    string
		err      error
		panicked any
	}
	results := make(chan result, goroutines*txs)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range txs {
				actor := fmt.Sprintf("g%d-%d", g, i)
				res := result{actor: actor}
				func() {
					defer func() { res.panicked = recover() }()
					res.err = s.Atomic(ctx, func(tx store.Tx) error {
						for j, p := range []string{"p", "q"} {
							r := record(p, "x", j)
							r.Actor = actor
							if _, err := tx.AppendAudit(ctx, r); err != nil {
								return err
							}
						}
						switch (g*txs + i) % 5 {
						case 1:
							return fmt.Errorf("%s: %w", actor, errFail)
						case 3:
							panic("deliberate panic " + actor)
						}
						return nil
					})
				}()
				results <- res
			}
		})
	}
	wg.Wait()
	close(results)
	committed := map[string]bool{}
	for res := range results {
		var g, i int
		fmt.Sscanf(res.actor, "g%d-%d", &g, &i)
		switch (g*txs + i) % 5 {
		case 1:
			if !errors.Is(res.err, errFail) || res.panicked != nil {
				t.Errorf("%s: Atomic = %v (panic %v), want its own error", res.actor, res.err, res.panicked)
			}
		case 3:
			if res.panicked != "deliberate panic "+res.actor {
				t.Errorf("%s: Atomic = %v, panic %v, want its own panic", res.actor, res.err, res.panicked)
			}
		default:
			if res.err != nil || res.panicked != nil {
				t.Errorf("%s: Atomic = %v (panic %v), want nil", res.actor, res.err, res.panicked)
			}
			committed[res.actor] = true
		}
	}
	for _, part := range []string{"p", "q"} {
		rs := listAudit(t, s, part)
		checkChain(t, part, rs)
		seen := map[string]bool{}
		for _, r := range rs {
			if !committed[r.Actor] {
				t.Errorf("partition %s holds a record of %s, whose transaction failed", part, r.Actor)
			}
			if seen[r.Actor] {
				t.Errorf("partition %s holds two records of %s", part, r.Actor)
			}
			seen[r.Actor] = true
		}
		if len(seen) != len(committed) {
			t.Errorf("partition %s holds records of %d transactions, want the %d that committed", part, len(seen), len(committed))
		}
	}
}
