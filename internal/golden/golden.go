// Package golden compares what a test makes with a file under testdata/:
// a test case is a YAML file, its expected result a .golden.yaml beside it,
// rewritten with -update and reviewed as a diff.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing with them")

// ReadCase reads a test case file into c, refusing unknown fields.
func ReadCase(t testing.TB, file string, c any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// Compare checks got, as YAML, against file; with -update it writes it.
func Compare(t testing.TB, file string, got any) {
	t.Helper()
	out, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v; run the test with -update to write it, then read it", err)
	}
	if string(want) != string(out) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(out)),
			FromFile: file, ToFile: "what the code makes now", Context: 3,
		})
		t.Errorf("%s differs from what the code makes now; if the change is meant, run the test with -update and review the diff.\n%s", file, diff)
	}
}

// Run runs each test case file matching pattern (a glob under testdata/,
// .golden.yaml files excluded) as a subtest named after it, and fails when
// there are fewer than min: a folder that lost its cases must not pass. A
// golden file whose case is gone fails too (-update removes it), so the
// folder never holds an expectation nothing checks.
func Run(t *testing.T, pattern string, min int, test func(t *testing.T, file string)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
			checkNotStale(t, file)
			continue
		}
		cases++
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) { test(t, file) })
	}
	if cases < min {
		t.Fatalf("found %d cases matching %s, want at least %d", cases, pattern, min)
	}
}

// Path is the golden file of a test case file.
func Path(file string) string { return strings.TrimSuffix(file, ".yaml") + ".golden.yaml" }

// checkNotStale fails for a golden file whose case file is gone.
func checkNotStale(t testing.TB, file string) {
	t.Helper()
	caseFile := strings.TrimSuffix(file, ".golden.yaml") + ".yaml"
	if _, err := os.Stat(caseFile); err == nil {
		return
	}
	if *update {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: its case %s is gone; delete it, or run the test with -update", file, caseFile)
}
