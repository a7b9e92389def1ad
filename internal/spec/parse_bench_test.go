package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseSpec parses one example spec: front matter, sections,
// clauses, and the compilation of its tenant rules.
func BenchmarkParseSpec(b *testing.B) {
	file := filepath.Join(exampleSpecs, "payments", "refund-executor.md")
	src, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(file, src); err != nil {
			b.Fatal(err)
		}
	}
}
