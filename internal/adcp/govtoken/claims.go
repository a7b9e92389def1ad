package govtoken

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Phase is the authorization stage a token stands for.
type Phase string

// The phases of a governed action.
const (
	PhaseIntent       Phase = "intent"
	PhasePurchase     Phase = "purchase"
	PhaseModification Phase = "modification"
	PhaseDelivery     Phase = "delivery"
)

// Valid reports whether p is one of the four phases.
func (p Phase) Valid() bool {
	switch p {
	case PhaseIntent, PhasePurchase, PhaseModification, PhaseDelivery:
		return true
	}
	return false
}

// Lifetimes the profile sets. An intent token SHOULD live at most
// MaxIntentLifetime; an execution-phase token MUST live at most
// MaxExecutionLifetime, and verifiers reject longer ones.
const (
	MaxIntentLifetime    = 15 * time.Minute
	MaxExecutionLifetime = 30 * 24 * time.Hour
)

// MaxTokenLength is the governance_context envelope limit, in characters.
const MaxTokenLength = 4096

// Commitment is a monetary amount in an ISO 4217 currency.
type Commitment struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

// PolicyDecision is one entry of the policy_decisions claim.
type PolicyDecision struct {
	PolicyID   string   `json:"policy_id"`
	Outcome    string   `json:"outcome"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// Claims are the claims of a governance_context token. Optional claims are
// absent when zero. Times are whole seconds on the wire.
type Claims struct {
	Issuer    string    // iss: the governance agent URL, as in the buyer's brand.json
	Subject   string    // sub: opaque action binding, stable across the action's lifecycle
	PlanHash  string    // plan_hash: audit-layer binding to the plan revision (never in crit)
	Audience  string    // aud: the seller's exact URL
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf, optional
	ExpiresAt time.Time // exp
	JTI       string    // jti: unique token id, the replay key
	Phase     Phase     // phase
	Caller    string    // caller: who asked for the check
	CheckID   string    // check_id
	// MediaBuyID is absent on intent, optional on purchase, required on
	// modification and delivery.
	MediaBuyID string
	// AuthorizedCommitment is the signed spend ceiling; present (possibly
	// with amount 0) whenever a monetary commitment is authorized. Critical.
	AuthorizedCommitment *Commitment
	// AuthorizedTask and AuthorizedPayloadHash come together on
	// action-authorizing tokens. Both critical.
	AuthorizedTask        string
	AuthorizedPayloadHash string
	// PolicyDecisions or PolicyDecisionHash: the issuer includes at least one.
	PolicyDecisions    []PolicyDecision
	PolicyDecisionHash string
	// RuntimeAttestationBindingDigest is audit-layer cargo (never in crit).
	RuntimeAttestationBindingDigest string
	AuditLogPointer                 string
	// Status is the optional status-list object, kept as raw JSON.
	Status json.RawMessage
}

// Critical claim names, in the order the header lists them.
const (
	claimCommitment  = "authorized_commitment"
	claimTask        = "authorized_task"
	claimPayloadHash = "authorized_payload_hash"
)

var criticalClaims = [...]string{claimCommitment, claimTask, claimPayloadHash}

// critical returns the critical claims c carries, in header order.
func (c *Claims) critical() []string {
	var names []string
	if c.AuthorizedCommitment != nil {
		names = append(names, claimCommitment)
	}
	if c.AuthorizedTask != "" {
		names = append(names, claimTask)
	}
	if c.AuthorizedPayloadHash != "" {
		names = append(names, claimPayloadHash)
	}
	return names
}

// marshal writes the claims as a JSON object in the profile's member order:
// iss, sub, plan_hash, aud, iat, nbf, exp, jti, phase, caller, check_id,
// media_buy_id, the critical claims, then the audit-layer claims.
func (c *Claims) marshal() ([]byte, error) {
	w := objectWriter{buf: make([]byte, 0, 512)}
	w.str("iss", c.Issuer)
	w.str("sub", c.Subject)
	w.str("plan_hash", c.PlanHash)
	w.str("aud", c.Audience)
	w.int("iat", c.IssuedAt.Unix())
	if !c.NotBefore.IsZero() {
		w.int("nbf", c.NotBefore.Unix())
	}
	w.int("exp", c.ExpiresAt.Unix())
	w.str("jti", c.JTI)
	w.str("phase", string(c.Phase))
	w.str("caller", c.Caller)
	w.str("check_id", c.CheckID)
	if c.MediaBuyID != "" {
		w.str("media_buy_id", c.MediaBuyID)
	}
	if a := c.AuthorizedCommitment; a != nil {
		var cw objectWriter
		var err error
		cw.name("amount")
		if cw.buf, err = appendNumber(cw.buf, a.Amount); err != nil {
			return nil, fmt.Errorf("%w: authorized_commitment.amount: %v", ErrInvalidClaims, err)
		}
		cw.str("currency", a.Currency)
		w.raw(claimCommitment, cw.bytes())
	}
	if c.AuthorizedTask != "" {
		w.str(claimTask, c.AuthorizedTask)
	}
	if c.AuthorizedPayloadHash != "" {
		w.str(claimPayloadHash, c.AuthorizedPayloadHash)
	}
	if c.PolicyDecisions != nil {
		w.name("policy_decisions")
		w.buf = append(w.buf, '[')
		for i, d := range c.PolicyDecisions {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			var dw objectWriter
			dw.str("policy_id", d.PolicyID)
			dw.str("outcome", d.Outcome)
			if d.Confidence != nil {
				var err error
				dw.name("confidence")
				if dw.buf, err = appendNumber(dw.buf, *d.Confidence); err != nil {
					return nil, fmt.Errorf("%w: policy_decisions[%d].confidence: %v", ErrInvalidClaims, i, err)
				}
			}
			w.buf = append(w.buf, dw.bytes()...)
		}
		w.buf = append(w.buf, ']')
	}
	if c.PolicyDecisionHash != "" {
		w.str("policy_decision_hash", c.PolicyDecisionHash)
	}
	if c.RuntimeAttestationBindingDigest != "" {
		w.str("runtime_attestation_binding_digest", c.RuntimeAttestationBindingDigest)
	}
	if c.AuditLogPointer != "" {
		w.str("audit_log_pointer", c.AuditLogPointer)
	}
	if len(c.Status) > 0 {
		canon, err := Canonicalize(c.Status)
		if err != nil {
			return nil, fmt.Errorf("%w: status: %v", ErrInvalidClaims, err)
		}
		w.raw("status", canon)
	}
	return w.bytes(), nil
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	hash256RE  = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	digestRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// validate applies the issuer's side of the profile: what a governance agent
// must put in every token it signs.
func (c *Claims) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidClaims}, args...)...)
	}
	for _, s := range []struct{ name, v string }{
		{"iss", c.Issuer}, {"sub", c.Subject}, {"aud", c.Audience}, {"jti", c.JTI},
		{"caller", c.Caller}, {"check_id", c.CheckID},
	} {
		if s.v == "" {
			return bad("%s is required", s.name)
		}
	}
	for _, s := range []string{c.Issuer, c.Subject, c.PlanHash, c.Audience, c.JTI, c.Caller, c.CheckID,
		c.MediaBuyID, c.AuthorizedTask, c.AuthorizedPayloadHash, c.PolicyDecisionHash, c.AuditLogPointer} {
		if !utf8.ValidString(s) {
			return bad("claim is not valid utf-8")
		}
	}
	if !hash256RE.MatchString(c.PlanHash) {
		return bad("plan_hash %q is not an unpadded base64url SHA-256", c.PlanHash)
	}
	if !c.Phase.Valid() {
		return bad("phase %q", c.Phase)
	}
	if c.IssuedAt.IsZero() || c.ExpiresAt.IsZero() {
		return bad("iat and exp are required")
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return bad("exp is not after iat")
	}
	if c.Phase != PhaseIntent && c.ExpiresAt.Sub(c.IssuedAt) > MaxExecutionLifetime {
		return bad("%s token lives longer than %v", c.Phase, MaxExecutionLifetime)
	}
	switch c.Phase {
	case PhaseIntent:
		if c.MediaBuyID != "" {
			return bad("media_buy_id must be absent on an intent token")
		}
	case PhaseModification, PhaseDelivery:
		if c.MediaBuyID == "" {
			return bad("media_buy_id is required on a %s token", c.Phase)
		}
	}
	if (c.AuthorizedTask == "") != (c.AuthorizedPayloadHash == "") {
		return bad("authorized_task and authorized_payload_hash come together")
	}
	if c.AuthorizedPayloadHash != "" && !hash256RE.MatchString(c.AuthorizedPayloadHash) {
		return bad("authorized_payload_hash is not an unpadded base64url SHA-256")
	}
	if a := c.AuthorizedCommitment; a != nil {
		if math.IsNaN(a.Amount) || math.IsInf(a.Amount, 0) || a.Amount < 0 {
			return bad("authorized_commitment.amount must be finite and non-negative")
		}
		if !currencyRE.MatchString(a.Currency) {
			return bad("authorized_commitment.currency %q", a.Currency)
		}
	}
	if c.PolicyDecisions == nil && c.PolicyDecisionHash == "" {
		return bad("policy_decisions or policy_decision_hash is required")
	}
	for i, d := range c.PolicyDecisions {
		if d.PolicyID == "" || d.Outcome == "" {
			return bad("policy_decisions[%d] needs policy_id and outcome", i)
		}
	}
	if c.RuntimeAttestationBindingDigest != "" && !digestRE.MatchString(c.RuntimeAttestationBindingDigest) {
		return bad("runtime_attestation_binding_digest is not sha256:<64 hex>")
	}
	return nil
}

// rawClaims are the members of a decoded claims object by name, with the
// information the verifier needs about presence.
type rawClaims map[string]json.RawMessage

func (r rawClaims) has(name string) bool {
	_, ok := r[name]
	return ok
}

// decodeClaims converts the claims object into Claims, checking the type of
// every claim the profile defines. It does not check presence; see
// requireClaims. Unknown claims are ignored.
func decodeClaims(r rawClaims) (Claims, error) {
	var c Claims
	var err error
	str := func(name string, dst *string) {
		if err != nil {
			return
		}
		v, ok := r[name]
		if !ok {
			return
		}
		if e := json.Unmarshal(v, dst); e != nil || isNull(v) {
			err = fmt.Errorf("claim %s is not a string", name)
		}
	}
	date := func(name string, dst *time.Time) {
		if err != nil {
			return
		}
		v, ok := r[name]
		if !ok {
			return
		}
		t, e := numericDate(v)
		if e != nil {
			err = fmt.Errorf("claim %s: %v", name, e)
			return
		}
		*dst = t
	}
	str("iss", &c.Issuer)
	str("sub", &c.Subject)
	str("plan_hash", &c.PlanHash)
	str("aud", &c.Audience)
	date("iat", &c.IssuedAt)
	date("nbf", &c.NotBefore)
	date("exp", &c.ExpiresAt)
	str("jti", &c.JTI)
	var phase string
	str("phase", &phase)
	c.Phase = Phase(phase)
	str("caller", &c.Caller)
	str("check_id", &c.CheckID)
	str("media_buy_id", &c.MediaBuyID)
	str(claimTask, &c.AuthorizedTask)
	str(claimPayloadHash, &c.AuthorizedPayloadHash)
	str("policy_decision_hash", &c.PolicyDecisionHash)
	str("runtime_attestation_binding_digest", &c.RuntimeAttestationBindingDigest)
	str("audit_log_pointer", &c.AuditLogPointer)
	if err != nil {
		return c, err
	}
	if v, ok := r[claimCommitment]; ok {
		a, e := decodeCommitment(v)
		if e != nil {
			return c, fmt.Errorf("claim %s: %v", claimCommitment, e)
		}
		c.AuthorizedCommitment = &a
	}
	if v, ok := r["policy_decisions"]; ok {
		if e := json.Unmarshal(v, &c.PolicyDecisions); e != nil || isNull(v) {
			return c, errors.New("claim policy_decisions is not an array of decisions")
		}
		if c.PolicyDecisions == nil {
			c.PolicyDecisions = []PolicyDecision{}
		}
	}
	if v, ok := r["status"]; ok {
		c.Status = v
	}
	return c, nil
}

// decodeCommitment reads {amount, currency}: amount a finite non-negative
// number, currency a non-empty string.
func decodeCommitment(v json.RawMessage) (Commitment, error) {
	members, err := decodeObject(v)
	if err != nil {
		return Commitment{}, err
	}
	var a Commitment
	var haveAmount, haveCurrency bool
	for _, m := range members {
		switch m.name {
		case "amount":
			f, err := jsonNumber(m.value)
			if err != nil || f < 0 {
				return a, errors.New("amount is not a finite non-negative number")
			}
			a.Amount, haveAmount = f, true
		case "currency":
			if err := json.Unmarshal(m.value, &a.Currency); err != nil || a.Currency == "" {
				return a, errors.New("currency is not a non-empty string")
			}
			haveCurrency = true
		}
	}
	if !haveAmount {
		return a, errors.New("amount is missing")
	}
	if !haveCurrency {
		return a, errors.New("currency is missing")
	}
	return a, nil
}

// requireClaims checks that the claims every governance token carries are
// present and non-empty (security.mdx §Claims). plan_hash is required of the
// issuer but is audit-layer cargo to a seller, so it is not checked here.
func requireClaims(r rawClaims, c *Claims) error {
	for _, s := range []struct{ name, v string }{
		{"iss", c.Issuer}, {"aud", c.Audience}, {"caller", c.Caller}, {"sub", c.Subject},
		{"jti", c.JTI}, {"phase", string(c.Phase)}, {"check_id", c.CheckID},
	} {
		if s.v == "" {
			return fmt.Errorf("claim %s is missing or empty", s.name)
		}
	}
	if !r.has("iat") {
		return errors.New("claim iat is missing")
	}
	if !r.has("exp") {
		return errors.New("claim exp is missing")
	}
	if !c.Phase.Valid() {
		return fmt.Errorf("claim phase %q is not a phase", c.Phase)
	}
	if c.Phase != PhaseIntent && c.ExpiresAt.Sub(c.IssuedAt) > MaxExecutionLifetime {
		return fmt.Errorf("%s token lives longer than %v", c.Phase, MaxExecutionLifetime)
	}
	return nil
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// jsonNumber parses a JSON number as an IEEE double, the way JavaScript does.
func jsonNumber(v json.RawMessage) (float64, error) {
	if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return 0, errors.New("not a number")
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("not a finite number")
	}
	return f, nil
}

// numericDate reads a JWT NumericDate: seconds since the epoch, possibly
// fractional.
func numericDate(v json.RawMessage) (time.Time, error) {
	f, err := jsonNumber(v)
	if err != nil {
		return time.Time{}, err
	}
	if f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("date out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
