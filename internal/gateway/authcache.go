package gateway

import (
	"sync"
	"time"

	"github.com/fleetgov/fleetgov/internal/fleet"
)

// authCacheTTL bounds how long a cached credential is trusted without a
// look at the store: how late a change made by another process sharing the
// store (a revoked key) takes effect here.
const authCacheTTL = time.Second

// authCacheMax bounds the cache; a full cache is emptied.
const authCacheMax = 4096

// authCache holds what credentials authenticated as, keyed by the
// credential's SHA-256. An entry is current while the store's
// Generation and the fleet repo in force are the ones it was read
// under, and for authCacheTTL at most.
type authCache struct {
	mu sync.RWMutex
	m  map[[32]byte]authEntry
}

type authEntry struct {
	caller  Caller
	gen     uint64
	repo    *fleet.Repo
	expires time.Time
}

func (a *authCache) get(key [32]byte, gen uint64, repo *fleet.Repo, now time.Time) (Caller, bool) {
	a.mu.RLock()
	e, ok := a.m[key]
	a.mu.RUnlock()
	if !ok || e.gen != gen || e.repo != repo || !now.Before(e.expires) {
		return Caller{}, false
	}
	return e.caller, true
}

// put caches c, read under gen and repo, the generation and repo observed
// before the read: a change committed during the read moves the
// generation on and so outdates the entry.
func (a *authCache) put(key [32]byte, c Caller, gen uint64, repo *fleet.Repo, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil || len(a.m) >= authCacheMax {
		a.m = make(map[[32]byte]authEntry)
	}
	a.m[key] = authEntry{caller: c, gen: gen, repo: repo, expires: now.Add(authCacheTTL)}
}
