package constraint

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/fleetgov/fleetgov/internal/secret"
)

// MaxRuleCost is the most a rule may cost, in CEL cost units, both as
// estimated when it is loaded (over inputs of the sizes in the size hints
// below) and as measured while it is evaluated.
const MaxRuleCost = 50_000

// Size hints for cost estimation: how large the inputs of a decision may be.
const (
	hintString = 4096 // any string
	hintMap    = 64   // arguments, attributes, measures
	hintList   = 256  // agent lists
)

// CEL names of the input types.
const (
	actionType = "fleetgov.Action"
	agentType  = "fleetgov.Agent"
)

// field is one field of an input object: its CEL type and how to read it.
type field[T any] struct {
	typ   *types.Type
	get   func(*T) ref.Val
	isSet func(*T) bool
}

// bound is an input object bound to one activation: the fields read so far
// are kept, so that the rules of one decision convert each field once.
type bound[T any] struct {
	v    *T
	vals []ref.Val
}

func (b *bound[T]) reset(v *T) {
	b.v = v
	clear(b.vals)
}

type object struct {
	typ    *types.Type
	fields map[string]*types.FieldType
	names  []string
	get    []func(any) ref.Val // by field index, for objectVal.Get
}

func newObject[T any](name string, fields map[string]field[T]) *object {
	o := &object{typ: types.NewObjectType(name), fields: make(map[string]*types.FieldType, len(fields))}
	for n := range fields {
		o.names = append(o.names, n)
	}
	slices.Sort(o.names)
	for i, n := range o.names {
		f := fields[n]
		get := func(obj any) ref.Val {
			b := obj.(*bound[T])
			if v := b.vals[i]; v != nil {
				return v
			}
			v := f.get(b.v)
			b.vals[i] = v
			return v
		}
		o.get = append(o.get, get)
		o.fields[n] = &types.FieldType{
			Type:    f.typ,
			IsSet:   func(obj any) bool { return f.isSet(obj.(*bound[T]).v) },
			GetFrom: func(obj any) (any, error) { return get(obj), nil },
		}
	}
	return o
}

func str[T any](get func(*T) string) field[T] {
	return field[T]{typ: types.StringType,
		get:   func(v *T) ref.Val { return types.String(get(v)) },
		isSet: func(v *T) bool { return get(v) != "" }}
}

var (
	dynMap    = types.NewMapType(types.StringType, types.DynType)
	doubleMap = types.NewMapType(types.StringType, types.DoubleType)
	strList   = types.NewListType(types.StringType)
	emptyMap  = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})
)

func dynMapField(get func(*Action) map[string]any) field[Action] {
	return field[Action]{typ: dynMap,
		get: func(a *Action) ref.Val {
			if m := get(a); m != nil {
				return types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
			}
			return emptyMap
		},
		isSet: func(a *Action) bool { return len(get(a)) > 0 }}
}

var actionObject = newObject(actionType, map[string]field[Action]{
	"kind":          str(func(a *Action) string { return a.Kind }),
	"tool":          str(func(a *Action) string { return a.Tool }),
	"server":        str(func(a *Action) string { return a.Server }),
	"resource":      str(func(a *Action) string { return a.Resource }),
	"model":         str(func(a *Action) string { return a.Model }),
	"effect":        str(func(a *Action) string { return a.Effect }),
	"target_tenant": str(func(a *Action) string { return a.TargetTenant }),
	"arguments":     dynMapField(func(a *Action) map[string]any { return a.Arguments }),
	"attributes":    dynMapField(func(a *Action) map[string]any { return a.Attributes }),
	"measures": {typ: doubleMap,
		get: func(a *Action) ref.Val {
			m := a.Measures
			if m == nil {
				m = map[string]float64{}
			}
			return types.DefaultTypeAdapter.NativeToValue(m)
		},
		isSet: func(a *Action) bool { return len(a.Measures) > 0 }},
	"estimated_cost_usd": {typ: types.DoubleType,
		get:   func(a *Action) ref.Val { return types.Double(a.EstimatedCostUSD) },
		isSet: func(a *Action) bool { return a.EstimatedCostUSD != 0 }},
	"input_tokens": {typ: types.IntType,
		get:   func(a *Action) ref.Val { return types.Int(a.InputTokens) },
		isSet: func(a *Action) bool { return a.InputTokens != 0 }},
	"output_tokens": {typ: types.IntType,
		get:   func(a *Action) ref.Val { return types.Int(a.OutputTokens) },
		isSet: func(a *Action) bool { return a.OutputTokens != 0 }},
	"credential_detected": {typ: types.BoolType,
		get:   func(a *Action) ref.Val { return types.Bool(a.CredentialDetected) },
		isSet: func(a *Action) bool { return a.CredentialDetected }},
})

