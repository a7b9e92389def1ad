package govtoken

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKeyMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := GenerateKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	k.RetiredAt = t0.Add(time.Hour)
	if !strings.HasPrefix(k.KID, "gov-20260805-") || len(k.KID) != len("gov-20260805-")+12 {
		t.Errorf("kid = %q", k.KID)
	}
	b, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.KID != k.KID || !bytes.Equal(got.Private, k.Private) || !bytes.Equal(got.Public, k.Public) ||
		!got.CreatedAt.Equal(k.CreatedAt) || !got.RetiredAt.Equal(k.RetiredAt) {
		t.Errorf("UnmarshalKey(MarshalPrivate(k)) = %+v, want %+v", got, k)
	}
	for _, bad := range []string{`{}`, `{"kid":"a","alg":"EdDSA","seed":"AAAA"}`, `{"kid":"a","alg":"ES256","seed":""}`, `nope`} {
		if _, err := UnmarshalKey([]byte(bad)); err == nil {
			t.Errorf("UnmarshalKey(%s) succeeded", bad)
		}
	}
}

// TestThumbprint uses the Ed25519 example of RFC 8037 appendix A.3.
func TestThumbprint(t *testing.T) {
	t.Parallel()
	seed, _ := b64.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	k, err := NewKey("", seed, t0)
	if err != nil {
		t.Fatal(err)
	}
	if x := b64.EncodeToString(k.Public); x != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Fatalf("x = %s", x)
	}
	if got := k.Thumbprint(); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("Thumbprint = %s", got)
	}
}

func TestJWKSDocument(t *testing.T) {
	t.Parallel()
	seed, _ := b64.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	k, _ := NewKey("gov-2026-08", seed, t0)
	ring, err := NewKeyRing(k)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ring.JWKS(t0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"gov-2026-08","use":"sig","key_ops":["verify"],"adcp_use":"governance-signing","alg":"EdDSA"}]}`
	if string(doc) != want {
		t.Errorf("JWKS = %s\nwant %s", doc, want)
	}
	if _, err := NewKeyRing(k, k); err == nil {
		t.Error("NewKeyRing with a duplicate kid succeeded")
	}
	empty, _ := (&JWKS{}).Marshal()
	if string(empty) != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s", empty)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	good := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","use":"sig","key_ops":["verify"]},{"kty":"RSA","kid":"r","n":"x","e":"AQAB"}]}`
	set, err := ParseJWKS([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Lookup("a"); !ok {
		t.Error("Lookup(a) missed")
	}
	if k, ok := set.Lookup("r"); !ok || k.verify(AlgEdDSA, nil, nil) == nil {
		t.Error("an RSA key is kept but verifies nothing")
	}
	for name, doc := range map[string]string{
		"too big":   `{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`,
		"dup kid":   `{"keys":[{"kty":"OKP","kid":"a"},{"kty":"OKP","kid":"a"}]}`,
		"no keys":   `{}`,
		"not json":  `<html>`,
		"keys null": `{"keys":null}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); !errors.Is(err, ErrJWKSUnavailable) {
			t.Errorf("ParseJWKS(%s) = %v, want ErrJWKSUnavailable", name, err)
		}
	}
}
