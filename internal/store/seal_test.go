package store

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

const sealV1Golden = "99586e7215527c4fbf20d38fc83af118d4b489fa5bebd6b8e584123da8cd6518"

func TestSeal(t *testing.T) {
	t.Parallel()
	base := AuditRecord{Partition: "acme", Seq: 3, Time: time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
		Actor: "cred-1", Action: "decision", Object: "acme.bot", Outcome: "deny", TraceID: "t1", Detail: []byte(`{"a":1}`)}
	prev := bytes.Repeat([]byte{7}, 32)

	// A record without the fields added later seals as it always did:
	// sealV1Golden is base's hash before Agent, Resource and CostMicros
	// existed (computed with the Seal of migration 0004's time).
	got := hex.EncodeToString(base.Seal(prev))
	if got != sealV1Golden {
		t.Errorf("Seal(base) = %s, want the pre-0005 hash %s", got, sealV1Golden)
	}

	tests := []struct {
		name   string
		change func(r *AuditRecord)
	}{
		{"partition", func(r *AuditRecord) { r.Partition = "acme2" }},
		{"seq", func(r *AuditRecord) { r.Seq++ }},
		{"time", func(r *AuditRecord) { r.Time = r.Time.Add(time.Microsecond) }},
		{"actor", func(r *AuditRecord) { r.Actor = "cred-2" }},
		{"action", func(r *AuditRecord) { r.Action = "decision2" }},
		{"object", func(r *AuditRecord) { r.Object = "acme.bot2" }},
		{"outcome", func(r *AuditRecord) { r.Outcome = "allow" }},
		{"trace", func(r *AuditRecord) { r.TraceID = "t2" }},
		{"detail", func(r *AuditRecord) { r.Detail = []byte(`{"a":2}`) }},
		{"agent", func(r *AuditRecord) { r.Agent = "acme.bot" }},
		{"resource", func(r *AuditRecord) { r.Resource = "model-provider" }},
		{"cost", func(r *AuditRecord) { r.CostMicros = 1 }},
		{"negative cost", func(r *AuditRecord) { r.CostMicros = -1 }},
		{"boundary moved between fields", func(r *AuditRecord) { r.Actor, r.Action = "cred-1d", "ecision" }},
		{"agent text moved to resource", func(r *AuditRecord) { r.Resource = "acme.bot" }},
	}
	want := base.Seal(prev)
	seen := map[string]string{hex.EncodeToString(want): "base"}
	for _, tc := range tests {
		r := base
		tc.change(&r)
		h := hex.EncodeToString(r.Seal(prev))
		if other, dup := seen[h]; dup {
			t.Errorf("Seal with %s changed = Seal with %s changed, want different hashes", tc.name, other)
		}
		seen[h] = tc.name
	}
	if bytes.Equal(base.Seal(nil), want) {
		t.Error("Seal(nil) = Seal(prev), want the previous hash to count")
	}
	// Time zones and sub-microsecond digits do not count.
	r := base
	r.Time = base.Time.In(time.FixedZone("IST", 5*3600+30*60)).Add(999)
	if !bytes.Equal(r.Seal(prev), want) {
		t.Error("Seal in another zone with extra nanoseconds differs, want it equal")
	}
}