var agentObject = newObject(agentType, map[string]field[Agent]{
	"id":            str(func(a *Agent) string { return a.ID }),
	"tenant":        str(func(a *Agent) string { return a.Tenant }),
	"archetype":     str(func(a *Agent) string { return a.Archetype }),
	"risk":          str(func(a *Agent) string { return a.Risk }),
	"oversight":     str(func(a *Agent) string { return a.Oversight }),
	"reversibility": str(func(a *Agent) string { return a.Reversibility }),
	"status":        str(func(a *Agent) string { return a.Status }),
	"agency": {typ: types.IntType,
		get:   func(a *Agent) ref.Val { return types.Int(a.Agency) },
		isSet: func(a *Agent) bool { return a.Agency != 0 }},
	"sandbox": {typ: types.BoolType,
		get:   func(a *Agent) ref.Val { return types.Bool(a.Sandbox) },
		isSet: func(a *Agent) bool { return a.Sandbox }},
	"tools": {typ: strList,
		get:   func(a *Agent) ref.Val { return listVal(a.tools, a.Tools) },
		isSet: func(a *Agent) bool { return len(a.Tools) > 0 }},
	"not_authorized": {typ: strList,
		get:   func(a *Agent) ref.Val { return listVal(a.notAuthorized, a.NotAuthorized) },
		isSet: func(a *Agent) bool { return len(a.NotAuthorized) > 0 }},
	"shared_resources": {typ: strList,
		get:   func(a *Agent) ref.Val { return listVal(a.sharedResources, a.SharedResources) },
		isSet: func(a *Agent) bool { return len(a.SharedResources) > 0 }},
})

// listVal returns the prepared CEL list, or converts s for an Agent that was
// not built with NewAgent.
func listVal(prepared ref.Val, s []string) ref.Val {
	if prepared != nil {
		return prepared
	}
	return types.NewStringList(types.DefaultTypeAdapter, nonNil(s))
}

var objects = map[string]*object{actionType: actionObject, agentType: agentObject}

// provider serves the input object types and defers everything else.
type provider struct {
	types.Provider
	types.Adapter
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := objects[name]; ok {
		return types.NewTypeTypeWithParam(o.typ), true
	}
	return p.Provider.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := objects[name]; ok {
		return o.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if o, ok := objects[name]; ok {
		f, ok := o.fields[fieldName]
		return f, ok
	}
	return p.Provider.FindStructFieldType(name, fieldName)
}

func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := objects[name]; ok {
		return types.NewErr("%s values cannot be constructed in rules", name)
	}
	return p.Provider.NewValue(name, fields)
}

func (p *provider) NativeToValue(v any) ref.Val {
	switch o := v.(type) {
	case ref.Val:
		return o
	case *bound[Action]:
		return &objectVal{obj: actionObject, v: o}
	case *bound[Agent]:
		return &objectVal{obj: agentObject, v: o}
	}
	return p.Adapter.NativeToValue(v)
}

// objectVal is an Action or Agent as a CEL value, for the rare rule that
// uses one whole rather than selecting its fields.
type objectVal struct {
	obj *object
	v   any // *bound[Action] or *bound[Agent]
}

