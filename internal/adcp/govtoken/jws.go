package govtoken

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Media types of the two signed artifacts, compared byte for byte.
const (
	TypeToken      = "adcp-gov+jws"
	TypeRevocation = "adcp-gov-revocation+jws"
)

// Header is the protected header of a governance JWS.
type Header struct {
	Alg  string
	KID  string
	Typ  string
	Crit []string
	// Markers holds the boolean header parameters named in Crit.
	Markers map[string]bool
}

// Token is a decoded, unverified governance_context token.
type Token struct {
	Header Header
	Claims Claims

	raw          rawClaims
	header       map[string]json.RawMessage
	payload      []byte // the claims object as signed
	signingInput string
	signature    []byte
}

// Sign issues a governance_context token: a compact JWS over claims, signed
// with key (EdDSA). The header is {alg, kid, typ, crit, markers}; crit and a
// true marker appear for each of authorized_commitment, authorized_task and
// authorized_payload_hash the claims carry, in that order. Claims that break
// the profile (a missing required claim, media_buy_id on an intent token, a
// task without its payload hash, no policy decision evidence...) are refused
// with ErrInvalidClaims, and a retired key does not sign.
func Sign(key *Key, claims Claims) (string, error) {
	if err := claims.validate(); err != nil {
		return "", err
	}
	if key == nil || len(key.Private) != ed25519.PrivateKeySize || key.KID == "" {
		return "", errors.New("govtoken: sign: key needs a kid and a private part")
	}
	if !key.RetiredAt.IsZero() && !claims.IssuedAt.Before(key.RetiredAt) {
		return "", fmt.Errorf("govtoken: sign: key %q was retired at %v", key.KID, key.RetiredAt)
	}
	return signClaims(key, &claims)
}

// signClaims serializes and signs without the profile checks.
func signClaims(key *Key, claims *Claims) (string, error) {
	payload, err := claims.marshal()
	if err != nil {
		return "", err
	}
	tok := signCompact(key.Private, tokenHeader(key.KID, TypeToken, claims.critical()), payload)
	if len(tok) > MaxTokenLength {
		return "", fmt.Errorf("%w: token is %d characters, over %d", ErrInvalidClaims, len(tok), MaxTokenLength)
	}
	return tok, nil
}

// tokenHeader writes {alg, kid, typ[, crit, marker: true...]}.
func tokenHeader(kid, typ string, crit []string) []byte {
	w := objectWriter{buf: make([]byte, 0, 192)}
	w.str("alg", AlgEdDSA)
	w.str("kid", kid)
	w.str("typ", typ)
	if len(crit) > 0 {
		w.strs("crit", crit)
		for _, name := range crit {
			w.bool(name, true)
		}
	}
	return w.bytes()
}

// signCompact returns BASE64URL(header) "." BASE64URL(payload) "."
// BASE64URL(Ed25519 signature). Ed25519 is deterministic, so equal inputs give
// equal tokens.
func signCompact(priv ed25519.PrivateKey, header, payload []byte) string {
	n := b64.EncodedLen(len(header)) + 1 + b64.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+b64.EncodedLen(ed25519.SignatureSize))
	b64.Encode(buf, header)
	buf[b64.EncodedLen(len(header))] = '.'
	b64.Encode(buf[b64.EncodedLen(len(header))+1:], payload)
	sig := ed25519.Sign(priv, buf)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf)
}

// compact is a split and decoded compact JWS.
type compact struct {
	header, payload, signature []byte
	signingInput               string
}

func splitCompact(tok string) (compact, error) {
	var c compact
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return c, errors.New("not a three-part compact JWS")
	}
	var err error
	if c.header, err = b64.DecodeString(h); err != nil {
		return c, errors.New("header is not unpadded base64url")
	}
	if c.payload, err = b64.DecodeString(p); err != nil {
		return c, errors.New("payload is not unpadded base64url")
	}
	if c.signature, err = b64.DecodeString(s); err != nil {
		return c, errors.New("signature is not unpadded base64url")
	}
	c.signingInput = tok[:len(h)+1+len(p)]
	return c, nil
}

// decodeHeader reads a protected header. alg, kid and typ must be strings
// when present; crit, when present, a non-empty array of distinct strings.
func decodeHeader(b []byte) (Header, map[string]json.RawMessage, error) {
	var h Header
	members, err := decodeObject(b)
	if err != nil {
		return h, nil, fmt.Errorf("header: %v", err)
	}
	raw := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		raw[m.name] = m.value
	}
	for name, dst := range map[string]*string{"alg": &h.Alg, "kid": &h.KID, "typ": &h.Typ} {
		if v, ok := raw[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil || isNull(v) {
				return h, nil, fmt.Errorf("header %s is not a string", name)
			}
		}
	}
	if v, ok := raw["crit"]; ok {
		if err := json.Unmarshal(v, &h.Crit); err != nil || len(h.Crit) == 0 {
			return h, nil, errors.New("header crit is not a non-empty array of strings")
		}
		h.Markers = make(map[string]bool, len(h.Crit))
		for _, name := range h.Crit {
			if _, dup := h.Markers[name]; dup {
				return h, nil, fmt.Errorf("header crit lists %q twice", name)
			}
			var marker bool
			if mv, ok := raw[name]; ok {
				if err := json.Unmarshal(mv, &marker); err != nil {
					return h, nil, fmt.Errorf("header marker %s is not a boolean", name)
				}
			}
			h.Markers[name] = marker
		}
	}
	return h, raw, nil
}

// Parse decodes a governance_context token without verifying anything but
// its shape: three base64url parts, a header and a claims object with no
// duplicate members, and claims of the right JSON types. Use Verify to decide
// whether a token authorizes anything. Errors are *Error with
// CodeTokenInvalid.
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenLength {
		return nil, fail(CodeTokenInvalid, "token is %d characters, over %d", len(token), MaxTokenLength)
	}
	c, err := splitCompact(token)
	if err != nil {
		return nil, fail(CodeTokenInvalid, "%v", err)
	}
	h, hraw, err := decodeHeader(c.header)
	if err != nil {
		return nil, fail(CodeTokenInvalid, "%v", err)
	}
	members, err := decodeObject(c.payload)
	if err != nil {
		return nil, fail(CodeTokenInvalid, "claims: %v", err)
	}
	raw := make(rawClaims, len(members))
	for _, m := range members {
		raw[m.name] = m.value
	}
	claims, err := decodeClaims(raw)
	if err != nil {
		return nil, fail(CodeTokenInvalid, "%v", err)
	}
	return &Token{
		Header:       h,
		Claims:       claims,
		raw:          raw,
		header:       hraw,
		payload:      c.payload,
		signingInput: c.signingInput,
		signature:    c.signature,
	}, nil
}
