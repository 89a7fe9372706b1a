package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the command reference in README.md from --help")

// cliRun runs the command line as a user would and returns what they see.
func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Help is asked for, so it goes to stdout and exits 0, with flags spelled
// --flag; every run builds its own command tree, so they run in parallel.
func TestCLIHelp(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:\n  neo4j-backup [command]", "Backups in S3:", "  restore ", "  completion ", "-h, --help"}},
		{[]string{"-h"}, []string{"Usage:\n  neo4j-backup [command]"}},
		{[]string{"help"}, []string{"Usage:\n  neo4j-backup [command]"}},
		{[]string{"help", "restore"}, []string{"neo4j-backup restore -n NAMESPACE"}},
		{[]string{"restore", "--help"}, []string{"neo4j-backup restore -n NAMESPACE", "-n, --namespace string", "--kubeconfig string", "--context string", "Examples:"}},
		{[]string{"restore", "-h"}, []string{"-n, --namespace string"}},
		{[]string{"list", "--help"}, []string{"-o, --output string", "table, json or yaml"}},
		{[]string{"serve", "--help"}, []string{"--namespace string", "--leader-elect", "--drain-timeout duration"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := cliRun(t, c.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want exit 0 and nothing on stderr", code, stderr)
			}
			for _, want := range c.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("help does not say %q:\n%s", want, stdout)
				}
			}
			for _, line := range strings.Split(stdout, "\n") {
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") && !strings.HasPrefix(f[0], "--") && len(strings.TrimSuffix(f[0], ",")) > 2 {
					t.Errorf("a long flag with one dash: %q", line)
				}
			}
		})
	}
}

// No command is a mistake: the help goes where errors go, exit 2.
func TestCLINoCommand(t *testing.T) {
	code, stdout, stderr := cliRun(t)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "Usage:\n  neo4j-backup [command]") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and the help on stderr", code, stdout, stderr)
	}
}

// Mistakes in the command line exit 2 with one line, before any store or
// API is asked.
func TestCLIUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lsit"}, `neo4j-backup: unknown command "lsit" (did you mean list?); run neo4j-backup --help for the list`},
		{[]string{"frobnicate", "--from", "x"}, `neo4j-backup: unknown command "frobnicate"; run neo4j-backup --help for the list`},
		{[]string{"--verbose"}, "neo4j-backup: unknown flag: --verbose; run neo4j-backup --help for the flags"},
		{[]string{"list", "--bucket", "x"}, "neo4j-backup list: unknown flag: --bucket; run neo4j-backup list --help for the flags"},
		{[]string{"list", "-x"}, "neo4j-backup list: unknown shorthand flag: 'x' in -x; run neo4j-backup list --help for the flags"},
		{[]string{"list", "-from", "s3://b/p"}, "neo4j-backup list: -from: write it --from (long flags take two dashes)"},
		{[]string{"list", "-o", "xml"}, "neo4j-backup list: --output xml: choose table, json or yaml"},
		{[]string{"list", "--output=xml"}, "neo4j-backup list: --output xml: choose table, json or yaml"},
		// -o yaml is taken: what is missing is --from.
		{[]string{"list", "-o", "yaml"}, "neo4j-backup list: --from s3://bucket/prefix is required"},
		{[]string{"fetch", "--at"}, "neo4j-backup fetch: flag needs an argument: --at; run neo4j-backup fetch --help for the flags"},
		{[]string{"restore", "-n", "db", "--timeout", "soon"}, `neo4j-backup restore: invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"; run neo4j-backup restore --help for the flags`},
		{[]string{"restore", "-n", "db", "--statefulset", "graph", "--at", "latest", "now"}, `neo4j-backup restore: unexpected argument "now"; run neo4j-backup restore --help for the flags`},
		{[]string{"restore", "-n", "db"}, "neo4j-backup restore: --deployment or --statefulset is required: the Neo4j deployment to restore, or the one StatefulSet"},
		{[]string{"version", "now"}, `neo4j-backup version: unexpected argument "now"; run neo4j-backup version --help for the flags`},
		{[]string{"serve", "--image", "x", "--cert-mode", "cert-manager"}, "neo4j-backup serve: --cert-mode=cert-manager: want files (read --cert-dir) or self (make and renew the certificate)"},
		// The in-pod flags are hidden, not gone: the injected container's
		// call gets as far as the missing --from.
		{[]string{"fetch", "--at", "latest", "--to", "/stage", "--skip-if-restored", "/data/m", "--install-self", "/stage/bin"}, "neo4j-backup fetch: --from s3://bucket/prefix is required"},
		{[]string{"restore-staged", "--replicas", "3"}, "neo4j-backup restore-staged: unknown flag: --replicas; run neo4j-backup restore-staged --help for the flags"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := cliRun(t, c.args...)
			if code != 2 || stdout != "" || stderr != c.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and the one line %q", code, stdout, stderr, c.want)
			}
		})
	}
}

// Commands only the injected containers run stay out of the help, and out
// of the typo suggestions.
func TestCLIHidden(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"fetch", "--help"}, {"__complete", ""}, {"__complete", "fetch", "--"}} {
		_, stdout, _ := cliRun(t, args...)
		for _, hidden := range []string{"restore-staged", "backup-plan", "skip-if-restored", "install-self"} {
			if strings.Contains(stdout, hidden) {
				t.Errorf("%s shows %s:\n%s", strings.Join(args, " "), hidden, stdout)
			}
		}
	}
	if code, stdout, _ := cliRun(t, "restore-staged", "--help"); code != 0 || !strings.Contains(stdout, "--staged string") {
		t.Errorf("restore-staged --help = %d:\n%s", code, stdout)
	}
}

func TestCLICompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, stderr := cliRun(t, "completion", shell)
		if code != 0 || stderr != "" || len(stdout) < 1000 {
			t.Errorf("completion %s = %d, %d bytes, stderr %q", shell, code, len(stdout), stderr)
		}
	}
	_, script, _ := cliRun(t, "completion", "bash")
	if !strings.Contains(script, "__start_neo4j-backup") {
		t.Errorf("the bash completion has no __start_neo4j-backup")
	}
	file := filepath.Join(t.TempDir(), "neo4j-backup.bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	// Completing "neo4j-backup li" and "neo4j-backup restore --sta" in a
	// real bash, as a user's Tab does: the script asks the binary on PATH.
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Fatalf("%v: the bash completion needs the bash-completion package, as it does on a user's machine; install it (apt-get install bash-completion)", err)
	}
	bin := testcluster.Binary(t)
	complete := func(line string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", `source `+bashCompletion+`; source "$0"
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
__start_neo4j-backup neo4j-backup
echo "${COMPREPLY[*]}"`, file, line)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		// stdout only: outside a real Tab, bash's compopt complains on stderr.
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q in bash: %v", line, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("neo4j-backup li"); got != "list" {
		t.Errorf("completing \"neo4j-backup li\" gave %q; want list", got)
	}
	if got := complete("neo4j-backup restore --sta"); got != "--statefulset" {
		t.Errorf("completing \"neo4j-backup restore --sta\" gave %q; want --statefulset", got)
	}
}

// -o json and -o yaml print the same objects; json as it always has.
func TestListOutput(t *testing.T) {
	at := time.Date(2021, 11, 11, 10, 0, 0, 0, time.UTC)
	backups := []storage.Backup{
		{ID: "2021-11-11T10:00:00Z", Time: at, Status: storage.Complete, Size: 11, Files: 3, Databases: []string{"neo4j", "system"},
			Manifest: &storage.Manifest{Neo4jVersion: "5.26.0"}},
		{ID: "11Nov2021-09:00:00", Time: at.Add(-time.Hour), Status: storage.Legacy, Size: 3, Files: 1},
	}
	var asJSON, asYAML bytes.Buffer
	if err := writeListed(&asJSON, "json", backups); err != nil {
		t.Fatal(err)
	}
	wantJSON := `[
  {
    "id": "2021-11-11T10:00:00Z",
    "status": "complete",
    "time": "2021-11-11T10:00:00Z",
    "size": 11,
    "files": 3,
    "databases": [
      "neo4j",
      "system"
    ],
    "neo4jVersion": "5.26.0"
  },
  {
    "id": "11Nov2021-09:00:00",
    "status": "legacy",
    "time": "2021-11-11T09:00:00Z",
    "size": 3,
    "files": 1,
    "databases": []
  }
]
`
	if asJSON.String() != wantJSON {
		t.Errorf("-o json:\n%s\nwant:\n%s", asJSON.String(), wantJSON)
	}
	if err := writeListed(&asYAML, "yaml", backups); err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML []listedBackup
	if err := json.Unmarshal(asJSON.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(asYAML.Bytes(), &fromYAML); err != nil {
		t.Fatalf("-o yaml: %v\n%s", err, asYAML.String())
	}
	j, _ := json.Marshal(fromJSON)
	y, _ := json.Marshal(fromYAML)
	if !bytes.Equal(j, y) {
		t.Errorf("-o yaml holds other objects than -o json:\n%s", asYAML.String())
	}
}

const (
	referenceBegin = "<!-- BEGIN neo4j-backup --help -->\n"
	referenceEnd   = "<!-- END neo4j-backup --help -->"
)

// README.md's command reference is the --help of the live command tree.
func TestREADMECommandReference(t *testing.T) {
	file := filepath.Join("..", "..", "README.md")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	begin, end := strings.Index(readme, referenceBegin), strings.Index(readme, referenceEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md has no command reference between %q and %q", strings.TrimSpace(referenceBegin), referenceEnd)
	}
	begin += len(referenceBegin)
	got, want := readme[begin:end], commandReference(t)
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(file, []byte(readme[:begin]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(got), B: difflib.SplitLines(want),
		FromFile: "README.md", ToFile: "--help now", Context: 3,
	})
	t.Errorf("README command reference is stale; run `go test ./cmd/neo4j-backup -run TestREADME -update-readme`\n%s", diff)
}

// commandReference renders the --help of the root and of each command a
// user sees, as the README holds it. cobra's own help and completion
// commands are added only when a tree runs, so they are not in the list.
func commandReference(t *testing.T) string {
	paths := [][]string{nil}
	for _, c := range newRootCommand(io.Discard, io.Discard).Commands() {
		if c.IsAvailableCommand() {
			paths = append(paths, []string{c.Name()})
		}
	}
	var b strings.Builder
	for _, path := range paths {
		name := strings.Join(append([]string{"neo4j-backup"}, path...), " ")
		code, stdout, stderr := cliRun(t, append(path, "--help")...)
		if code != 0 || stderr != "" {
			t.Fatalf("%s --help = %d, %q", name, code, stderr)
		}
		fmt.Fprintf(&b, "\n### %s\n\n```text\n$ %s --help\n%s```\n", name, name, stdout)
	}
	return b.String()
}
