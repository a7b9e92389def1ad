package store

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// sealDomain separates audit record hashes from any other SHA-256 use.
const sealDomain = "fleetgov/audit/v1"

// Seal returns the record's chain hash: SHA-256 over a domain tag, prev (the
// previous record's hash in the partition) and every field of r except PrevHash
// and Hash, each length-prefixed so that no two different records encode alike.
// Time enters at microsecond precision in UTC, which both backends round-trip.
//
// Agent, Resource and CostMicros, added after the first records were
// written, follow the other fields and enter only when one of them is set:
// a record without them seals as it did before they existed, so chains
// written earlier still verify. The encoding stays unambiguous, as every
// field is length-prefixed and the extended form is strictly longer.
func (r AuditRecord) Seal(prev []byte) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	number := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	field([]byte(sealDomain))
	field(prev)
	field([]byte(r.Partition))
	number(r.Seq)
	field([]byte(r.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)))
	field([]byte(r.Actor))
	field([]byte(r.Action))
	field([]byte(r.Object))
	field([]byte(r.Outcome))
	field([]byte(r.TraceID))
	field(r.Detail)
	if r.Agent != "" || r.Resource != "" || r.CostMicros != 0 {
		field([]byte(r.Agent))
		field([]byte(r.Resource))
		number(r.CostMicros)
	}
	return h.Sum(nil)
}
