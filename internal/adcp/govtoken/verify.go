package govtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"
)

// DefaultClockSkew is the symmetric tolerance on iat, nbf and exp.
const DefaultClockSkew = 60 * time.Second

// KeySource gives the verifier an issuer's published keys. A *JWKS is a
// KeySource that always answers itself.
type KeySource interface {
	// KeySet returns the issuer's JWKS. refresh is true when the verifier
	// missed a kid and asks for one refetch; a source rate-limits refetches
	// (the profile's cooldown is 30 s). A failure to fetch is an *Error with
	// CodeJWKSUnavailable or CodeJWKSUntrusted; any other error counts as
	// unavailable.
	KeySet(ctx context.Context, issuer string, refresh bool) (*JWKS, error)
}

// KeySet makes a fixed key set a KeySource.
func (s *JWKS) KeySet(context.Context, string, bool) (*JWKS, error) { return s, nil }

// ReplayCache remembers the tokens a seller has accepted.
type ReplayCache interface {
	// Consume records (issuer, audience, jti) until expires and reports
	// whether it was already recorded. It must be atomic: of two concurrent
	// calls with one tuple, one sees seen == false.
	Consume(ctx context.Context, issuer, audience, jti string, expires time.Time) (seen bool, err error)
}

// VerifyOptions is what a seller knows when it checks a token: who it is,
// whom it trusts, and the operation the token is meant to authorize. Empty
// optional fields skip their check; Audience, Issuers and Keys are required.
type VerifyOptions struct {
	// Now is the verification time; zero means time.Now().
	Now time.Time
	// ClockSkew tolerates clock differences on iat, nbf and exp; zero means
	// DefaultClockSkew, negative means none.
	ClockSkew time.Duration

	// Keys resolves the issuer's JWKS.
	Keys KeySource
	// Issuers are the governance agent URLs the buyer's brand.json lists as
	// governance agents; iss must equal one byte for byte.
	Issuers []string
	// Audience is the seller's own canonical URL; aud must equal it byte for
	// byte.
	Audience string

	// Caller is the transport-authenticated party the token must name as
	// caller (the buyer, for an inbound intent token).
	Caller string
	// Phase is the authorization gate: intent for a buyer's inbound token,
	// purchase / modification / delivery for the seller's own execution
	// check.
	Phase Phase
	// Subject is the sub retained from an earlier token of the same action.
	Subject string
	// MediaBuyID is the media buy of the request.
	MediaBuyID string
	// Task is the invoked AdCP task, checked against authorized_task.
	Task string
	// Payload is the received task request, raw; its PayloadHash is checked
	// against authorized_payload_hash. PayloadHash may carry a precomputed
	// hash instead.
	Payload     json.RawMessage
	PayloadHash string
	// Commitment is what the seller is about to commit; it must not exceed
	// authorized_commitment and must be in its currency.
	Commitment *Commitment

	// Revocations is the issuer's current signed revocation list, already
	// verified (ParseRevocationList). Without a fresh list, execution-phase
	// tokens are refused with CodeRevocationStale; intent tokens are checked
	// against the list when there is one.
	Revocations *RevocationList
	// RevocationGrace extends a list's next_update before it counts as stale
	// (the profile recommends four polling intervals).
	RevocationGrace time.Duration

	// Replay, when set, records each accepted token and refuses a second
	// use of its (iss, aud, jti).
	Replay ReplayCache
}

// allowedAlgs is the algorithm allow-list; the library default is never used.
var allowedAlgs = []string{AlgEdDSA, AlgES256}