var (
	_ ref.Val         = (*objectVal)(nil)
	_ traits.Indexer  = (*objectVal)(nil)
	_ traits.Receiver = (*objectVal)(nil)
)

func (o *objectVal) ConvertToNative(t reflect.Type) (any, error) {
	switch b := o.v.(type) {
	case *bound[Action]:
		return b.v, nil
	case *bound[Agent]:
		return b.v, nil
	}
	return nil, fmt.Errorf("cannot convert %s to native", o.obj.typ)
}
func (o *objectVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return o.obj.typ
	}
	return types.NewErr("cannot convert %s to %s", o.obj.typ, t)
}
func (o *objectVal) Equal(other ref.Val) ref.Val {
	ov, ok := other.(*objectVal)
	return types.Bool(ok && ov.v == o.v)
}
func (o *objectVal) Type() ref.Type { return o.obj.typ }
func (o *objectVal) Value() any {
	v, _ := o.ConvertToNative(nil)
	return v
}
func (o *objectVal) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.NewErr("no such field %v", index)
	}
	i, ok := slices.BinarySearch(o.obj.names, string(name))
	if !ok {
		return types.NewErr("no such field %s", name)
	}
	return o.obj.get[i](o.v)
}
func (o *objectVal) Receive(function, overload string, args []ref.Val) ref.Val {
	return types.NewErr("no such overload %s on %s", function, o.obj.typ)
}

// containsCredential implements the CEL function contains_credential(dyn).
// It walks CEL values as well as native ones, so that a list or map built
// inside the expression is scanned too: the check must not fail open.
func containsCredential(v ref.Val) ref.Val {
	return types.Bool(scanVal(v, 0))
}

func scanVal(v ref.Val, depth int) bool {
	if depth > 64 {
		return false
	}
	// Inputs arrive as native Go values: scan those without boxing.
	switch n := v.Value().(type) {
	case string, map[string]any, []any, map[string]string, []string:
		_, found, _ := secret.Scan(n)
		return found
	}
	switch t := v.(type) {
	case types.String:
		_, found := secret.Detect(string(t))
		return found
	case types.Bytes:
		_, found := secret.Detect(string(t))
		return found
	case traits.Mapper:
		it := t.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			if scanVal(k, depth+1) || scanVal(t.Get(k), depth+1) {
				return true
			}
		}
		return false
	case traits.Lister:
		it := t.Iterator()
		for it.HasNext() == types.True {
			if scanVal(it.Next(), depth+1) {
				return true
			}
		}
		return false
	}
	_, found, _ := secret.Scan(v.Value())
	return found
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// Env returns the CEL environment rules are compiled in: variables action
// (fleetgov.Action), agent (fleetgov.Agent) and now (timestamp); the standard
// library with cross-type numeric comparisons, string extensions, and
// contains_credential(value), true when any string in value is shaped like
// a credential.
func Env() (*cel.Env, error) {
	envOnce.Do(func() {
		base, err := cel.NewEnv()
		if err != nil {
			envErr = err
			return
		}
		p := &provider{Provider: base.CELTypeProvider(), Adapter: base.CELTypeAdapter()}
		env, envErr = cel.NewEnv(
			ext.Strings(),
			cel.CustomTypeProvider(p),
			cel.CustomTypeAdapter(p),
			cel.Variable("action", types.NewObjectType(actionType)),
			cel.Variable("agent", types.NewObjectType(agentType)),
			cel.Variable("now", types.TimestampType),
			cel.CrossTypeNumericComparisons(true),
			cel.ParserExpressionSizeLimit(8192),
			cel.Function("contains_credential",
				cel.Overload("contains_credential_dyn", []*types.Type{types.DynType}, types.BoolType,
					cel.UnaryBinding(containsCredential))),
		)
		if envErr != nil {
			return
		}
		// cel-go's checker fills its symbol catalog lazily, on the first
		// undeclared reference, and copies the field unguarded when it
		// enters a comprehension scope: a data race between two concurrent
		// Compile calls. One undeclared reference here fills it before the
		// environment is shared. The issue it reports is expected.
		_, _ = env.Compile("fleetgov_catalog_warmup")
	})
	return env, envErr
}

