// Package toolcache finds the real servers and tools that hack/tools.sh
// builds once into a cache outside the clone (control-plane, versitygw,
// minio, mc, promtool, helm) and the CRDs it finds in the Go module cache, for the
// tests and the demo.
package toolcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Dir returns the folder hack/tools.sh built name into, running it first:
// instant when cached, many minutes the first time.
func Dir(ctx context.Context, name string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "tools.sh"), name)
	// What tools.sh says goes to the terminal too: the first build of the
	// control plane takes many minutes and says so.
	cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(os.Stderr, &stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/tools.sh %s failed: %v: %s", name, err, lastLine(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// repoRoot walks up from the working folder to the one holding hack/tools.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "tools.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no hack/tools.sh above the working folder")
		}
		dir = parent
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
