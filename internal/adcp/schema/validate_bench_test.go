package schema

import "testing"

// BenchmarkValidateCheckGovernance validates a typical intent check_governance request and
// its response, in each version's shape, with the schemas already compiled.
func BenchmarkValidateCheckGovernance(b *testing.B) {
	cases := []struct {
		name string
		v    Version
		dir  Direction
		src  string
	}{
		{"3.0/request", V30, Request, intent30},
		{"3.0/response", V30, Response, response30},
		{"3.1/request", V31, Request, intent},
		{"3.1/response", V31, Response, response31},
		{"3.2/request", V32, Request, intent},
		{"3.2/response", V32, Response, response32},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			d := doc(b, bc.src, nil)
			if err := Validate(bc.v, "check_governance", bc.dir, d); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(bc.v, "check_governance", bc.dir, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateJSONCheckGovernance includes decoding the request bytes.
func BenchmarkValidateJSONCheckGovernance(b *testing.B) {
	data := []byte(intent)
	if err := ValidateJSON(V31, "check_governance", Request, data); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateJSON(V31, "check_governance", Request, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateInvalid measures the failure path: building the *Error for a request
// that misses a required field and has a wrong type deep inside.
func BenchmarkValidateInvalid(b *testing.B) {
	d := doc(b, syncPlansRequest, map[string]any{"idempotency_key": deleteKey, "plans[0].budget.total": "x"})
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(V31, "sync_plans", Request, d); err == nil {
			b.Fatal("valid")
		}
	}
}

// BenchmarkCompile measures compiling every schema from scratch (what Precompile pays once).
func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		r := newRegistry()
		for _, v := range Versions() {
			for _, task := range Tasks() {
				for _, dir := range []Direction{Request, Response} {
					if id, err := SchemaID(v, task, dir); err == nil {
						if _, err := r.schema(id); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		}
	}
}
