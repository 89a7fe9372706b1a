package golden

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// recorder is a testing.TB that keeps the errors a check reports instead of
// failing the real test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

func TestStaleGoldenFileFails(t *testing.T) {
	dir := t.TempDir()
	testfiles.Write(t, filepath.Join(dir, "kept.yaml"), "a: 1\n")
	testfiles.Write(t, filepath.Join(dir, "kept.golden.yaml"), "a: 1\n")
	testfiles.Write(t, filepath.Join(dir, "gone.golden.yaml"), "a: 2\n")
	r := &recorder{TB: t}
	checkNotStale(r, filepath.Join(dir, "kept.golden.yaml"))
	checkNotStale(r, filepath.Join(dir, "gone.golden.yaml"))
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "gone.golden.yaml is stale: its case") {
		t.Errorf("errors %q; want one saying gone.golden.yaml is stale", r.errors)
	}
}

func TestMismatchPrintsADiff(t *testing.T) {
	file := filepath.Join(t.TempDir(), "case.golden.yaml")
	testfiles.Write(t, file, "a: 1\nb: 2\nc: 3\n")
	r := &recorder{TB: t}
	Compare(r, file, map[string]int{"a": 1, "b": 20, "c": 3})
	if len(r.errors) != 1 {
		t.Fatalf("errors %q; want one", r.errors)
	}
	msg := r.errors[0]
	if !strings.Contains(msg, "\n-b: 2\n") || !strings.Contains(msg, "\n+b: 20\n") || !strings.Contains(msg, "\n a: 1\n") {
		t.Errorf("message %q; want a diff naming the changed line both ways", msg)
	}
}
