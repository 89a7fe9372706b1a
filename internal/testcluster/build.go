package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// built are the binaries this test binary built, in one temporary folder
// that Main removes.
var built struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string // by package
	errs  map[string]error
}

// Binary is the path of neo4j-backup built from this tree, once per test
// binary; with -race when the tests run with -race, so a data race in serve
// or in a container the pod runner runs is found too.
func Binary(t testing.TB) string {
	t.Helper()
	return buildOnce(t, "./cmd/neo4j-backup", "neo4j-backup")
}

// Standin is the folder holding the stand-in neo4j-admin
// (e2e/neo4j-admin-standin), built once per test binary. neo4j-backup may
// be built into the same folder.
func Standin(t testing.TB) string {
	t.Helper()
	return filepath.Dir(buildOnce(t, "./e2e/neo4j-admin-standin", "neo4j-admin"))
}

func buildOnce(t testing.TB, pkg, name string) string {
	t.Helper()
	inMain(t)
	path, err := binary(pkg, name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func binary(pkg, name string) (string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if path, ok := built.paths[pkg]; ok {
		return path, nil
	}
	if err, ok := built.errs[pkg]; ok {
		return "", err
	}
	path, err := build(pkg, name)
	if err != nil {
		if built.errs == nil {
			built.errs = map[string]error{}
		}
		built.errs[pkg] = err
		return "", err
	}
	if built.paths == nil {
		built.paths = map[string]string{}
	}
	built.paths[pkg] = path
	return path, nil
}

// build runs go build in the module's folder; built.mu is held.
func build(pkg, name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if built.dir == "" {
		if built.dir, err = os.MkdirTemp("", "neo4j-backup-testcluster-bin-"); err != nil {
			return "", err
		}
	}
	path := filepath.Join(built.dir, name)
	args := []string{"build", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(append(args, pkg), " "), err, out)
	}
	return path, nil
}

func removeBinaries() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

var moduleRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("the tests run outside the neo4j-backup module (go env GOMOD is empty); run them from the repository")
	}
	return filepath.Dir(gomod), nil
})
