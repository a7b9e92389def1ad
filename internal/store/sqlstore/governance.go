package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// This file implements store.GovernanceTx: the state of the AdCP governance
// agents. Every query names the account, so another account's object is
// ErrNotFound, as a missing one is.

// Inserts whose placeholder lists are too long to write out.
var (
	insertPlanRevision = `INSERT INTO gov_plan_revisions (` + planCols + `) VALUES (` + values(9) + `)`
	insertCheck        = `INSERT INTO gov_checks (` + checkCols + `) VALUES (` + values(24) + `)
		ON CONFLICT DO NOTHING`
	insertOutcome = `INSERT INTO gov_outcomes (` + outcomeCols + `) VALUES (` + values(11) + `)
		ON CONFLICT DO NOTHING`
	insertStatement = `INSERT INTO gov_delivery_statements (` + statementCols + `) VALUES (` + values(10) + `)
		ON CONFLICT (account, sub, statement_id) DO NOTHING`
	insertIdempotency = `INSERT INTO gov_idempotency (` + idempotencyCols + `) VALUES (` + values(8) + `)
		ON CONFLICT (account, principal, task, idem_key) DO NOTHING`
	insertSigningKey = `INSERT INTO gov_signing_keys (` + signingKeyCols + `) VALUES (` + values(7) + `)
		ON CONFLICT (account, kid) DO NOTHING`
)

// values returns "$1, $2, ..., $n".
func values(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// floatArg stores a nil pointer as NULL.
func floatArg(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// floatCol scans a nullable float column into a pointer, nil for NULL.
type floatCol struct{ f **float64 }

func (c floatCol) Scan(src any) error {
	var n sql.NullFloat64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.f = nil
	if n.Valid {
		*c.f = &n.Float64
	}
	return nil
}

// rawCol scans a verbatim JSON payload, reading NULL and empty as nil.
func rawCol(m *json.RawMessage) bytesCol { return bytesCol{(*[]byte)(m)} }

// reviewJSON is the stored form of a store.Review: JSON text with stable
// keys, DecidedAt in RFC 3339 at microsecond precision, omitted when zero.
type reviewJSON struct {
	State     string  `json:"state"`
	Reason    string  `json:"reason"`
	Reviewer  string  `json:"reviewer"`
	Authority string  `json:"authority"`
	Minutes   float64 `json:"minutes"`
	Decision  string  `json:"decision"`
	DecidedAt string  `json:"decided_at,omitempty"`
}

// reviewArg encodes r as JSON text, nil as NULL.
func reviewArg(r *store.Review) (any, error) {
	if r == nil {
		return nil, nil
	}
	j := reviewJSON{
		State: r.State, Reason: r.Reason, Reviewer: r.Reviewer, Authority: r.Authority,
		Minutes: r.Minutes, Decision: r.Decision,
	}
	if !r.DecidedAt.IsZero() {
		j.DecidedAt = normTime(r.DecidedAt).Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode review: %w", err)
	}
	return string(b), nil
}

// reviewCol scans a review column: NULL is nil.
type reviewCol struct{ r **store.Review }

func (c reviewCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.r = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan review: unsupported value of type %T", src)
	}
	var j reviewJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("scan review: %w", err)
	}
	r := &store.Review{
		State: j.State, Reason: j.Reason, Reviewer: j.Reviewer, Authority: j.Authority,
		Minutes: j.Minutes, Decision: j.Decision,
	}
	if j.DecidedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, j.DecidedAt)
		if err != nil {
			return fmt.Errorf("scan review: decided_at: %w", err)
		}
		r.DecidedAt = normTime(t)
	}
	*c.r = r
	return nil
}

// Bindings.

const bindingCols = `account, url, builtin, bound_at, bound_by`

func scanBinding(sc scanner) (store.GovernanceBinding, error) {
	var b store.GovernanceBinding
	err := sc.Scan(&b.Account, &b.URL, &b.Builtin, timeCol{&b.BoundAt}, &b.BoundBy)
	return b, err
}

