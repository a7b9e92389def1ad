// Package govtoken implements the AdCP governance_context token: the compact
// JWS a campaign governance agent signs when it approves a governed action,
// and the seller-side checks that decide whether such a token authorizes the
// action in hand.
//
// It holds four things, each usable on its own:
//
//   - Canonical hashes (RFC 8785 JCS, SHA-256): [PlanHash], the audit-layer
//     binding of a token to the plan revision it was evaluated against;
//     [PayloadHash], the authorized_payload_hash binding of an intent token to
//     the exact downstream task arguments; [StatementDigest], the digest of a
//     seller delivery statement. Inputs are raw JSON bytes, so numbers keep
//     the text they arrived with until JCS re-serializes them.
//
//   - Tokens: [Sign] issues a token from [Claims] with the AdCP JWS profile
//     header (alg EdDSA, kid, typ "adcp-gov+jws", crit plus same-named boolean
//     markers for authorized_commitment, authorized_task and
//     authorized_payload_hash). Header and claims are serialized in a fixed
//     member order, like JSON.stringify on the objects the upstream vectors
//     publish, so a token is reproducible byte for byte. [Verify] runs the
//     seller verification checklist of the AdCP security profile and fails
//     with an [*Error] whose [Code] is the protocol's
//     governance_* error code.
//
//   - Keys: [Key] (Ed25519) and [KeyRing], which signs with the newest
//     active key and keeps a retired key in the published [JWKS] until the
//     last token it could have signed has expired. Storage is the caller's:
//     [Key.MarshalPrivate] and [UnmarshalKey] carry the private seed so the
//     caller can seal it at rest.
//
//   - Revocation: [RevocationList], signed as a JWS of type
//     "adcp-gov-revocation+jws", which the verifier consults on every call and
//     treats as stale past next_update.
//
// The conformance vectors of the upstream protocol repository are in
// testdata/ and run as table tests. [VerifyCommand] is the body of the
// seller-side "fleetgov adcp verify-token" command.
//
// Spec: AdCP docs/building/by-layer/L1/security.mdx §Signed Governance
// Context, docs/governance/campaign/specification.mdx §Plan binding and audit.
package govtoken
