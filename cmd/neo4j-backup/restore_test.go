package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Mistakes in calling restore exit 2 with one line before any API or store
// is asked; the end-to-end test (e2e/restorecmd_test.go) runs it for real.
func TestRestoreUsage(t *testing.T) {
	target := []string{"restore", "--namespace", "db", "--statefulset", "graph"}
	with := func(args ...string) []string { return append(append([]string(nil), target...), args...) }
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"restore"}, 2, "--namespace is required"},
		{"neither --deployment nor --statefulset", []string{"restore", "--namespace", "db", "--at", "latest"}, 2,
			"--deployment or --statefulset is required: the Neo4j deployment to restore, or the one StatefulSet"},
		{"both --deployment and --statefulset", with("--deployment", "my-cluster", "--at", "latest"), 2,
			"--deployment and --statefulset: give one; --deployment restores all the StatefulSets of a Neo4j deployment together"},
		{"an empty --deployment", []string{"restore", "--namespace", "db", "--deployment", "", "--at", "latest"}, 2, "--deployment or --statefulset is required"},
		{"no --at", with(), 2, `--at is required: "latest", a backup ID or a time`},
		{"a bad --at", with("--at", "yesterday"), 2, `--at: "yesterday" is not "latest", a backup ID, a time`},
		{"a bad database", with("--at", "latest", "--databases", "neo4j,1st"), 2, `--databases: "1st" is not a Neo4j database name`},
		{"an empty database list", with("--at", "latest", "--databases", " , "), 2, "--databases: is empty; list database names like neo4j,system"},
		{"no timeout", with("--at", "latest", "--timeout", "0s"), 2, "--timeout 0s: give a positive duration"},
		{"a bad --default-destination", with("--at", "latest", "--default-destination", "backups/neo4j"), 2, `--default-destination: "backups/neo4j" is not an S3 location`},
		{"an argument", with("--at", "latest", "now"), 2, `unexpected argument "now"; run neo4j-backup restore --help`},
		{"an unknown flag", with("--at", "latest", "--replicas", "3"), 2, "unknown flag: --replicas; run neo4j-backup restore --help"},
		{"no cluster", with("--at", "latest", "--kubeconfig", filepath.Join(t.TempDir(), "missing")), 1, "no Kubernetes API to talk to"},
		{"no cluster, a deployment", []string{"restore", "-n", "db", "--deployment", "my-cluster", "--at", "latest", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, 1, "no Kubernetes API to talk to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, c.args...)
			if code != c.code || stdout != "" || !strings.HasPrefix(stderr, "neo4j-backup restore: ") ||
				!strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line saying %q", code, stderr, c.code, c.want)
			}
		})
	}
}