// BindGovernanceAgent inserts the binding unless the account has one, then
// compares URLs. Concurrent binds of one account are decided by the primary
// key: the insert of the second waits for the first to commit and then
// does nothing. Should the winner be unbound between that insert and the
// read that follows (possible at READ COMMITTED), the insert is retried.
func (x *tx) BindGovernanceAgent(ctx context.Context, b store.GovernanceBinding) (store.GovernanceBinding, error) {
	b.BoundAt = normTime(b.BoundAt)
	for range 3 {
		added, err := x.execOne(ctx, `INSERT INTO gov_bindings (`+bindingCols+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (account) DO NOTHING`, b.Account, b.URL, b.Builtin, x.time(b.BoundAt), b.BoundBy)
		if err != nil {
			return store.GovernanceBinding{}, x.errorf("bind governance agent %s: %w", b.Account, err)
		}
		if added {
			return b, nil
		}
		cur, err := x.GovernanceBinding(ctx, b.Account)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.GovernanceBinding{}, err
		}
		if cur.URL != b.URL {
			return cur, x.errorf("bind governance agent %s: account already binds %s, not %s: %w",
				b.Account, cur.URL, b.URL, store.ErrConflict)
		}
		return cur, nil
	}
	return store.GovernanceBinding{}, x.errorf("bind governance agent %s: binding changed concurrently; try again", b.Account)
}

func (x *tx) GovernanceBinding(ctx context.Context, account string) (store.GovernanceBinding, error) {
	b, err := scanBinding(x.queryRow(ctx, `SELECT `+bindingCols+` FROM gov_bindings WHERE account = $1`, account))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GovernanceBinding{}, x.errorf("get governance binding %s: %w", account, store.ErrNotFound)
	}
	if err != nil {
		return store.GovernanceBinding{}, x.errorf("get governance binding %s: %w", account, err)
	}
	return b, nil
}

func (x *tx) UnbindGovernanceAgent(ctx context.Context, account string) error {
	ok, err := x.execOne(ctx, `DELETE FROM gov_bindings WHERE account = $1`, account)
	if err != nil {
		return x.errorf("unbind governance agent %s: %w", account, err)
	}
	if !ok {
		return x.errorf("unbind governance agent %s: %w", account, store.ErrNotFound)
	}
	return nil
}

// Plans.

const planCols = `account, plan_id, version, status, owner, raw, hash, synced_at, synced_by`

func scanPlan(sc scanner) (store.GovPlan, error) {
	var p store.GovPlan
	err := sc.Scan(&p.Account, &p.PlanID, &p.Version, &p.Status, &p.Owner, rawCol(&p.Raw), &p.Hash,
		timeCol{&p.SyncedAt}, &p.SyncedBy)
	return p, err
}

// nextPlanVersion creates a plan's head row at version 1, or increments its
// version, and returns the new version and status in one statement. The
// upsert locks the head row until the transaction ends (on PostgreSQL, a
// concurrent one waits and then increments the committed version), so
// concurrent PutPlans of one plan take successive versions, also across
// replicas; SetPlanStatus takes the same lock.
const nextPlanVersion = `INSERT INTO gov_plans (account, plan_id, version, status) VALUES ($1, $2, 1, $3)
ON CONFLICT (account, plan_id) DO UPDATE SET
	version = gov_plans.version + 1,
	status = COALESCE(NULLIF($4, ''), gov_plans.status)
RETURNING version, status`

func (x *tx) PutPlan(ctx context.Context, p store.GovPlan) (store.GovPlan, error) {
	first := p.Status
	if first == "" {
		first = store.PlanActive
	}
	if err := x.queryRow(ctx, nextPlanVersion, p.Account, p.PlanID, first, p.Status).Scan(&p.Version, &p.Status); err != nil {
		return store.GovPlan{}, x.errorf("put plan %s/%s: %w", p.Account, p.PlanID, err)
	}
	p.Raw = json.RawMessage(normBytes(p.Raw))
	p.SyncedAt = normTime(p.SyncedAt)
	if _, err := x.exec(ctx, insertPlanRevision,
		p.Account, p.PlanID, p.Version, p.Status, p.Owner, bytesArg(p.Raw), p.Hash, x.time(p.SyncedAt),
		p.SyncedBy); err != nil {
		return store.GovPlan{}, x.errorf("put plan %s/%s: add revision %d: %w", p.Account, p.PlanID, p.Version, err)
	}
	if _, err := x.exec(ctx, `DELETE FROM gov_portfolio_members WHERE account = $1 AND portfolio_id = $2`,
		p.Account, p.PlanID); err != nil {
		return store.GovPlan{}, x.errorf("put plan %s/%s: members: %w", p.Account, p.PlanID, err)
	}
	for _, m := range p.Members {
		if _, err := x.exec(ctx, `INSERT INTO gov_portfolio_members (account, portfolio_id, member_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, p.Account, p.PlanID, m); err != nil {
			return store.GovPlan{}, x.errorf("put plan %s/%s: member %s: %w", p.Account, p.PlanID, m, err)
		}
	}
	return p, nil
}

func (x *tx) PortfolioParents(ctx context.Context, account, planID string) ([]string, error) {
	rows, err := x.query(ctx, `SELECT portfolio_id FROM gov_portfolio_members
		WHERE account = $1 AND member_id = $2 ORDER BY portfolio_id`, account, planID)
	if err != nil {
		return nil, x.errorf("portfolio parents of %s/%s: %w", account, planID, err)
	}
	ids, err := collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, x.errorf("portfolio parents of %s/%s: %w", account, planID, err)
	}
	return ids, nil
}