// Verify runs the seller verification checklist (security.mdx §Seller
// verification checklist) on token and returns its claims when every check
// passes. Checks run in the checklist's order and stop at the first failure:
//
//  1. a compact JWS of at most MaxTokenLength characters;
//  2. alg EdDSA or ES256;
//  3. typ exactly adcp-gov+jws;
//  4. every crit name understood; authorized_commitment, authorized_task and
//     authorized_payload_hash each present as claim, crit entry and true
//     marker together or not at all; task and payload hash as a pair;
//  5. the kid found in the issuer's JWKS, after one refetch;
//  6. the key is for signing governance tokens (use, key_ops, adcp_use);
//  7. the signature; then the claims every token carries (iss, aud, caller,
//     sub, iat, exp, jti, phase, check_id) and the 30-day cap on execution
//     tokens;
//  8. aud, and caller when the options name one;
//  9. iat and nbf not after now+skew, exp not before now-skew;
//  10. sub, when the options carry a retained one;
//  11. phase;
//  12. media_buy_id, authorized_task, authorized_payload_hash and
//     authorized_commitment against the operation;
//  13. iss among the trusted issuers;
//  14. the revocation list fresh (for execution tokens) and neither jti nor
//     kid revoked;
//  15. jti not seen before for (iss, aud).
//
// A failure is an *Error carrying the taxonomy code; a failing replay store
// or bad options give a plain error.
func Verify(ctx context.Context, token string, opts VerifyOptions) (Claims, error) {
	if opts.Audience == "" || len(opts.Issuers) == 0 || opts.Keys == nil {
		return Claims{}, fmt.Errorf("%w: audience, issuers and keys are required", ErrBadOptions)
	}
	if opts.Phase != "" && !opts.Phase.Valid() {
		return Claims{}, fmt.Errorf("%w: phase %q", ErrBadOptions, opts.Phase)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	skew := opts.ClockSkew
	switch {
	case skew == 0:
		skew = DefaultClockSkew
	case skew < 0:
		skew = 0
	}

	// 1. Parse.
	tok, err := Parse(token)
	if err != nil {
		return Claims{}, err
	}
	h, c := &tok.Header, &tok.Claims

	// 2-4. Header.
	if err := checkHeader(tok); err != nil {
		return Claims{}, err
	}

	// 5-7. Key and signature.
	if err := checkSignature(ctx, tok, opts.Keys); err != nil {
		return Claims{}, err
	}
	if err := requireClaims(tok.raw, c); err != nil {
		return Claims{}, fail(CodeTokenInvalid, "%v", err)
	}

	// 8. Audience, and the authenticated caller.
	if c.Audience != opts.Audience {
		return Claims{}, fail(CodeTokenNotApplicable, "aud %q is not this seller (%q)", c.Audience, opts.Audience)
	}
	if opts.Caller != "" && c.Caller != opts.Caller {
		return Claims{}, fail(CodeTokenNotApplicable, "caller %q is not the authenticated caller %q", c.Caller, opts.Caller)
	}

	// 9. Time.
	if c.IssuedAt.After(now.Add(skew)) {
		return Claims{}, fail(CodeTokenNotYetValid, "iat %d is ahead of now %d", c.IssuedAt.Unix(), now.Unix())
	}
	if tok.raw.has("nbf") && c.NotBefore.After(now.Add(skew)) {
		return Claims{}, fail(CodeTokenNotYetValid, "nbf %d is ahead of now %d", c.NotBefore.Unix(), now.Unix())
	}
	if c.ExpiresAt.Before(now.Add(-skew)) {
		return Claims{}, fail(CodeTokenExpired, "exp %d is before now %d", c.ExpiresAt.Unix(), now.Unix())
	}

	// 10. The action binding retained from an earlier token.
	if opts.Subject != "" && c.Subject != opts.Subject {
		return Claims{}, fail(CodeTokenNotApplicable, "sub differs from the retained action binding")
	}

	// 11. Phase.
	if opts.Phase != "" && c.Phase != opts.Phase {
		return Claims{}, fail(CodeTokenNotApplicable, "phase %q at a %q gate", c.Phase, opts.Phase)
	}

	// 12. The operation.
	if err := checkAction(tok, &opts); err != nil {
		return Claims{}, err
	}

	// 13. The issuer.
	if !slices.Contains(opts.Issuers, c.Issuer) {
		return Claims{}, fail(CodeIssuerNotAuthorized, "iss %q is not a trusted governance agent", c.Issuer)
	}

	// 14. Revocation.
	list := opts.Revocations
	if list != nil && !list.governs(c.Issuer) {
		list = nil
	}
	if c.Phase != PhaseIntent && (list == nil || list.Stale(now, opts.RevocationGrace)) {
		return Claims{}, fail(CodeRevocationStale, "no fresh revocation list for %q", c.Issuer)
	}
	if list != nil {
		if slices.Contains(list.RevokedJTIs, c.JTI) {
			return Claims{}, fail(CodeTokenRevoked, "jti %q is revoked", c.JTI)
		}
		if slices.Contains(list.RevokedKIDs, h.KID) {
			return Claims{}, fail(CodeTokenRevoked, "kid %q is revoked", h.KID)
		}
	}

	// 15. Replay.
	if opts.Replay != nil {
		seen, err := opts.Replay.Consume(ctx, c.Issuer, c.Audience, c.JTI, c.ExpiresAt.Add(skew))
		if err != nil {
			return Claims{}, fmt.Errorf("govtoken: replay store: %w", err)
		}
		if seen {
			return Claims{}, fail(CodeTokenReplayed, "jti %q was already used", c.JTI)
		}
	}
	return *c, nil
}

// checkHeader runs steps 2 to 4.
func checkHeader(tok *Token) error {
	h := &tok.Header
	if !slices.Contains(allowedAlgs, h.Alg) {
		return fail(CodeTokenInvalid, "alg %q is not allowed", h.Alg)
	}
	if h.Typ != TypeToken {
		return fail(CodeTokenInvalid, "typ %q is not %s", h.Typ, TypeToken)
	}
	if h.KID == "" {
		return fail(CodeTokenInvalid, "header has no kid")
	}
	for _, name := range h.Crit {
		if !slices.Contains(criticalClaims[:], name) {
			return fail(CodeTokenInvalid, "crit lists %q, which this verifier does not understand", name)
		}
	}
	for _, name := range criticalClaims {
		claim := tok.raw.has(name)
		_, listed := h.Markers[name]
		marker := h.Markers[name]
		_, inHeader := tok.header[name]
		if claim != listed || listed != marker || inHeader != claim {
			return fail(CodeTokenInvalid, "%s: claim, crit entry and true marker must appear together", name)
		}
	}
	if tok.raw.has(claimTask) != tok.raw.has(claimPayloadHash) {
		return fail(CodeTokenInvalid, "authorized_task and authorized_payload_hash must appear together")
	}
	return nil
}

// checkSignature runs steps 5 to 7.
func checkSignature(ctx context.Context, tok *Token, keys KeySource) error {
	lookup := func(refresh bool) (*JWK, error) {
		set, err := keys.KeySet(ctx, tok.Claims.Issuer, refresh)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, err
			}
			return nil, &Error{Code: CodeJWKSUnavailable, Reason: "jwks: " + err.Error(), Err: err}
		}
		k, _ := set.Lookup(tok.Header.KID)
		return k, nil
	}
	k, err := lookup(false)
	if err == nil && k == nil {
		k, err = lookup(true)
	}
	if err != nil {
		return err
	}
	if k == nil {
		return fail(CodeKeyUnknown, "kid %q is not in the issuer's jwks", tok.Header.KID)
	}
	if err := k.forGovernance(); err != nil {
		return fail(CodeKeyUnknown, "%v", err)
	}
	if err := k.verify(tok.Header.Alg, []byte(tok.signingInput), tok.signature); err != nil {
		return fail(CodeTokenInvalid, "signature: %v", err)
	}
	return nil
}

