package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/controlplane"
)

// pluginHelp is the --help of args, of the command tree named after argv0.
func pluginHelp(t *testing.T, argv0 string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut)
	asInvoked(root, argv0)
	if _, err := execute(t.Context(), root, append(args, "--help")); err != nil || errOut.Len() > 0 {
		t.Fatalf("%s --help: %v, stderr %q", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// Run as kubectl's plugin, every help says kubectl neo4j-backup where it
// says neo4j-backup otherwise, and nothing else changes; run by any other
// name, nothing does.
func TestPluginHelp(t *testing.T) {
	var commands []string
	for _, c := range newRootCommand(io.Discard, io.Discard).Commands() {
		commands = append(commands, c.Name())
	}
	commandLine := regexp.MustCompile(`(?m)^\s*neo4j-backup (` + strings.Join(commands, "|") + `)\b`)
	for _, args := range [][]string{nil, {"restore"}, {"list"}, {"serve"}, {"status"}, {"version"}, {"completion"}} {
		t.Run(strings.Join(append([]string{"help"}, args...), " "), func(t *testing.T) {
			plain := pluginHelp(t, "neo4j-backup", args...)
			if other := pluginHelp(t, "/tmp/go-build1/b001/neo4j-backup.test", args...); other != plain {
				t.Errorf("the help changes with the binary's name:\n%s", other)
			}
			plugin := pluginHelp(t, "/home/me/.local/bin/kubectl-neo4j_backup", args...)
			if !strings.Contains(plugin, "Usage:\n  kubectl neo4j-backup") {
				t.Errorf("the plugin's help has no usage line of kubectl neo4j-backup:\n%s", plugin)
			}
			if bare := commandLine.FindString(plugin); bare != "" {
				t.Errorf("the plugin's help has a command line without kubectl: %q in\n%s", bare, plugin)
			}
			if back := strings.ReplaceAll(plugin, "kubectl neo4j-backup", "neo4j-backup"); back != plain {
				t.Errorf("the plugin's help differs from neo4j-backup's in more than its name:\n%s", back)
			}
		})
	}
}

// TestPluginOnPath installs the binary as make install does and runs it as
// a user runs a kubectl plugin: kubectl finds kubectl-neo4j_backup on PATH.
func TestPluginOnPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// Beside kube-apiserver, where envtest's asset bundles keep it.
		assets, _ := controlplane.Assets()
		kubectl = filepath.Join(assets, "kubectl")
		if _, err := os.Stat(kubectl); err != nil {
			t.Fatalf("kubectl is neither on PATH nor in %s; install it, or run hack/tools.sh kubectl and put it on PATH", assets)
		}
	}
	prefix := t.TempDir()
	const version = "v0.0.0-plugin-test"
	install := exec.CommandContext(ctx, "make", "-C", filepath.Join("..", ".."), "install", "PREFIX="+prefix, "VERSION="+version)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(prefix, "bin")
	for _, name := range []string{"neo4j-backup", "kubectl-neo4j_backup", "kubectl_complete-neo4j_backup"} {
		if info, err := os.Stat(filepath.Join(bin, name)); err != nil || info.Mode()&0o111 == 0 {
			t.Errorf("make install made no executable %s in PREFIX/bin: %v", name, err)
		}
	}
	// A kubeconfig of its own, so nothing of this machine's is read.
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+filepath.Join(prefix, "kubeconfig"))
	run := func(name string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode(), out.String(), errOut.String()
		}
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		return 0, out.String(), errOut.String()
	}

	code, help, stderr := run(kubectl, "neo4j-backup", "--help")
	if code != 0 || stderr != "" || !strings.Contains(help, "Usage:\n  kubectl neo4j-backup [command]") || !strings.Contains(help, "Backups in S3:") {
		t.Errorf("kubectl neo4j-backup --help: exit %d, stderr %q, want the help of kubectl neo4j-backup:\n%s", code, stderr, help)
	}
	if _, plain, _ := run(filepath.Join(bin, "neo4j-backup"), "--help"); strings.ReplaceAll(help, "kubectl neo4j-backup", "neo4j-backup") != plain {
		t.Errorf("kubectl neo4j-backup --help differs from neo4j-backup --help in more than the name:\n%s", plain)
	}
	if code, out, _ := run(kubectl, "neo4j-backup", "restore", "--help"); code != 0 || !strings.Contains(out, "kubectl neo4j-backup restore -n NAMESPACE") {
		t.Errorf("kubectl neo4j-backup restore --help: exit %d:\n%s", code, out)
	}
	if code, out, stderr := run(kubectl, "neo4j-backup", "version"); code != 0 || out != "neo4j-backup "+version+"\n" {
		t.Errorf("kubectl neo4j-backup version: exit %d, %q, stderr %q; want neo4j-backup %s", code, out, stderr, version)
	}
	// Errors name the command as it was typed, and exit 2 as neo4j-backup does.
	const wantErr = "kubectl neo4j-backup list: unknown flag: --bucket; run kubectl neo4j-backup list --help for the flags\n"
	if code, out, stderr := run(kubectl, "neo4j-backup", "list", "--bucket", "x"); code != 2 || out != "" || stderr != wantErr {
		t.Errorf("kubectl neo4j-backup list --bucket x: exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, stderr, wantErr)
	}
	// kubectl neo4j-backup li<Tab>: kubectl asks kubectl_complete-neo4j_backup.
	if code, out, stderr := run(kubectl, "__complete", "neo4j-backup", "li"); code != 0 || !strings.HasPrefix(out, "list\t") {
		t.Errorf("kubectl __complete neo4j-backup li: exit %d, %q, stderr %q; want list", code, out, stderr)
	}
	if code, out, _ := run(kubectl, "plugin", "list"); code != 0 || !strings.Contains(out, filepath.Join(bin, "kubectl-neo4j_backup")) {
		t.Errorf("kubectl plugin list: exit %d, does not list %s:\n%s", code, filepath.Join(bin, "kubectl-neo4j_backup"), out)
	}
}