func (x *tx) GetPlan(ctx context.Context, account, planID string) (store.GovPlan, error) {
	p, err := scanPlan(x.queryRow(ctx, `SELECT `+planCols+` FROM gov_plan_revisions
		WHERE account = $1 AND plan_id = $2
		AND version = (SELECT version FROM gov_plans WHERE account = $1 AND plan_id = $2)`, account, planID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GovPlan{}, x.errorf("get plan %s/%s: %w", account, planID, store.ErrNotFound)
	}
	if err != nil {
		return store.GovPlan{}, x.errorf("get plan %s/%s: %w", account, planID, err)
	}
	return p, nil
}

func (x *tx) GetPlanRevision(ctx context.Context, account, planID string, version int) (store.GovPlan, error) {
	p, err := scanPlan(x.queryRow(ctx, `SELECT `+planCols+` FROM gov_plan_revisions
		WHERE account = $1 AND plan_id = $2 AND version = $3`, account, planID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GovPlan{}, x.errorf("get plan %s/%s revision %d: %w", account, planID, version, store.ErrNotFound)
	}
	if err != nil {
		return store.GovPlan{}, x.errorf("get plan %s/%s revision %d: %w", account, planID, version, err)
	}
	return p, nil
}

func (x *tx) ListPlanRevisions(ctx context.Context, account, planID string) ([]store.GovPlan, error) {
	rows, err := x.query(ctx, `SELECT `+planCols+` FROM gov_plan_revisions
		WHERE account = $1 AND plan_id = $2 ORDER BY version`, account, planID)
	if err != nil {
		return nil, x.errorf("list plan %s/%s revisions: %w", account, planID, err)
	}
	ps, err := collect(rows, scanPlan)
	if err != nil {
		return nil, x.errorf("list plan %s/%s revisions: %w", account, planID, err)
	}
	return ps, nil
}

// SetPlanStatus updates the head row first, which locks it as PutPlan does,
// then the current revision, so that GetPlan and GetPlanRevision of the
// current version agree.
func (x *tx) SetPlanStatus(ctx context.Context, account, planID, status string) error {
	var version int
	err := x.queryRow(ctx, `UPDATE gov_plans SET status = $3 WHERE account = $1 AND plan_id = $2
		RETURNING version`, account, planID, status).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return x.errorf("set plan %s/%s status: %w", account, planID, store.ErrNotFound)
	}
	if err != nil {
		return x.errorf("set plan %s/%s status: %w", account, planID, err)
	}
	if _, err := x.exec(ctx, `UPDATE gov_plan_revisions SET status = $4
		WHERE account = $1 AND plan_id = $2 AND version = $3`, account, planID, version, status); err != nil {
		return x.errorf("set plan %s/%s status: %w", account, planID, err)
	}
	return nil
}

// Checks.

const checkCols = `id, account, plan_id, plan_version, plan_hash, sub, check_type, phase, caller, principal,
	tool, audience, purchase_type, amount, currency, status, verdict, jti, expires_at, request, response,
	review, created_at, action_key`

func scanCheck(sc scanner) (store.GovCheck, error) {
	var c store.GovCheck
	err := sc.Scan(&c.ID, &c.Account, &c.PlanID, &c.PlanVersion, &c.PlanHash, &c.Sub, &c.Type, &c.Phase,
		&c.Caller, &c.Principal, &c.Tool, &c.Audience, &c.PurchaseType, floatCol{&c.Amount}, &c.Currency,
		&c.Status, &c.Verdict, &c.JTI, timeCol{&c.ExpiresAt}, rawCol(&c.Request), rawCol(&c.Response),
		reviewCol{&c.Review}, timeCol{&c.CreatedAt}, &c.ActionKey)
	return c, err
}

func (x *tx) CreateCheck(ctx context.Context, c store.GovCheck) error {
	review, err := reviewArg(c.Review)
	if err != nil {
		return x.errorf("create check %s: %w", c.ID, err)
	}
	ok, err := x.execOne(ctx, insertCheck,
		c.ID, c.Account, c.PlanID, c.PlanVersion, c.PlanHash, c.Sub, c.Type, c.Phase, c.Caller, c.Principal,
		c.Tool, c.Audience, c.PurchaseType, floatArg(c.Amount), c.Currency, c.Status, c.Verdict, c.JTI,
		x.time(c.ExpiresAt), bytesArg(c.Request), bytesArg(c.Response), review, x.time(c.CreatedAt), c.ActionKey)
	if err != nil {
		return x.errorf("create check %s: %w", c.ID, err)
	}
	if !ok {
		return x.errorf("create check %s: %w", c.ID, store.ErrConflict)
	}
	return nil
}

func (x *tx) GetCheck(ctx context.Context, account, checkID string) (store.GovCheck, error) {
	c, err := scanCheck(x.queryRow(ctx, `SELECT `+checkCols+` FROM gov_checks WHERE id = $1 AND account = $2`,
		checkID, account))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GovCheck{}, x.errorf("get check %s/%s: %w", account, checkID, store.ErrNotFound)
	}
	if err != nil {
		return store.GovCheck{}, x.errorf("get check %s/%s: %w", account, checkID, err)
	}
	return c, nil
}

