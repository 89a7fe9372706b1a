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
		t.Errorf("%s differs from what the code makes now; if the change is meant, run the test with -update and review the diff.\ngot:\n%s", file, out)
	}
}

// Run runs each test case file matching pattern (a glob under testdata/,
// .golden.yaml files excluded) as a subtest named after it, and fails when
// there are fewer than min: a folder that lost its cases must not pass.
func Run(t *testing.T, pattern string, min int, test func(t *testing.T, file string)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
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
