package governance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/store"
)

// IdempotencyTTL is how long a success is replayed; get_adcp_capabilities
// declares it.
const IdempotencyTTL = 24 * time.Hour

// idemSkew is the clock skew allowed at the end of the replay window: a
// retry arriving this long after the TTL still replays (AdCP security,
// idempotency rule 6).
const idemSkew = 60 * time.Second

// idemScopeTask is the task of every idempotency scope: a key is scoped to
// (principal, account) across tasks, and reusing it on another task is a
// different payload, IDEMPOTENCY_CONFLICT (AdCP security, idempotency), so
// the task is part of the request hash instead.
const idemScopeTask = "*"

// idemExcluded are the request fields outside the idempotency equivalence.
var idemExcluded = []string{"idempotency_key", "context", "governance_context", "push_notification_config"}

// principal names the caller for idempotency scoping: its agent URL, or
// its credential.
func (c Caller) principal() string {
	if c.AgentURL != "" {
		return c.AgentURL
	}
	return "credential:" + c.CredentialID
}

// requestHash is the hash of a task's name and the JCS form of its request
// without the excluded fields.
func requestHash(task string, args map[string]any) (string, error) {
	m := make(map[string]any, len(args))
	for k, v := range args {
		m[k] = v
	}
	for _, k := range idemExcluded {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	canon, err := govtoken.Canonicalize(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(task+"\n"), canon...))
	return hex.EncodeToString(sum[:]), nil
}

// idempotent looks up an earlier success of the same keyed request. It
// returns the cached body (with replayed set) if there is one, or an
// IDEMPOTENCY_CONFLICT if the key was used for another payload.
func (a *Agent) idempotent(ctx context.Context, r *request) (map[string]any, string, error) {
	key := r.str("idempotency_key")
	if key == "" {
		return nil, "", nil
	}
	hash, err := requestHash(r.task, r.args)
	if err != nil {
		return nil, "", err
	}
	rec, err := a.st.GetIdempotency(ctx, store.IdempotencyScope{Account: r.caller.Account, Principal: r.caller.principal(), Task: idemScopeTask, Key: key})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, hash, nil
	case err != nil:
		return nil, "", err
	case r.now.After(rec.ExpiresAt.Add(idemSkew)):
		return nil, "", newError("IDEMPOTENCY_EXPIRED", Correctable, "idempotency_key",
			"idempotency_key %q expired at %s; send the request with a new key", key, rec.ExpiresAt.Format(time.RFC3339))
	case rec.RequestHash != hash:
		return nil, "", newError(CodeIdempotencyConflict, Correctable, "idempotency_key",
			"idempotency_key %q was used for a different request; use a fresh key for a new request", key)
	}
	body, err := decode(rec.Response)
	if err != nil {
		return nil, "", err
	}
	body["replayed"] = true
	delete(body, "context") // the envelope echoes this request's context
	return body, hash, nil
}

// remember stores a success for replay, inside the caller's transaction.
// The first writer of a key wins: a concurrent identical request gets the
// conflict and is answered from the winner's record.
func (a *Agent) remember(ctx context.Context, tx store.Tx, r *request, hash string, body map[string]any) error {
	key := r.str("idempotency_key")
	if key == "" {
		return nil
	}
	b, err := json.Marshal(a.envelope(r, cloneMap(body)))
	if err != nil {
		return err
	}
	return tx.PutIdempotency(ctx, store.IdempotencyRecord{
		IdempotencyScope: store.IdempotencyScope{Account: r.caller.Account, Principal: r.caller.principal(), Task: idemScopeTask, Key: key},
		RequestHash:      hash, Response: b, CreatedAt: r.now, ExpiresAt: r.now.Add(IdempotencyTTL)})
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
