// Package testfiles writes the files a test starts from.
package testfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Write writes content to path, making its folders, or fails the test.
func Write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteAll writes each file of files, by path relative to dir.
func WriteAll(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		Write(t, filepath.Join(dir, path), content)
	}
}