func (x *tx) UpdateCheck(ctx context.Context, c store.GovCheck) error {
	review, err := reviewArg(c.Review)
	if err != nil {
		return x.errorf("update check %s/%s: %w", c.Account, c.ID, err)
	}
	ok, err := x.execOne(ctx, `UPDATE gov_checks SET status = $3, verdict = $4, response = $5, review = $6,
		jti = $7, expires_at = $8 WHERE id = $1 AND account = $2`,
		c.ID, c.Account, c.Status, c.Verdict, bytesArg(c.Response), review, c.JTI, x.time(c.ExpiresAt))
	if err != nil {
		return x.errorf("update check %s/%s: %w", c.Account, c.ID, err)
	}
	if !ok {
		return x.errorf("update check %s/%s: %w", c.Account, c.ID, store.ErrNotFound)
	}
	return nil
}

func (x *tx) checkWhere(f store.CheckFilter) (*where, string) {
	var w where
	w.add("account = " + w.arg(f.Account))
	w.eq("plan_id", f.PlanID)
	w.eq("sub", f.Sub)
	w.eq("status", f.Status)
	w.eq("check_type", f.Type)
	w.eq("action_key", f.ActionKey)
	if f.PlanVersion != 0 {
		w.add("plan_version = " + w.arg(f.PlanVersion))
	}
	order := ` ORDER BY created_at NULLS FIRST, id`
	if f.Newest {
		order = ` ORDER BY created_at DESC NULLS LAST, id DESC`
	}
	return &w, order + w.limit(f.Limit)
}

func (x *tx) ListChecks(ctx context.Context, f store.CheckFilter) ([]store.GovCheck, error) {
	w, tail := x.checkWhere(f)
	rows, err := x.query(ctx, `SELECT `+checkCols+` FROM gov_checks`+w.String()+tail, w.args...)
	if err != nil {
		return nil, x.errorf("list checks of %s: %w", f.Account, err)
	}
	cs, err := collect(rows, scanCheck)
	if err != nil {
		return nil, x.errorf("list checks of %s: %w", f.Account, err)
	}
	return cs, nil
}

func (x *tx) CheckVerdicts(ctx context.Context, f store.CheckFilter) ([]string, error) {
	w, tail := x.checkWhere(f)
	rows, err := x.query(ctx, `SELECT verdict FROM gov_checks`+w.String()+tail, w.args...)
	if err != nil {
		return nil, x.errorf("list check verdicts of %s: %w", f.Account, err)
	}
	vs, err := collect(rows, func(sc scanner) (string, error) {
		var v string
		err := sc.Scan(&v)
		return v, err
	})
	if err != nil {
		return nil, x.errorf("list check verdicts of %s: %w", f.Account, err)
	}
	return vs, nil
}

