package audit

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/fleetgov/fleetgov/internal/store"
)

// MediaType is the media type of the export.
const MediaType = "application/jsonl"

// Errors of Reader.
var (
	// ErrFormat is returned for an export line that does not parse.
	ErrFormat = errors.New("audit: malformed export")
	// ErrIncomplete is returned for the line a Writer's Abort wrote: the
	// export ended early, and what came before is not the whole partition.
	ErrIncomplete = errors.New("audit: incomplete export")
)

// line is one record of the export; see the package documentation.
type line struct {
	Partition    string    `json:"partition"`
	Seq          int64     `json:"seq"`
	Time         time.Time `json:"time"`
	Actor        string    `json:"actor,omitempty"`
	Agent        string    `json:"agent,omitempty"`
	Resource     string    `json:"resource,omitempty"`
	Action       string    `json:"action,omitempty"`
	Object       string    `json:"object,omitempty"`
	Outcome      string    `json:"outcome,omitempty"`
	TraceID      string    `json:"trace_id,omitempty"`
	CostMicros   int64     `json:"cost_micros,omitempty"`
	Detail       *string   `json:"detail,omitempty"`
	DetailBase64 []byte    `json:"detail_base64,omitempty"`
	PrevHash     string    `json:"prev_hash"`
	Hash         string    `json:"hash"`
}

// Writer writes records as JSON Lines.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter returns a Writer to w. Call Flush when done.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// Write writes one record as one line.
func (w *Writer) Write(r store.AuditRecord) error {
	l := line{Partition: r.Partition, Seq: r.Seq, Time: r.Time.UTC().Truncate(time.Microsecond), Actor: r.Actor,
		Agent: r.Agent, Resource: r.Resource, Action: r.Action, Object: r.Object, Outcome: r.Outcome,
		TraceID: r.TraceID, CostMicros: r.CostMicros, PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash)}
	switch {
	case len(r.Detail) == 0:
	case utf8.Valid(r.Detail):
		d := string(r.Detail)
		l.Detail = &d
	default:
		l.DetailBase64 = r.Detail
	}
	if err := w.enc.Encode(l); err != nil {
		return fmt.Errorf("audit: write %s seq %d: %w", r.Partition, r.Seq, err)
	}
	return nil
}

// Abort ends an export that could not be completed with a line
// {"error": msg} that no record has, so that a Reader refuses the export
// rather than take its records for the whole partition. It flushes.
func (w *Writer) Abort(msg string) error {
	if err := w.enc.Encode(struct {
		Error string `json:"error"`
	}{msg}); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	return w.Flush()
}

// Flush writes any buffered lines.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	return nil
}

// Reader reads records from JSON Lines.
type Reader struct {
	r    *bufio.Reader
	line int
}

// NewReader returns a Reader from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Read returns the next record, or io.EOF after the last. Blank lines are
// skipped. A line that does not parse is an error wrapping ErrFormat, and
// an Abort line one wrapping ErrIncomplete; both name the line.
func (rd *Reader) Read() (store.AuditRecord, error) {
	for {
		b, err := rd.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return store.AuditRecord{}, io.EOF
			}
			return store.AuditRecord{}, fmt.Errorf("audit: read line %d: %w", rd.line+1, err)
		}
		rd.line++
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		r, aborted, perr := parseLine(b)
		switch {
		case perr != nil:
			return store.AuditRecord{}, fmt.Errorf("%w: line %d: %v", ErrFormat, rd.line, perr)
		case aborted != "":
			return store.AuditRecord{}, fmt.Errorf("%w: line %d: %s", ErrIncomplete, rd.line, aborted)
		}
		return r, nil
	}
}

// ReadAll reads every record.
func ReadAll(r io.Reader) ([]store.AuditRecord, error) {
	rd := NewReader(r)
	var out []store.AuditRecord
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}

// parseLine parses a record, or returns the message of an Abort line.
func parseLine(b []byte) (r store.AuditRecord, aborted string, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	// Required fields are pointers here, to tell absent from empty.
	var l struct {
		line
		Partition *string    `json:"partition"`
		Seq       *int64     `json:"seq"`
		Time      *time.Time `json:"time"`
		PrevHash  *string    `json:"prev_hash"`
		Hash      *string    `json:"hash"`
		Error     *string    `json:"error"`
	}
	if err := dec.Decode(&l); err != nil {
		return r, "", err
	}
	if dec.More() {
		return r, "", errors.New("more than one JSON value")
	}
	if l.Error != nil {
		return r, *l.Error, nil
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{{"partition", l.Partition == nil}, {"seq", l.Seq == nil}, {"time", l.Time == nil},
		{"prev_hash", l.PrevHash == nil}, {"hash", l.Hash == nil}} {
		if f.missing {
			return r, "", fmt.Errorf("no %q", f.name)
		}
	}
	r = store.AuditRecord{Partition: *l.Partition, Seq: *l.Seq, Time: *l.Time, Actor: l.Actor, Agent: l.Agent,
		Resource: l.Resource, Action: l.Action, Object: l.Object, Outcome: l.Outcome, TraceID: l.TraceID, CostMicros: l.CostMicros}
	r.Time = r.Time.UTC()
	switch {
	case l.Detail != nil && l.DetailBase64 != nil:
		return store.AuditRecord{}, "", errors.New(`both "detail" and "detail_base64"`)
	case l.Detail != nil:
		r.Detail = []byte(*l.Detail)
	case len(l.DetailBase64) > 0:
		r.Detail = l.DetailBase64
	}
	if r.PrevHash, err = hexField("prev_hash", *l.PrevHash); err != nil {
		return store.AuditRecord{}, "", err
	}
	if r.Hash, err = hexField("hash", *l.Hash); err != nil {
		return store.AuditRecord{}, "", err
	}
	return r, "", nil
}

func hexField(name, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex: %v", name, err)
	}
	return b, nil
}
