package govtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxRevocationInterval is the furthest ahead an issuer serving
// execution-phase tokens may set next_update.
const MaxRevocationInterval = 30 * time.Minute

// RevocationList is an issuer's signed list of revoked tokens and keys,
// published at {origin of iss}/.well-known/governance-revocations.json.
// A revoked jti invalidates that one token; a revoked kid invalidates every
// token the key ever signed.
type RevocationList struct {
	Version     int
	Issuer      string
	Updated     time.Time
	NextUpdate  time.Time
	RevokedJTIs []string
	RevokedKIDs []string
}

// Stale reports whether the list is past next_update plus grace at now; a
// seller then refuses execution-phase tokens until it has a newer list.
func (l *RevocationList) Stale(now time.Time, grace time.Duration) bool {
	return now.After(l.NextUpdate.Add(grace))
}

// governs reports whether the list is the one for tokens issued by iss: its
// issuer is iss itself or the origin of iss.
func (l *RevocationList) governs(iss string) bool {
	return l.Issuer == iss || (l.Issuer != "" && l.Issuer == origin(iss))
}

func (l *RevocationList) marshal() []byte {
	w := objectWriter{buf: make([]byte, 0, 256)}
	w.int("version", int64(l.Version))
	w.str("issuer", l.Issuer)
	w.str("updated", l.Updated.UTC().Format(time.RFC3339))
	w.str("next_update", l.NextUpdate.UTC().Format(time.RFC3339))
	w.strs("revoked_jtis", l.RevokedJTIs)
	w.strs("revoked_kids", l.RevokedKIDs)
	return w.bytes()
}

// SignRevocationList signs list as a compact JWS of typ
// adcp-gov-revocation+jws with key, which must be in the issuer's JWKS.
// Version defaults to 1; next_update must follow updated by at most
// MaxRevocationInterval. RevocationDocument turns the result into the JSON
// document the well-known URL serves.
func SignRevocationList(key *Key, list RevocationList) (string, error) {
	if list.Version == 0 {
		list.Version = 1
	}
	switch {
	case list.Version != 1:
		return "", fmt.Errorf("govtoken: revocation list version %d", list.Version)
	case list.Issuer == "":
		return "", errors.New("govtoken: revocation list needs an issuer")
	case !list.NextUpdate.After(list.Updated):
		return "", errors.New("govtoken: revocation list next_update is not after updated")
	case list.NextUpdate.Sub(list.Updated) > MaxRevocationInterval:
		return "", fmt.Errorf("govtoken: revocation list next_update is more than %v ahead", MaxRevocationInterval)
	case key == nil || key.KID == "" || len(key.Private) == 0:
		return "", errors.New("govtoken: revocation list: key needs a kid and a private part")
	}
	return signCompact(key.Private, tokenHeader(key.KID, TypeRevocation, nil), list.marshal()), nil
}

// RevocationDocument returns the JWS JSON serialization of a compact JWS,
// {"payload", "signatures": [{"protected", "signature"}]}, the shape the
// profile shows for the published list.
func RevocationDocument(compact string) ([]byte, error) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return nil, errors.New("govtoken: not a compact JWS")
	}
	var w objectWriter
	w.str("payload", parts[1])
	var sw objectWriter
	sw.str("protected", parts[0])
	sw.str("signature", parts[2])
	w.raw("signatures", append(append([]byte{'['}, sw.bytes()...), ']'))
	return w.bytes(), nil
}

// ParseRevocationList verifies and decodes a published revocation list: a
// compact JWS, or its flattened or general JSON serialization. The signature
// must come from a governance key in keys and the header must carry typ
// adcp-gov-revocation+jws. Failures wrap ErrRevocationListInvalid.
func ParseRevocationList(data []byte, keys *JWKS) (*RevocationList, error) {
	data = bytes.TrimSpace(data)
	if len(data) > MaxJWKSBytes*16 {
		return nil, invalidList("document is %d bytes", len(data))
	}
	var candidates []string
	if len(data) > 0 && data[0] == '{' {
		var doc struct {
			Payload    string `json:"payload"`
			Protected  string `json:"protected"`
			Signature  string `json:"signature"`
			Signatures []struct {
				Protected string `json:"protected"`
				Signature string `json:"signature"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, invalidList("not a JWS JSON serialization: %v", err)
		}
		if doc.Protected != "" {
			candidates = append(candidates, doc.Protected+"."+doc.Payload+"."+doc.Signature)
		}
		for _, s := range doc.Signatures {
			candidates = append(candidates, s.Protected+"."+doc.Payload+"."+s.Signature)
		}
	} else {
		candidates = append(candidates, string(data))
	}
	var lastErr error
	for _, c := range candidates {
		list, err := parseRevocationCompact(c, keys)
		if err == nil {
			return list, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = invalidList("no signature")
	}
	return nil, lastErr
}

func invalidList(format string, args ...any) error {
	return &Error{Code: codeRevocationListInvalid, Reason: fmt.Sprintf(format, args...)}
}

func parseRevocationCompact(tok string, keys *JWKS) (*RevocationList, error) {
	c, err := splitCompact(tok)
	if err != nil {
		return nil, invalidList("%v", err)
	}
	h, _, err := decodeHeader(c.header)
	if err != nil {
		return nil, invalidList("%v", err)
	}
	switch {
	case !slices.Contains(allowedAlgs, h.Alg):
		return nil, invalidList("alg %q is not allowed", h.Alg)
	case h.Typ != TypeRevocation:
		return nil, invalidList("typ %q is not %s", h.Typ, TypeRevocation)
	case len(h.Crit) > 0:
		return nil, invalidList("crit %v is not understood", h.Crit)
	}
	k, ok := keys.Lookup(h.KID)
	if !ok {
		return nil, invalidList("kid %q is not in the jwks", h.KID)
	}
	if err := k.forGovernance(); err != nil {
		return nil, invalidList("%v", err)
	}
	if err := k.verify(h.Alg, []byte(c.signingInput), c.signature); err != nil {
		return nil, invalidList("signature: %v", err)
	}
	members, err := decodeObject(c.payload)
	if err != nil {
		return nil, invalidList("payload: %v", err)
	}
	var l RevocationList
	var have = map[string]bool{}
	for _, m := range members {
		have[m.name] = true
		var err error
		switch m.name {
		case "version":
			err = json.Unmarshal(m.value, &l.Version)
		case "issuer":
			err = json.Unmarshal(m.value, &l.Issuer)
		case "updated":
			l.Updated, err = rfc3339(m.value)
		case "next_update":
			l.NextUpdate, err = rfc3339(m.value)
		case "revoked_jtis":
			err = json.Unmarshal(m.value, &l.RevokedJTIs)
		case "revoked_kids":
			err = json.Unmarshal(m.value, &l.RevokedKIDs)
		}
		if err != nil {
			return nil, invalidList("%s: %v", m.name, err)
		}
	}
	for _, name := range []string{"version", "issuer", "updated", "next_update", "revoked_jtis", "revoked_kids"} {
		if !have[name] {
			return nil, invalidList("%s is missing", name)
		}
	}
	if l.Version != 1 || l.Issuer == "" {
		return nil, invalidList("version %d, issuer %q", l.Version, l.Issuer)
	}
	return &l, nil
}

func rfc3339(v json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339, s)
}
