package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds a stmtCache; queries beyond it run unprepared.
const maxStmts = 1024

// stmtCache keeps a pool's prepared statements by query text, so that a
// query is parsed once per connection rather than on every call.
// database/sql prepares a statement lazily on each connection that runs it
// and, inside a transaction, reuses the one of the transaction's
// connection.
type stmtCache struct {
	db *sql.DB

	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// lookup returns the prepared statement of query, if there is one.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// get returns the prepared statement of query, preparing it on the pool,
// or nil when the cache is full or the statement does not prepare (running
// it unprepared then reports the error). Preparing takes a connection of
// the pool: never call get inside a transaction (see warm).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.RUnlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	prev, ok := c.m[query]
	if !ok {
		c.m[query] = st
	}
	c.mu.Unlock()
	if ok {
		// Close outside the lock: closing waits for every connection the
		// statement was prepared on, and a connection busy in a transaction
		// may itself be waiting for lookup.
		st.Close()
		return prev
	}
	return st
}

// warm prepares queries a transaction ran unprepared, once it has ended and
// released its connection.
func (c *stmtCache) warm(queries []string) {
	for _, q := range queries {
		c.get(context.Background(), q)
	}
}
