package modelproxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Sweep settles reservations still open after maxAge at their reserved
// amount: calls whose gateway crashed or lost the store between the
// provider's answer and the settlement. The provider may have billed them,
// so their worst case stands as spent; each is audited in its tenant's
// partition. It returns how many it settled.
func (p *Proxy) Sweep(ctx context.Context, maxAge time.Duration) (int, error) {
	before := p.g.Now().Add(-maxAge)
	n := 0
	for {
		open, err := p.g.Store().ListOpenReservations(ctx, before, 100)
		if err != nil {
			return n, fmt.Errorf("modelproxy: sweep: %w", err)
		}
		if len(open) == 0 {
			return n, nil
		}
		for _, res := range open {
			rec := gateway.Record{
				Caller:   gateway.Caller{Principal: auth.Principal{Kind: store.KindTenant, TenantID: res.Tenant}, Agent: store.Agent{ID: res.Agent}},
				Resource: gateway.ResourceModel, Action: "model.settle_expired", Object: res.ID, Outcome: "settled",
				Cost: res.Amount, Actor: "gateway.sweeper",
				Detail: map[string]any{"reserved_at": res.CreatedAt, "reason": "no settlement within " + maxAge.String() + "; held at its worst case"},
			}
			err := p.g.Finish(ctx, rec, func(tx store.Tx) error {
				return tx.Settle(ctx, res.ID, res.Amount, p.g.Now())
			})
			if errors.Is(err, store.ErrConflict) {
				continue // settled meanwhile by its own call or another replica
			}
			if err != nil {
				return n, fmt.Errorf("modelproxy: sweep %s: %w", res.ID, err)
			}
			n++
		}
	}
}

// RunSweeper sweeps every interval until ctx ends. A reservation is stale
// once it is older than the longest provider timeout plus five minutes: no
// call can settle it any more.
func (p *Proxy) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			maxAge := 5 * time.Minute
			longest := 0
			for _, pr := range p.g.Config().Providers {
				longest = max(longest, pr.TimeoutSeconds)
			}
			maxAge += time.Duration(longest) * time.Second
			if n, err := p.Sweep(ctx, maxAge); err != nil {
				p.log.Error("gateway sweep", "err", err)
			} else if n > 0 {
				p.log.Warn("gateway settled stale reservations at their worst case", "count", n)
			}
		}
	}
}