// Actions.

const actionCols = `account, sub, plan_id, buyer, seller, tool, purchase_type, currency, authorized, committed,
	settlement, settled_at, rechecks, media_buy_id, created_at, updated_at`

const upsertAction = `INSERT INTO gov_actions (` + actionCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
	$9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (account, sub) DO UPDATE SET
	plan_id = excluded.plan_id, buyer = excluded.buyer, seller = excluded.seller, tool = excluded.tool,
	purchase_type = excluded.purchase_type, currency = excluded.currency,
	authorized = excluded.authorized, committed = excluded.committed,
	settlement = excluded.settlement, settled_at = excluded.settled_at, rechecks = excluded.rechecks,
	media_buy_id = excluded.media_buy_id, created_at = excluded.created_at,
	updated_at = excluded.updated_at`

func scanAction(sc scanner) (store.GovAction, error) {
	var a store.GovAction
	err := sc.Scan(&a.Account, &a.Sub, &a.PlanID, &a.Buyer, &a.Seller, &a.Tool, &a.PurchaseType, &a.Currency,
		&a.Authorized, &a.Committed, &a.Settlement, timeCol{&a.SettledAt}, &a.Rechecks, &a.MediaBuyID,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

func (x *tx) PutAction(ctx context.Context, a store.GovAction) error {
	if _, err := x.exec(ctx, upsertAction, a.Account, a.Sub, a.PlanID, a.Buyer, a.Seller, a.Tool,
		a.PurchaseType, a.Currency, a.Authorized, a.Committed, a.Settlement, x.time(a.SettledAt), a.Rechecks,
		a.MediaBuyID, x.time(a.CreatedAt), x.time(a.UpdatedAt)); err != nil {
		return x.errorf("put action %s/%s: %w", a.Account, a.Sub, err)
	}
	return nil
}

func (x *tx) GetAction(ctx context.Context, account, sub string) (store.GovAction, error) {
	a, err := scanAction(x.queryRow(ctx, `SELECT `+actionCols+` FROM gov_actions WHERE account = $1 AND sub = $2`,
		account, sub))
	if errors.Is(err, sql.ErrNoRows) {
		return store.GovAction{}, x.errorf("get action %s/%s: %w", account, sub, store.ErrNotFound)
	}
	if err != nil {
		return store.GovAction{}, x.errorf("get action %s/%s: %w", account, sub, err)
	}
	return a, nil
}

func (x *tx) actionWhere(f store.ActionFilter) *where {
	var w where
	w.add("account = " + w.arg(f.Account))
	w.eq("plan_id", f.PlanID)
	w.eq("buyer", f.Buyer)
	w.eq("seller", f.Seller)
	w.eq("settlement", f.Settlement)
	if !f.Since.IsZero() {
		w.add("created_at >= " + w.arg(x.time(f.Since)))
	}
	return &w
}

func (x *tx) SumActions(ctx context.Context, f store.ActionFilter) ([]store.ActionSum, error) {
	w := x.actionWhere(f)
	rows, err := x.query(ctx, `SELECT purchase_type, seller, SUM(committed), COUNT(*) FROM gov_actions`+w.String()+
		` GROUP BY purchase_type, seller ORDER BY purchase_type, seller`, w.args...)
	if err != nil {
		return nil, x.errorf("sum actions of %s: %w", f.Account, err)
	}
	sums, err := collect(rows, func(sc scanner) (store.ActionSum, error) {
		var s store.ActionSum
		err := sc.Scan(&s.PurchaseType, &s.Seller, &s.Committed, &s.Count)
		return s, err
	})
	if err != nil {
		return nil, x.errorf("sum actions of %s: %w", f.Account, err)
	}
	return sums, nil
}

func (x *tx) ListActions(ctx context.Context, f store.ActionFilter) ([]store.GovAction, error) {
	w := x.actionWhere(f)
	rows, err := x.query(ctx, `SELECT `+actionCols+` FROM gov_actions`+w.String()+
		` ORDER BY created_at NULLS FIRST, sub`, w.args...)
	if err != nil {
		return nil, x.errorf("list actions of %s: %w", f.Account, err)
	}
	as, err := collect(rows, scanAction)
	if err != nil {
		return nil, x.errorf("list actions of %s: %w", f.Account, err)
	}
	return as, nil
}

// Outcomes.

const outcomeCols = `id, account, plan_id, check_id, sub, outcome, committed, reporter, request, response,
	created_at`

func scanOutcome(sc scanner) (store.GovOutcome, error) {
	var o store.GovOutcome
	err := sc.Scan(&o.ID, &o.Account, &o.PlanID, &o.CheckID, &o.Sub, &o.Outcome, &o.Committed, &o.Reporter,
		rawCol(&o.Request), rawCol(&o.Response), timeCol{&o.CreatedAt})
	return o, err
}

func (x *tx) CreateOutcome(ctx context.Context, o store.GovOutcome) error {
	ok, err := x.execOne(ctx, insertOutcome,
		o.ID, o.Account, o.PlanID, o.CheckID, o.Sub, o.Outcome, o.Committed, o.Reporter,
		bytesArg(o.Request), bytesArg(o.Response), x.time(o.CreatedAt))
	if err != nil {
		return x.errorf("create outcome %s: %w", o.ID, err)
	}
	if !ok {
		return x.errorf("create outcome %s: %w", o.ID, store.ErrConflict)
	}
	return nil
}

func (x *tx) ListOutcomes(ctx context.Context, account, planID string) ([]store.GovOutcome, error) {
	rows, err := x.query(ctx, `SELECT `+outcomeCols+` FROM gov_outcomes WHERE account = $1 AND plan_id = $2
		ORDER BY created_at NULLS FIRST, id`, account, planID)
	if err != nil {
		return nil, x.errorf("list outcomes of %s/%s: %w", account, planID, err)
	}
	outs, err := collect(rows, scanOutcome)
	if err != nil {
		return nil, x.errorf("list outcomes of %s/%s: %w", account, planID, err)
	}
	return outs, nil
}

// Delivery statements.

const statementCols = `account, sub, statement_id, digest, sequence, period_start, period_end, spend, currency,
	created_at`

func scanStatement(sc scanner) (store.DeliveryStatement, error) {
	var s store.DeliveryStatement
	err := sc.Scan(&s.Account, &s.Sub, &s.StatementID, &s.Digest, &s.Sequence, timeCol{&s.PeriodStart},
		timeCol{&s.PeriodEnd}, &s.Spend, &s.Currency, timeCol{&s.CreatedAt})
	return s, err
}

// PutDeliveryStatement inserts unless the statement ID is taken, then
// compares digests; a concurrent insert of the same ID waits for the first
// to commit and then compares with it.
func (x *tx) PutDeliveryStatement(ctx context.Context, s store.DeliveryStatement) error {
	added, err := x.execOne(ctx, insertStatement,
		s.Account, s.Sub, s.StatementID, s.Digest, s.Sequence, x.time(s.PeriodStart), x.time(s.PeriodEnd),
		s.Spend, s.Currency, x.time(s.CreatedAt))
	if err != nil {
		return x.errorf("put delivery statement %s/%s/%s: %w", s.Account, s.Sub, s.StatementID, err)
	}
	if added {
		return nil
	}
	var digest string
	err = x.queryRow(ctx, `SELECT digest FROM gov_delivery_statements
		WHERE account = $1 AND sub = $2 AND statement_id = $3`, s.Account, s.Sub, s.StatementID).Scan(&digest)
	if err != nil {
		return x.errorf("put delivery statement %s/%s/%s: read stored digest: %w", s.Account, s.Sub, s.StatementID, err)
	}
	if digest != s.Digest {
		return x.errorf("put delivery statement %s/%s/%s: stored with digest %s, not %s: %w",
			s.Account, s.Sub, s.StatementID, digest, s.Digest, store.ErrConflict)
	}
	return nil
}

func (x *tx) ListDeliveryStatements(ctx context.Context, account, sub string) ([]store.DeliveryStatement, error) {
	rows, err := x.query(ctx, `SELECT `+statementCols+` FROM gov_delivery_statements
		WHERE account = $1 AND sub = $2 ORDER BY sequence, statement_id`, account, sub)
	if err != nil {
		return nil, x.errorf("list delivery statements of %s/%s: %w", account, sub, err)
	}
	ss, err := collect(rows, scanStatement)
	if err != nil {
		return nil, x.errorf("list delivery statements of %s/%s: %w", account, sub, err)
	}
	return ss, nil
}

// Idempotency.

const idempotencyCols = `account, principal, task, idem_key, request_hash, response, created_at, expires_at`

func (x *tx) GetIdempotency(ctx context.Context, scope store.IdempotencyScope) (store.IdempotencyRecord, error) {
	var r store.IdempotencyRecord
	err := x.queryRow(ctx, `SELECT `+idempotencyCols+` FROM gov_idempotency
		WHERE account = $1 AND principal = $2 AND task = $3 AND idem_key = $4`,
		scope.Account, scope.Principal, scope.Task, scope.Key).Scan(&r.Account, &r.Principal, &r.Task, &r.Key,
		&r.RequestHash, rawCol(&r.Response), timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return store.IdempotencyRecord{}, x.errorf("get idempotency key %s: %w", scopeName(scope), store.ErrNotFound)
	}
	if err != nil {
		return store.IdempotencyRecord{}, x.errorf("get idempotency key %s: %w", scopeName(scope), err)
	}
	return r, nil
}

// PutIdempotency inserts or does nothing: of concurrent writers of one key,
// the later ones wait for the first to commit and then find the key taken.
func (x *tx) PutIdempotency(ctx context.Context, r store.IdempotencyRecord) error {
	ok, err := x.execOne(ctx, insertIdempotency,
		r.Account, r.Principal, r.Task, r.Key, r.RequestHash, bytesArg(r.Response), x.time(r.CreatedAt),
		x.time(r.ExpiresAt))
	if err != nil {
		return x.errorf("put idempotency key %s: %w", scopeName(r.IdempotencyScope), err)
	}
	if !ok {
		return x.errorf("put idempotency key %s: %w", scopeName(r.IdempotencyScope), store.ErrConflict)
	}
	return nil
}

// scopeName names an idempotency key in errors; the key itself is the
// client's and is quoted.
func scopeName(s store.IdempotencyScope) string {
	return fmt.Sprintf("%s/%s/%s/%q", s.Account, s.Principal, s.Task, s.Key)
}

// Fixtures.

const fixtureCols = `account, kind, id, raw, updated_at`

func scanFixture(sc scanner) (store.Fixture, error) {
	var f store.Fixture
	err := sc.Scan(&f.Account, &f.Kind, &f.ID, rawCol(&f.Raw), timeCol{&f.UpdatedAt})
	return f, err
}

func (x *tx) PutFixture(ctx context.Context, f store.Fixture) error {
	if _, err := x.exec(ctx, `INSERT INTO gov_fixtures (`+fixtureCols+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account, kind, id) DO UPDATE SET raw = excluded.raw, updated_at = excluded.updated_at`,
		f.Account, f.Kind, f.ID, bytesArg(f.Raw), x.time(f.UpdatedAt)); err != nil {
		return x.errorf("put fixture %s/%s/%s: %w", f.Account, f.Kind, f.ID, err)
	}
	return nil
}

func (x *tx) GetFixture(ctx context.Context, account, kind, id string) (store.Fixture, error) {
	f, err := scanFixture(x.queryRow(ctx, `SELECT `+fixtureCols+` FROM gov_fixtures
		WHERE account = $1 AND kind = $2 AND id = $3`, account, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Fixture{}, x.errorf("get fixture %s/%s/%s: %w", account, kind, id, store.ErrNotFound)
	}
	if err != nil {
		return store.Fixture{}, x.errorf("get fixture %s/%s/%s: %w", account, kind, id, err)
	}
	return f, nil
}

func (x *tx) ListFixtures(ctx context.Context, account, kind string) ([]store.Fixture, error) {
	rows, err := x.query(ctx, `SELECT `+fixtureCols+` FROM gov_fixtures WHERE account = $1 AND kind = $2
		ORDER BY id`, account, kind)
	if err != nil {
		return nil, x.errorf("list fixtures %s/%s: %w", account, kind, err)
	}
	fixtures, err := collect(rows, scanFixture)
	if err != nil {
		return nil, x.errorf("list fixtures %s/%s: %w", account, kind, err)
	}
	return fixtures, nil
}