// The krew manifest, rendered as krew-release-bot renders it for a release,
// installs this binary under the plugin's name on every platform it lists.
func TestPluginKrewManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "plugins", "krew", "neo4j-backup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const tag = "v1.2.3"
	sha := strings.Repeat("0123456789abcdef", 4)
	rendered := regexp.MustCompile(`\{\{\s*addURIAndSha "([^"]+)" \.TagName\s*\}\}`).ReplaceAllString(string(raw), "uri: $1\n    sha256: "+sha)
	rendered = regexp.MustCompile(`\{\{\s*\.TagName\s*\}\}`).ReplaceAllString(rendered, tag)
	if strings.Contains(rendered, "{{") {
		t.Fatalf("the krew manifest has a placeholder krew-release-bot does not fill in:\n%s", rendered)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
				Files  []struct {
					From string `json:"from"`
					To   string `json:"to"`
				} `json:"files"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(rendered), &m); err != nil {
		t.Fatalf("the rendered krew manifest: %v\n%s", err, rendered)
	}
	// krew installs plugin NAME as kubectl-NAME, dashes as underscores.
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || "kubectl-"+strings.ReplaceAll(m.Metadata.Name, "-", "_") != pluginBinary {
		t.Errorf("the krew manifest is %s %s %q; want a krew v1alpha2 Plugin named neo4j-backup", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != tag || m.Spec.ShortDescription == "" || m.Spec.Description == "" || m.Spec.Homepage == "" {
		t.Errorf("spec.version %q, homepage %q, shortDescription %q; want %s, a homepage and descriptions", m.Spec.Version, m.Spec.Homepage, m.Spec.ShortDescription, tag)
	}
	want := map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true}
	for _, p := range m.Spec.Platforms {
		platform := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		if !want[platform] {
			t.Errorf("platform %s is not one of %v, or comes twice", platform, want)
		}
		delete(want, platform)
		archive := "https://github.com/neo4j-backup/neo4j-backup/releases/download/" + tag + "/neo4j-backup_" + tag + "_" + strings.ReplaceAll(platform, "/", "_") + ".tar.gz"
		if p.URI != archive || p.Sha256 != sha {
			t.Errorf("%s: uri %q, sha256 %q; want %s and its checksum", platform, p.URI, p.Sha256, archive)
		}
		if p.Bin != pluginBinary || len(p.Files) != 1 || p.Files[0].From != pluginBinary {
			t.Errorf("%s: bin %q from %v; want %s, the binary under the plugin's name", platform, p.Bin, p.Files, pluginBinary)
		}
	}
	if len(want) > 0 {
		t.Errorf("the krew manifest has no platform %v", want)
	}
}
