package govtoken

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
)

// planBookkeeping is the closed list of top-level members a governance agent
// writes onto its stored plan revision and strips before hashing. Anything
// not on the list stays in the preimage (specification.mdx §Plan binding).
var planBookkeeping = map[string]bool{
	"version":         true,
	"status":          true,
	"syncedAt":        true,
	"revisionHistory": true,
	"committedBudget": true,
	"committedByType": true,
}

// PlanHashPreimage returns the canonical bytes hashed by PlanHash: the JCS form
// of plan without its top-level bookkeeping members (version, status,
// syncedAt, revisionHistory, committedBudget, committedByType). plan is one
// plans[] element as supplied to sync_plans, or the stored revision.
func PlanHashPreimage(plan json.RawMessage) ([]byte, error) {
	return canonicalWithout(plan, func(name string) bool { return planBookkeeping[name] })
}

// PlanHash returns the plan_hash claim for plan:
// base64url_nopad(SHA-256(PlanHashPreimage(plan))). Nothing is defaulted or
// normalized: an explicit null differs from an absent member, array order is
// kept, and strings are hashed as sent.
func PlanHash(plan json.RawMessage) (string, error) {
	pre, err := PlanHashPreimage(plan)
	if err != nil {
		return "", err
	}
	return b64Hash(pre), nil
}

// PayloadHashPreimage returns the canonical bytes hashed by PayloadHash: the
// JCS form of payload without its top-level governance_context and context.
// Every other member, idempotency_key included, stays bound.
func PayloadHashPreimage(payload json.RawMessage) ([]byte, error) {
	return canonicalWithout(payload, func(name string) bool {
		return name == "governance_context" || name == "context"
	})
}

// PayloadHash returns the authorized_payload_hash of a governed task's
// arguments: base64url_nopad(SHA-256(PayloadHashPreimage(payload))).
func PayloadHash(payload json.RawMessage) (string, error) {
	pre, err := PayloadHashPreimage(payload)
	if err != nil {
		return "", err
	}
	return b64Hash(pre), nil
}

// StatementDigest returns the statement_digest of a seller delivery statement:
// "sha256:" + hex(SHA-256(JCS({"seller_reference": sellerReference,
// "delivery_metrics": deliveryMetrics minus its top-level statement_digest}))).
// sellerReference is the media buy the statement is about
// (planned_delivery.media_buy_id).
func StatementDigest(sellerReference string, deliveryMetrics json.RawMessage) (string, error) {
	metrics, err := canonicalWithout(deliveryMetrics, func(name string) bool { return name == "statement_digest" })
	if err != nil {
		return "", err
	}
	var w objectWriter
	w.str("seller_reference", sellerReference)
	w.raw("delivery_metrics", metrics)
	canon, err := Canonicalize(w.bytes())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// EqualHash reports whether two base64url SHA-256 hashes (plan_hash,
// authorized_payload_hash) are the same 32 bytes, in constant time. A value
// that does not decode to 32 bytes equals nothing.
func EqualHash(a, b string) bool {
	da, errA := b64.DecodeString(a)
	db, errB := b64.DecodeString(b)
	if errA != nil || errB != nil || len(da) != sha256.Size || len(db) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(da, db) == 1
}

// b64 is unpadded base64url that rejects non-canonical trailing bits, so one
// value has one encoding.
var b64 = base64.RawURLEncoding.Strict()

func b64Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return b64.EncodeToString(sum[:])
}