// checkAction runs step 12: the token against the operation in hand.
func checkAction(tok *Token, opts *VerifyOptions) error {
	c := &tok.Claims
	switch c.Phase {
	case PhaseIntent:
		if c.MediaBuyID != "" {
			return fail(CodeTokenNotApplicable, "intent token carries media_buy_id")
		}
	case PhaseModification, PhaseDelivery:
		if c.MediaBuyID == "" {
			return fail(CodeTokenInvalid, "%s token has no media_buy_id", c.Phase)
		}
	}
	if opts.MediaBuyID != "" && c.MediaBuyID != "" && c.MediaBuyID != opts.MediaBuyID {
		return fail(CodeTokenNotApplicable, "media_buy_id %q is not the request's %q", c.MediaBuyID, opts.MediaBuyID)
	}

	bindsAction := opts.Task != "" || opts.Payload != nil || opts.PayloadHash != ""
	if bindsAction && c.AuthorizedTask == "" {
		// Task and payload hash come as a pair (step 4), so both are absent.
		if c.Phase == PhaseIntent {
			return fail(CodeTokenInvalid, "intent token authorizes no task")
		}
		return fail(CodeTokenNotApplicable, "token authorizes no task")
	}
	if opts.Task != "" && c.AuthorizedTask != opts.Task {
		return fail(CodeTokenNotApplicable, "authorized_task %q is not the invoked %q", c.AuthorizedTask, opts.Task)
	}
	want := opts.PayloadHash
	if opts.Payload != nil {
		h, err := PayloadHash(opts.Payload)
		if err != nil {
			return fail(CodeTokenNotApplicable, "request payload: %v", err)
		}
		want = h
	}
	if want != "" && !EqualHash(c.AuthorizedPayloadHash, want) {
		return fail(CodeTokenNotApplicable, "authorized_payload_hash does not match the request")
	}

	if a := opts.Commitment; a != nil {
		ceiling := c.AuthorizedCommitment
		switch {
		case ceiling == nil:
			return fail(CodeTokenNotApplicable, "monetary operation without authorized_commitment")
		case ceiling.Currency != a.Currency:
			return fail(CodeTokenNotApplicable, "commitment in %s, authorized in %s", a.Currency, ceiling.Currency)
		case a.Amount > ceiling.Amount:
			return fail(CodeTokenNotApplicable, "commitment %v exceeds the authorized %v", a.Amount, ceiling.Amount)
		}
	}
	return nil
}

// origin returns scheme://host[:port] of u, or "" when u is not an absolute
// URL.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// MemoryReplayCache is an in-process ReplayCache; the zero value is ready.
// Entries are dropped once their token has expired. A seller with more than
// one process needs a shared store instead.
type MemoryReplayCache struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	inserts int
}

// NewMemoryReplayCache returns an empty cache.
func NewMemoryReplayCache() *MemoryReplayCache { return &MemoryReplayCache{} }

// Consume implements ReplayCache.
func (m *MemoryReplayCache) Consume(_ context.Context, issuer, audience, jti string, expires time.Time) (bool, error) {
	key := issuer + "\x00" + audience + "\x00" + jti
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = make(map[string]time.Time)
	}
	if _, ok := m.seen[key]; ok {
		return true, nil
	}
	m.seen[key] = expires
	m.inserts++
	if m.inserts%1024 == 0 {
		now := time.Now()
		for k, exp := range m.seen {
			if exp.Before(now) {
				delete(m.seen, k)
			}
		}
	}
	return false, nil
}