// Program is a compiled, type-checked rule.
type Program struct {
	src     string
	prg     cel.Program // untracked, for inputs within the size hints
	limited cel.Program // with the runtime cost limit, for the rest
	cost    cost.Estimate
}

// Source returns the expression the program was compiled from.
func (p *Program) Source() string { return p.src }

// EstimatedCost returns the worst-case cost estimated at compile time.
func (p *Program) EstimatedCost() uint64 { return p.cost.Max }

// Compile errors.
var (
	ErrTypeCheck = errors.New("does not type-check")
	ErrTooCostly = errors.New("costs too much")
)

// ErrCostLimit marks a rule evaluation stopped by the cost limit.
var ErrCostLimit = errors.New("rule exceeded its cost limit")

// Compile parses and type-checks a rule expression, which must be boolean,
// and estimates its worst-case cost, refusing one above MaxRuleCost.
func Compile(src string) (*Program, error) {
	e, err := Env()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("%w: empty expression", ErrTypeCheck)
	}
	ast, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrTypeCheck, oneLine(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("%w: expression is %s, want bool", ErrTypeCheck, ast.OutputType())
	}
	est, err := e.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, fmt.Errorf("cost estimate: %w", err)
	}
	if est.Max > MaxRuleCost {
		return nil, fmt.Errorf("%w: worst case %s units over inputs of the hinted sizes, limit %d",
			ErrTooCostly, formatCost(est.Max), MaxRuleCost)
	}
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	limited, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(MaxRuleCost), cel.CostTracking(estimator{}))
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	return &Program{src: src, prg: prg, limited: limited, cost: est}, nil
}

func formatCost(c uint64) string {
	if c == math.MaxUint64 {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

var celPosRE = regexp.MustCompile(`^ERROR: <input>:(\d+):(\d+): (.*)$`)

// oneLine condenses cel-go's issue report (message, source line, caret) to
// its messages, each with its column.
func oneLine(s string) string {
	var msgs []string
	for _, l := range strings.Split(s, "\n") {
		m := celPosRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "1" {
			msgs = append(msgs, fmt.Sprintf("column %s: %s", m[2], m[3]))
		} else {
			msgs = append(msgs, fmt.Sprintf("line %s column %s: %s", m[1], m[2], m[3]))
		}
	}
	if len(msgs) == 0 {
		return strings.Join(strings.Fields(s), " ")
	}
	return strings.Join(msgs, "; ")
}

// ListProgram evaluates several rules in one program.
type ListProgram struct {
	prg cel.Program
	n   int
}

// CompileList compiles the boolean expressions srcs, each of which passed
// Compile, into one program that evaluates them all and yields a list. It
// is not cost-checked as a whole: run it only on inputs within the hints.
func CompileList(srcs []string) (*ListProgram, error) {
	e, err := Env()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	ast, iss := e.Compile("[" + strings.Join(srcs, ", ") + "]")
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrTypeCheck, oneLine(iss.Err().Error()))
	}
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	return &ListProgram{prg: prg, n: len(srcs)}, nil
}

// Eval evaluates every rule and calls hit with the index of each that holds.
// It reports false, having called hit for none, if any rule errors or the
// input exceeds the size hints; the caller then evaluates rules one by one.
func (p *ListProgram) Eval(in *Activation, hit func(i int)) bool {
	if !in.withinHint {
		return false
	}
	out, _, err := p.prg.Eval(in)
	if err != nil {
		return false
	}
	l, ok := out.(traits.Lister)
	if !ok {
		return false
	}
	for i := 0; i < p.n; i++ {
		if l.Get(types.Int(i)) == types.True {
			hit(i)
		}
	}
	return true
}

