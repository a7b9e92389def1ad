package govtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// MaxJWKSBytes caps a JWKS document. A verifier rejects a larger one, so a
// multi-tenant agent publishes one small JWKS per tenant.
const MaxJWKSBytes = 64 << 10

// ADCPUseGovernance is the adcp_use of a governance-signing key. A JWKS may
// be shared with transport-signing keys; a key for another use never
// verifies a governance token.
const ADCPUseGovernance = "governance-signing"

// Signature algorithms the profile allows.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// JWK is one public key of a JWKS (RFC 7517), with the AdCP adcp_use member.
type JWK struct {
	KTY     string   `json:"kty"`
	CRV     string   `json:"crv,omitempty"`
	X       string   `json:"x,omitempty"`
	Y       string   `json:"y,omitempty"`
	KID     string   `json:"kid"`
	Use     string   `json:"use,omitempty"`
	KeyOps  []string `json:"key_ops,omitempty"`
	ADCPUse string   `json:"adcp_use,omitempty"`
	Alg     string   `json:"alg,omitempty"`

	pub crypto.PublicKey // parsed once by ParseJWKS and Key.JWK
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// ParseJWKS parses a published JWKS. It rejects a document over MaxJWKSBytes,
// one that is not a key set, and one where two keys share a kid. Keys of a
// type this package cannot use are kept (they verify nothing).
func ParseJWKS(data []byte) (*JWKS, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fail(CodeJWKSUnavailable, "jwks is %d bytes, over the %d cap", len(data), MaxJWKSBytes)
	}
	var doc struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Code: CodeJWKSUnavailable, Reason: "jwks is not a key set", Err: err}
	}
	if doc.Keys == nil {
		return nil, fail(CodeJWKSUnavailable, "jwks has no keys member")
	}
	seen := make(map[string]bool, len(doc.Keys))
	for i := range doc.Keys {
		k := &doc.Keys[i]
		if k.KID == "" {
			continue // unaddressable: a token always names its kid
		}
		if seen[k.KID] {
			return nil, fail(CodeJWKSUnavailable, "jwks has two keys with kid %q", k.KID)
		}
		seen[k.KID] = true
		k.pub, _ = k.publicKey() // an unusable key stays unusable at lookup
	}
	return &JWKS{Keys: doc.Keys}, nil
}

// Lookup returns the key with the given kid.
func (s *JWKS) Lookup(kid string) (*JWK, bool) {
	if s == nil || kid == "" {
		return nil, false
	}
	for i := range s.Keys {
		if s.Keys[i].KID == kid {
			return &s.Keys[i], true
		}
	}
	return nil, false
}

// Marshal returns the JWKS document to publish.
func (s *JWKS) Marshal() ([]byte, error) {
	if s.Keys == nil {
		return []byte(`{"keys":[]}`), nil
	}
	return json.Marshal(s)
}

// forGovernance reports why k may not verify governance tokens, or nil: its
// use must be "sig", its key_ops must include "verify", and an adcp_use, when
// present, must be governance-signing.
func (k *JWK) forGovernance() error {
	if k.Use != "sig" {
		return fmt.Errorf("key %q has use %q, not sig", k.KID, k.Use)
	}
	if !slices.Contains(k.KeyOps, "verify") {
		return fmt.Errorf("key %q key_ops lack verify", k.KID)
	}
	if k.ADCPUse != "" && k.ADCPUse != ADCPUseGovernance {
		return fmt.Errorf("key %q is for %q", k.KID, k.ADCPUse)
	}
	return nil
}

// publicKey decodes the key material: OKP/Ed25519 or EC/P-256.
func (k *JWK) publicKey() (crypto.PublicKey, error) {
	if k.pub != nil {
		return k.pub, nil
	}
	switch {
	case k.KTY == "OKP" && k.CRV == "Ed25519":
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		return ed25519.PublicKey(x), nil
	case k.KTY == "EC" && k.CRV == "P-256":
		x, errX := b64.DecodeString(k.X)
		y, errY := b64.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad P-256 coordinates")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, err
		}
		return pub, nil
	}
	return nil, fmt.Errorf("unsupported key type %s/%s", k.KTY, k.CRV)
}

// verify checks sig over input with k under alg.
func (k *JWK) verify(alg string, input, sig []byte) error {
	if k.Alg != "" && k.Alg != alg {
		return fmt.Errorf("key %q is for %s, token says %s", k.KID, k.Alg, alg)
	}
	pub, err := k.publicKey()
	if err != nil {
		return err
	}
	switch alg {
	case AlgEdDSA:
		p, ok := pub.(ed25519.PublicKey)
		if !ok {
			return errors.New("EdDSA token, non-Ed25519 key")
		}
		if !ed25519.Verify(p, input, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	case AlgES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("ES256 token, non-P-256 key")
		}
		if !verifyES256(p, input, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("alg %q is not allowed", alg)
}

// verifyES256 checks a JWS ES256 signature: R||S, 32 bytes each (RFC 7518
// §3.4), not ASN.1.
func verifyES256(pub *ecdsa.PublicKey, input, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	der := p1363ToASN1(sig[:32], sig[32:])
	sum := sha256.Sum256(input)
	return ecdsa.VerifyASN1(pub, sum[:], der)
}

// p1363ToASN1 encodes r and s as the DER SEQUENCE ecdsa.VerifyASN1 reads.
func p1363ToASN1(r, s []byte) []byte {
	enc := func(b []byte) []byte {
		for len(b) > 1 && b[0] == 0 {
			b = b[1:]
		}
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	body := append(enc(r), enc(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}
