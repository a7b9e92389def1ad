// Package audit checks fleetgov's audit log from the outside: it verifies the
// hash chain of a partition (Verify) and reads and writes the log's JSON
// Lines export (Writer, Reader).
//
// Each partition (a tenant ID, or store.PlatformPartition) is one chain: its
// records have Seq 1, 2, 3, ...; each record's PrevHash is the Hash of the
// record before it (empty for the first); each Hash is the record's
// store.AuditRecord.Seal over its content and PrevHash. Verify reports
// every place where that does not hold as a Problem of one of three kinds:
//
//   - Altered: a record's Hash does not match its content.
//   - Removed: Seq skips numbers, the first record is not Seq 1, or a
//     PrevHash names a record that is not there.
//   - Reordered: Seq goes backwards or repeats, a PrevHash names a record
//     that is there but not just before, or a record whose Seq was changed
//     seals correctly under its original Seq.
//
// Seq is sealed, so a record whose Seq was changed matches its hash only
// under its old Seq: Verify finds that Seq from the record's link and
// reports a record moved; one it cannot place is reported altered. A chain
// cut after its last record still verifies: records removed from the end
// are found only by comparing the head hash (Report.Head) with one kept
// elsewhere.
//
// # Export format
//
// The export is JSON Lines (media type application/jsonl): one JSON object
// per line per record, in chain order, with the fields
//
//	partition, seq, time (RFC 3339, UTC, microseconds), actor, agent,
//	resource, action, object, outcome, trace_id, cost_micros (integer,
//	micro-USD), detail, detail_base64, prev_hash, hash
//
// Hashes are lower-case hex; prev_hash is "" for a partition's first
// record. detail holds the record's detail bytes as a JSON string, exactly,
// when they are valid UTF-8 (the usual case: a JSON object); otherwise
// detail_base64 holds them in standard base64. Empty fields other than
// partition, seq, time, hash and prev_hash are left out. Every field that
// enters the hash is present, so an export verifies on its own (fleetgov
// audit verify --file); a reader refuses unknown fields, which it could
// not hash. An export that failed midway ends with a line {"error": "..."},
// which a reader refuses too.
package audit
