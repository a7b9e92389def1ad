package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/fleetgov/fleetgov/internal/store"
)

// maxGroup bounds how many Atomic calls one group commit joins.
const maxGroup = 128

// committer joins concurrent Atomic calls into one transaction with one
// commit, as databases group their log flushes: with a single writer
// connection and a synchronous commit (SQLite's synchronous=FULL syncs the
// log on every commit), the commit's sync is the cost of a write, and a
// group pays it once. Each call runs inside its own savepoint, so that one
// that fails or panics is rolled back alone and returns its own error or
// panic, as in a transaction of its own; the others commit. None returns
// before the commit that makes its writes durable, and if that commit fails
// every call of the group returns the failure.
//
// There is no waiting for company: a call that finds no group in progress
// starts one at once, and calls that arrive meanwhile form the next group.
//
// Calls that may commit unsynced (see Store.atomicUnsynced) form groups of
// their own, which run before the synced group of the same round: their
// commit costs no sync, and they need not wait for another group's.
type committer struct {
	s *Store

	mu      sync.Mutex
	queue   []*pendingTx
	running bool
	// unsynced is the sync mode the writer connection was last set to;
	// only the leader touches it.
	unsynced bool

	// syncLog, if set, syncs the log outside the writer (Options.SyncLog).
	syncLog func() error
	// committed counts the groups committed; synced is the count that the
	// last successful syncLog covers, under syncMu.
	committed atomic.Uint64
	syncMu    sync.Mutex
	synced    uint64
}

// pendingTx is one Atomic call waiting for its group.
type pendingTx struct {
	ctx      context.Context
	fn       func(store.Tx) error
	unsynced bool
	err      error
	pan      any // the value fn panicked with
	done     chan struct{}
}

// atomic runs fn in the next group and returns its outcome.
func (c *committer) atomic(ctx context.Context, unsynced bool, fn func(store.Tx) error) error {
	p := &pendingTx{ctx: ctx, fn: fn, unsynced: unsynced, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	lead := !c.running
	c.running = true
	c.mu.Unlock()
	if lead {
		c.lead()
	}
	<-p.done
	if p.pan != nil {
		panic(p.pan)
	}
	return p.err
}

// lead runs groups until the queue is empty.
func (c *committer) lead() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxGroup)
		if n == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		taken := c.queue[:n:n]
		c.queue = append([]*pendingTx(nil), c.queue[n:]...)
		c.mu.Unlock()
		var unsynced, synced []*pendingTx
		for _, p := range taken {
			if p.unsynced {
				unsynced = append(unsynced, p)
			} else {
				synced = append(synced, p)
			}
		}
		for _, group := range [][]*pendingTx{unsynced, synced} {
			if len(group) == 0 {
				continue
			}
			if c.syncLog == nil {
				c.run(group, group[0].unsynced)
				c.release(group)
				continue
			}
			// Commit without the sync; a synced group waits for the log
			// sync on its own goroutine while the next group writes.
			if c.run(group, true) && !group[0].unsynced {
				go c.syncAndRelease(group, c.committed.Add(1))
				continue
			}
			c.committed.Add(1)
			c.release(group)
		}
	}
}

// release lets a group's calls return.
func (c *committer) release(group []*pendingTx) {
	for _, p := range group {
		close(p.done)
	}
}

// syncAndRelease makes the group committed as the gen-th durable, syncing
// the log unless a sync that began after that commit has already returned,
// and lets the group's calls return. If the sync fails, every call of the
// group that succeeded returns the failure: its commit may not survive a
// crash of the machine.
func (c *committer) syncAndRelease(group []*pendingTx, gen uint64) {
	c.syncMu.Lock()
	var err error
	if c.synced < gen {
		upTo := c.committed.Load() // every one of these committed before the sync
		if err = c.syncLog(); err == nil {
			c.synced = upTo
		}
	}
	c.syncMu.Unlock()
	if err != nil {
		for _, p := range group {
			if p.err == nil && p.pan == nil {
				p.err = fmt.Errorf("%s: sync log: %w", c.s.d.Name(), err)
			}
		}
	}
	c.release(group)
}