// CompileUnchecked compiles a boolean expression without the cost check,
// for expressions built from rules that each passed Compile.
func CompileUnchecked(src string) (*Program, error) {
	e, err := Env()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	ast, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrTypeCheck, oneLine(iss.Err().Error()))
	}
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	return &Program{src: src, prg: prg}, nil
}

// WithinHints reports whether the activation's input is within the size
// hints that rule costs were estimated over.
func (a *Activation) WithinHints() bool { return a.withinHint }

// Activation is the input of one evaluation. Reuse one per goroutine: the
// rules of one decision then share each input field's conversion to CEL.
type Activation struct {
	action     bound[Action]
	agent      bound[Agent]
	now        ref.Val
	withinHint bool
}

var _ interpreter.Activation = (*Activation)(nil)

// NewActivation returns an empty activation; call Reset before use.
func NewActivation() *Activation {
	return &Activation{
		action: bound[Action]{vals: make([]ref.Val, len(actionObject.names))},
		agent:  bound[Agent]{vals: make([]ref.Val, len(agentObject.names))},
	}
}

// Reset points the activation at a new input.
func (a *Activation) Reset(action *Action, agent *Agent, now time.Time) {
	if a.action.vals == nil {
		*a = *NewActivation()
	}
	a.action.reset(action)
	a.agent.reset(agent)
	if action == nil {
		a.now, a.withinHint = nil, false
		return
	}
	a.now = types.Timestamp{Time: now}
	a.withinHint = action.withinHints() && (agent == nil || agent.withinHints())
}

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	switch name {
	case "action":
		return &a.action, a.action.v != nil
	case "agent":
		return &a.agent, a.agent.v != nil
	case "now":
		return a.now, a.now != nil
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

// Eval runs the program. A rule that errors (a missing key, a cost overrun)
// returns the error; callers fail closed. Inputs within the size hints run
// untracked, since the rule's estimated worst case over such inputs is
// within MaxRuleCost; larger inputs run with the cost limit enforced.
func (p *Program) Eval(in *Activation) (bool, error) {
	prg := p.prg
	if !in.withinHint {
		if p.limited == nil {
			return false, fmt.Errorf("%w: the input exceeds the size hints and this program has no runtime limit", ErrCostLimit)
		}
		prg = p.limited
	}
	out, _, err := prg.Eval(in)
	if err != nil {
		if strings.Contains(err.Error(), "cost limit") {
			return false, fmt.Errorf("%w: %v", ErrCostLimit, err)
		}
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("rule returned %s, want bool", out.Type())
	}
	return bool(b), nil
}

// estimator gives size hints for inputs and costs for fleetgov's functions.
type estimator struct{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 || (path[0] != "action" && path[0] != "agent") {
		return nil
	}
	t := n.Type()
	switch {
	case t == nil:
		return nil
	case t.Kind() == types.ListKind:
		return &cost.SizeEstimate{Max: hintList}
	case t.Kind() == types.MapKind:
		return &cost.SizeEstimate{Max: hintMap}
	}
	return &cost.SizeEstimate{Max: hintString}
}

// credentialScanCost is the estimated cost of contains_credential: a scan of
// every string in a hinted map, each of the hinted size.
const credentialScanCost = hintMap * hintString / 100

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if function == "contains_credential" {
		return &cost.CallEstimate{CostEstimate: cost.Estimate{Min: 1, Max: credentialScanCost}}
	}
	return nil
}

func (estimator) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if function == "contains_credential" && len(args) == 1 {
		// Charge by top-level size: scanning is linear in the input, and the
		// input is bounded by the request size limit.
		c := uint64(1)
		if s, ok := args[0].(traits.Sizer); ok {
			if n, ok := s.Size().(types.Int); ok && n > 0 {
				c += uint64(n)
			}
		}
		return &c
	}
	return nil
}