// setSync switches the writer connection's commits to unsynced or back.
// Where the dialect sets the mode inside the transaction instead, setSync
// has nothing to do.
func (c *committer) setSync(unsynced bool) error {
	q, inTx := c.s.d.SyncMode(unsynced)
	if inTx || q == "" || unsynced == c.unsynced {
		return nil
	}
	if _, err := c.s.write.ExecContext(context.Background(), q); err != nil {
		return fmt.Errorf("%s: sync mode: %w", c.s.d.Name(), err)
	}
	c.unsynced = unsynced
	return nil
}

// run runs one group in one transaction, committed unsynced if asked, and
// reports whether anything committed.
func (c *committer) run(group []*pendingTx, unsynced bool) (committed bool) {
	s := c.s
	fail := func(err error) {
		for _, p := range group {
			if p.err == nil && p.pan == nil {
				p.err = err
			}
		}
	}
	if err := c.setSync(unsynced); err != nil {
		fail(err)
		return
	}
	// The transaction outlives any one caller's context; each call's
	// statements run under its own.
	t, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("%s: begin: %w", s.d.Name(), err))
		return
	}
	var misses []string
	var cachedChanged bool
	defer func() {
		s.countChange(&cachedChanged)
		s.wstmts.warm(misses)
	}()
	x := &tx{d: s.d, q: t, stmts: s.wstmts, t: t, misses: &misses, cachedChanged: &cachedChanged}
	if q, inTx := s.d.SyncMode(unsynced); inTx && q != "" {
		if _, err := x.exec(context.Background(), q); err != nil {
			_ = t.Rollback()
			fail(fmt.Errorf("%s: sync mode: %w", s.d.Name(), err))
			return
		}
	}
	single := len(group) == 1
	ok := 0
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		if single {
			// Alone, the call needs no savepoint: the transaction is its own.
			p.pan, p.err = call(p, x)
		} else {
			p.pan, p.err = c.inSavepoint(p, x)
		}
		if p.err == nil && p.pan == nil {
			ok++
		} else if p.err != nil && isBroken(p.err) {
			// The transaction itself failed (not the call): nothing of the
			// group can commit.
			_ = t.Rollback()
			fail(p.err)
			return
		}
	}
	if ok == 0 {
		_ = t.Rollback()
		return
	}
	if err := t.Commit(); err != nil {
		fail(fmt.Errorf("%s: commit: %w", s.d.Name(), err))
		return false
	}
	return true
}

// call runs p's function, catching a panic.
func call(p *pendingTx, x *tx) (pan any, err error) {
	defer func() {
		if v := recover(); v != nil {
			pan, err = v, nil
		}
	}()
	return nil, p.fn(x)
}

// brokenError marks a failure of the transaction rather than of a call.
type brokenError struct{ err error }

func (e *brokenError) Error() string { return e.err.Error() }
func (e *brokenError) Unwrap() error { return e.err }

func isBroken(err error) bool {
	_, ok := err.(*brokenError)
	return ok
}

// inSavepoint runs p's function inside a savepoint, rolled back to if the
// function fails or panics.
func (c *committer) inSavepoint(p *pendingTx, x *tx) (any, error) {
	name, ctx := c.s.d.Name(), context.Background()
	if _, err := x.exec(ctx, "SAVEPOINT fg_call"); err != nil {
		return nil, &brokenError{fmt.Errorf("%s: savepoint: %w", name, err)}
	}
	pan, err := call(p, x)
	if err == nil && pan == nil {
		if _, rerr := x.exec(ctx, "RELEASE SAVEPOINT fg_call"); rerr != nil {
			return nil, &brokenError{fmt.Errorf("%s: release savepoint: %w", name, rerr)}
		}
		return nil, nil
	}
	if _, rerr := x.exec(ctx, "ROLLBACK TO SAVEPOINT fg_call"); rerr != nil {
		return nil, &brokenError{fmt.Errorf("%s: rollback to savepoint: %w", name, rerr)}
	}
	if _, rerr := x.exec(ctx, "RELEASE SAVEPOINT fg_call"); rerr != nil {
		return nil, &brokenError{fmt.Errorf("%s: release savepoint: %w", name, rerr)}
	}
	return pan, err
}
