package backup

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/golden"
	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

const testImage = "ghcr.io/neo4j-backup/neo4j-backup:test"

// namespaceCase is one file under testdata/namespaces: a namespace, the
// StatefulSets in it, optionally the backup CronJobs in place and the
// server's settings.
type namespaceCase struct {
	Server *struct {
		DefaultDestination string `json:"defaultDestination"`
	} `json:"server"`
	Namespace    metav1.ObjectMeta    `json:"namespace"`
	StatefulSets []appsv1.StatefulSet `json:"statefulSets"`
	InPlace      []batchv1.CronJob    `json:"cronJobsInPlace"`
}

// namespaceResult is what a case's .golden.yaml holds: the CronJobs, and
// the Warnings the namespace gets.
type namespaceResult struct {
	Warnings []warning          `json:"warnings,omitempty"`
	CronJobs []*batchv1.CronJob `json:"cronJobs,omitempty"`
}

type warning struct {
	Reason      string `json:"reason"`
	Message     string `json:"message"`
	Deployment  string `json:"deployment,omitempty"`  // the deployment it concerns, if not the namespace
	StatefulSet string `json:"statefulSet,omitempty"` // the Event's related object
}

func (c namespaceCase) config() Config {
	cfg := Config{Image: testImage, DefaultDestination: "s3://cluster-default/neo4j"}
	if c.Server != nil {
		cfg.DefaultDestination = c.Server.DefaultDestination
	}
	return cfg
}

func (c namespaceCase) plan(sets []appsv1.StatefulSet) plan {
	return planBackups(c.Namespace.Name, c.Namespace.Annotations, sets, c.InPlace, c.config())
}

// TestCronJobFixtures runs every case under testdata/namespaces through the
// decide step and the template, and compares the CronJobs and the Warnings
// with its golden file.
func TestCronJobFixtures(t *testing.T) {
	golden.Run(t, "testdata/namespaces/*.yaml", 20, func(t *testing.T, file string) {
		c := readNamespaceCase(t, file)
		p := c.plan(c.StatefulSets)
		var got namespaceResult
		for _, pr := range p.problems {
			w := warning{Reason: pr.reason, Message: pr.message, Deployment: pr.deployment}
			if pr.statefulSet != nil {
				w.StatefulSet = pr.statefulSet.Name
			}
			if strings.Contains(pr.message, "AWS_") || strings.Contains(pr.message, "s3-creds") {
				t.Errorf("the Warning names credentials: %s", pr.message)
			}
			got.Warnings = append(got.Warnings, w)
		}
		for _, s := range p.backups {
			cj := cronJob(s)
			if len(cj.Name) > maxCronJobName {
				t.Errorf("CronJob name %s has %d characters, more than %d", cj.Name, len(cj.Name), maxCronJobName)
			}
			if strings.Contains(describe(s), "AWS_") {
				t.Errorf("the Event names credentials: %s", describe(s))
			}
			got.CronJobs = append(got.CronJobs, cj)
			if s.VerifySchedule != "" {
				drill := drillCronJob(s)
				if len(drill.Name) > maxCronJobName {
					t.Errorf("CronJob name %s has %d characters, more than %d", drill.Name, len(drill.Name), maxCronJobName)
				}
				got.CronJobs = append(got.CronJobs, drill)
			}
		}
		// The cache holds StatefulSets trimmed: they must decide the same.
		trimmed := make([]appsv1.StatefulSet, len(c.StatefulSets))
		for i := range c.StatefulSets {
			out, _ := trimStatefulSet(c.StatefulSets[i].DeepCopy())
			trimmed[i] = *out.(*appsv1.StatefulSet)
		}
		if p2 := c.plan(trimmed); !reflect.DeepEqual(p2.backups, p.backups) || fmt.Sprint(p2.problems) != fmt.Sprint(p.problems) {
			t.Errorf("from trimmed StatefulSets planBackups says\n%+v, %v\nnot\n%+v, %v", p2.backups, p2.problems, p.backups, p.problems)
		}
		golden.Compare(t, golden.Path(file), got)
	})
}

func readNamespaceCase(t testing.TB, file string) namespaceCase {
	t.Helper()
	var c namespaceCase
	golden.ReadCase(t, file, &c)
	return c
}

// TestCronJobIsHardened checks what the restricted Pod Security Standard
// asks of every container, and explicit requests and limits, for each
// CronJob the fixtures make; the integration test has the API server admit
// one.
func TestCronJobIsHardened(t *testing.T) {
	for _, file := range []string{"v4-one-statefulset", "v5-one-statefulset", "official-5-cluster", "contrib-4-cluster"} {
		c := readNamespaceCase(t, "testdata/namespaces/"+file+".yaml")
		p := c.plan(c.StatefulSets)
		if len(p.backups) != 1 || len(p.problems) != 0 {
			t.Fatalf("%s: %d CronJobs, problems %v; want one CronJob", file, len(p.backups), p.problems)
		}
		for _, cj := range []*batchv1.CronJob{cronJob(p.backups[0]), drillCronJob(p.backups[0])} {
			checkHardened(t, file+" "+cj.Name, cj.Spec.JobTemplate.Spec.Template.Spec)
		}
	}
}

// checkHardened checks a CronJob's pod as TestCronJobIsHardened says: of
// our image's containers only those that write nothing but the scratch
// volume have a read-only root.
func checkHardened(t *testing.T, file string, pod corev1.PodSpec) {
	t.Helper()
	{
		if pod.SecurityContext == nil || !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.FSGroup != neo4j.UID {
			t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and fsGroup %d", file, pod.SecurityContext, neo4j.UID)
		}
		for _, ctr := range append(pod.InitContainers, pod.Containers...) {
			sc := ctr.SecurityContext
			if sc == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
				*sc.RunAsUser != neo4j.UID || sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("%s: container %s securityContext %+v is not hardened", file, ctr.Name, sc)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: container %s has no explicit requests and limits", file, ctr.Name)
			}
			ours := ctr.Name == UploadContainer || ctr.Name == PlanContainer || ctr.Name == DrillFetchContainer || ctr.Name == DrillContainer
			if readOnly := *sc.ReadOnlyRootFilesystem; readOnly != ours {
				t.Errorf("%s: container %s readOnlyRootFilesystem = %v", file, ctr.Name, readOnly)
			}
		}
	}
}

func TestInUseIDs(t *testing.T) {
	sts := func(meta, template string) appsv1.StatefulSet {
		var s appsv1.StatefulSet
		if meta != "" {
			s.Annotations = map[string]string{annotations.Restore: meta}
		}
		if template != "" {
			s.Spec.Template.Annotations = map[string]string{annotations.Restore: template}
		}
		return s
	}
	for _, tc := range []struct {
		name string
		sets []appsv1.StatefulSet
		want []string
	}{
		{"none", nil, []string{}},
		{"metadata and template, once", []appsv1.StatefulSet{sts("2021-11-11T10:00:00Z", "2021-11-11T10:00:00Z")}, []string{"2021-11-11T10:00:00Z"}},
		{"only on the template", []appsv1.StatefulSet{sts("", "2024-02-29T23:59:59Z")}, []string{"2024-02-29T23:59:59Z"}},
		{"sorted, across StatefulSets", []appsv1.StatefulSet{sts("2023-01-01T00:00:00Z", ""), sts("2021-11-11T10:00:00Z", "")}, []string{"2021-11-11T10:00:00Z", "2023-01-01T00:00:00Z"}},
		{"latest is no ID", []appsv1.StatefulSet{sts("latest", "latest")}, []string{}},
		{"a time with an offset is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00:00+01:00", "")}, []string{}},
		{"a time with fractions is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00:00.5Z", "")}, []string{}},
		{"a time without seconds is no ID", []appsv1.StatefulSet{sts("2021-11-11T10:00Z", "")}, []string{}},
		{"a legacy folder is no ID", []appsv1.StatefulSet{sts("11Nov2021-10:00:00", "")}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inUseIDs(tc.sets); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("inUseIDs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"--from=graph.ns.svc:6362": "--from=graph.ns.svc:6362",
		"--to-path=/backup/x":      "--to-path=/backup/x",
		"two words":                "'two words'",
		"it's":                     `'it'\''s'`,
		"$(reboot)":                "'$(reboot)'",
		"":                         "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestBackupScriptRunsEveryCall runs the init container's script in a real
// shell, with a neo4j-admin that fails some databases: every call runs, the
// exit file has a line per call, and the script exits 0; it fails only when
// a step of its own does.
func TestBackupScriptRunsEveryCall(t *testing.T) {
	bin := t.TempDir()
	// Exits 0 for neo4j, 1 for system, 3 for movies (4.x: backup good,
	// inconsistencies found), as neo4j-admin 4.x's --database says.
	stub := `#!/bin/sh
for a in "$@"; do
  case "$a" in
  --database=system) exit 1 ;;
  --database=movies) exit 3 ;;
  esac
done
exit 0
`
	if err := os.WriteFile(filepath.Join(bin, "neo4j-admin"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(scratch string, v neo4j.Version, databases ...string) error {
		script := strings.ReplaceAll(backupScript(v, []string{"graph.ns.svc:6362"}, databases, "512m"), scratchPath, scratch)
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}

	scratch := t.TempDir()
	if err := run(scratch, neo4j.Version{Major: 4, Minor: 4}, "neo4j", "system", "movies"); err != nil {
		t.Fatalf("the script failed though only neo4j-admin did: %v", err)
	}
	exits, err := os.ReadFile(filepath.Join(scratch, "neo4j-admin.exit"))
	if err != nil || string(exits) != "0 neo4j\n1 system\n3 movies\n" {
		t.Errorf("neo4j-admin.exit = %q (%v), want a line per call: 0 neo4j, 1 system, 3 movies", exits, err)
	}
	started, err := os.ReadFile(filepath.Join(scratch, "started-at"))
	if _, perr := storage.ParseID(strings.TrimSpace(string(started))); err != nil || perr != nil {
		t.Errorf("started-at = %q (%v), want a backup ID", started, err)
	}
	if info, err := os.Stat(filepath.Join(scratch, "databases")); err != nil || !info.IsDir() {
		t.Errorf("the backup folder was not made: %v", err)
	}

	// 5.16+: one call for all databases, one line.
	scratch = t.TempDir()
	if err := run(scratch, neo4j.Version{Major: 5, Minor: 26}, "neo4j", "system"); err != nil {
		t.Fatal(err)
	}
	if exits, _ := os.ReadFile(filepath.Join(scratch, "neo4j-admin.exit")); string(exits) != "0 neo4j,system\n" {
		t.Errorf("neo4j-admin.exit = %q, want one line 0 neo4j,system", exits)
	}

	// Its own steps failing: the scratch "volume" is a file.
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(file, neo4j.Version{Major: 5, Minor: 26}, "neo4j"); err == nil {
		t.Error("the script exited 0 though it could not write the start time")
	}
}

// TestBackupScriptChains runs a 5.x script in a real shell as the plan
// says: a differential backup when backup-plan planned one, and when a
// differential call fails, no half chain: the folder (the parent's
// artifacts, whatever the call wrote) is wiped, the plan rewritten as a
// full backup saying why, the exit codes are those of the full calls; and
// --inspect-path's output and exit code land in their files.
func TestBackupScriptChains(t *testing.T) {
	bin := t.TempDir()
	// Writes an artifact per database named after the type, fails --type=DIFF
	// when FAIL_DIFF is set, prints a table for --inspect-path.
	stub := `#!/bin/sh
echo "$*" >> "$CALLS"
to= type= dbs=
for a in "$@"; do
  case "$a" in
  --inspect-path=*) echo "| FILE | DATABASE |"; ls "${a#--inspect-path=}"; exit 0 ;;
  --to-path=*) to="${a#--to-path=}" ;;
  --type=*) type="${a#--type=}" ;;
  --*) ;;
  backup|database) ;;
  *) dbs="$dbs $a" ;;
  esac
done
for db in $dbs; do echo "$type" > "$to/$db-$type.backup"; done
[ "$type" = DIFF ] && [ -n "$FAIL_DIFF" ] && exit 1
exit 0
`
	if err := os.WriteFile(filepath.Join(bin, "neo4j-admin"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(v neo4j.Version, plan string, failDiff bool) (scratch, calls string) {
		t.Helper()
		scratch = t.TempDir()
		calls = filepath.Join(t.TempDir(), "calls")
		testfiles.WriteAll(t, scratch, map[string]string{"plan": plan, "databases/neo4j-parent.backup": "parent", "databases/system-parent.backup": "parent"})
		script := strings.ReplaceAll(backupScript(v, []string{"graph.ns.svc:6362"}, []string{"neo4j", "system"}, "512m"), scratchPath, scratch)
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "CALLS="+calls)
		if failDiff {
			cmd.Env = append(cmd.Env, "FAIL_DIFF=1")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the script failed: %v: %s", err, out)
		}
		return scratch, calls
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	folder := func(scratch string) string {
		entries, _ := os.ReadDir(filepath.Join(scratch, "databases"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	const diffPlan = `{"type":"differential","parent":"2021-11-11T10:00:00Z","fetched":["neo4j-parent.backup","system-parent.backup"]}`

	for _, v := range []neo4j.Version{{Major: 5, Minor: 15}, {Major: 2025, Minor: 6}} {
		// Differential as planned: the parent's artifacts stay for upload to
		// leave out, the plan is as it was.
		scratch, calls := run(v, diffPlan+"\n", false)
		if got := folder(scratch); got != "neo4j-DIFF.backup neo4j-parent.backup system-DIFF.backup system-parent.backup" {
			t.Errorf("%s differential: the folder holds %s; want the parent's and the differential artifacts", v, got)
		}
		if strings.Contains(read(calls), "--type=FULL") || !strings.Contains(read(calls), "--type=DIFF") {
			t.Errorf("%s differential: neo4j-admin was called\n%s\nwant --type=DIFF only", v, read(calls))
		}
		if got := read(filepath.Join(scratch, "plan")); got != diffPlan+"\n" {
			t.Errorf("%s differential: the plan became %q", v, got)
		}
		if got := read(filepath.Join(scratch, "inspect.exit")); got != "0\n" || !strings.Contains(read(filepath.Join(scratch, "inspect")), "neo4j-DIFF.backup") {
			t.Errorf("%s: inspect %q exit %q; want the listing of the folder and 0", v, read(filepath.Join(scratch, "inspect")), got)
		}

		// The differential call fails: a full backup, nothing of the chain.
		scratch, calls = run(v, diffPlan+"\n", true)
		if got := folder(scratch); got != "neo4j-FULL.backup system-FULL.backup" {
			t.Errorf("%s failed differential: the folder holds %s; want only the full artifacts", v, got)
		}
		exits := read(filepath.Join(scratch, "neo4j-admin.exit"))
		if strings.Contains(exits, "1 ") || !strings.Contains(exits, "0 ") {
			t.Errorf("%s failed differential: neo4j-admin.exit = %q; want only the full calls' codes", v, exits)
		}
		var plan struct {
			Type, Reason string
			Problem      bool
		}
		if err := json.Unmarshal([]byte(read(filepath.Join(scratch, "plan"))), &plan); err != nil || plan.Type != "full" || !plan.Problem ||
			plan.Reason != "the differential backup failed (neo4j-admin exited 1), so the parent's artifacts were removed and a full backup taken" {
			t.Errorf("%s failed differential: plan %q (%v); want a full one saying why", v, read(filepath.Join(scratch, "plan")), err)
		}

		// A full backup planned.
		scratch, calls = run(v, `{"type":"full","reason":"there is no complete backup to build on"}`+"\n", false)
		if strings.Contains(read(calls), "--type=DIFF") || !strings.Contains(folder(scratch), "neo4j-FULL.backup") {
			t.Errorf("%s full: neo4j-admin was called\n%s\nwant --type=FULL only", v, read(calls))
		}
	}
}

func TestCronJobName(t *testing.T) {
	long := strings.Repeat("a", maxDeploymentInName)
	for _, tt := range []struct{ deployment, want string }{
		{"graph", "neo4j-backup-graph"},
		{"my-cluster", "neo4j-backup-my-cluster"},
		{long, "neo4j-backup-" + long},
		// One character more, capitals, dots: cut down, with a hash.
		{long + "a", "neo4j-backup-" + strings.Repeat("a", maxDeploymentInName-9) + "-"},
		{"Graph", "neo4j-backup-graph-"},
		{"graph.prod", "neo4j-backup-graph-prod-"},
		{"___", "neo4j-backup-"},
	} {
		got := cronJobName(tt.deployment)
		if len(got) > maxCronJobName || !strings.HasPrefix(got, tt.want) || (got != tt.want && len(got) != len(tt.want)+8) {
			t.Errorf("cronJobName(%q) = %q, want %q (+ 8 hex digits when cut)", tt.deployment, got, tt.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("cronJobName(%q) = %q is not a DNS label: %v", tt.deployment, got, errs)
		}
	}
	if cronJobName("Graph") == cronJobName("graph") || cronJobName("graph.prod") == cronJobName("graph_prod") {
		t.Error("deployments whose names differ share a CronJob")
	}
}

// TestDescribeSaysTheSource checks the line of the CronJob's Events: which
// servers it backs up from, and on 4.x which one member.
func TestDescribeSaysTheSource(t *testing.T) {
	describeCase := func(file string, keep func(appsv1.StatefulSet) bool) string {
		c := readNamespaceCase(t, "testdata/namespaces/"+file+".yaml")
		var sets []appsv1.StatefulSet
		for _, sts := range c.StatefulSets {
			if keep == nil || keep(sts) {
				sets = append(sets, sts)
			}
		}
		p := c.plan(sets)
		if len(p.backups) != 1 {
			t.Fatalf("%s: %d CronJobs (problems %v), want 1", file, len(p.backups), p.problems)
		}
		return describe(p.backups[0])
	}
	for _, tt := range []struct{ name, got, want string }{
		{"official 5.x cluster", describeCase("official-5-cluster", nil),
			"backs up Neo4j deployment my-cluster (StatefulSets server-1, server-2, server-3; Neo4j 5.26.0, databases neo4j,system) from servers server-1-admin.graph.svc.cluster.local:6362, server-2-admin.graph.svc.cluster.local:6362, server-3-admin.graph.svc.cluster.local:6362 on \"0 3 * * *\" UTC to s3://neo4j-backups/prod/graph/my-cluster"},
		{"official 4.4 cluster", describeCase("official-4-cluster", nil),
			"backs up Neo4j deployment my-cluster (StatefulSets analytics, core-1, core-2, core-3; Neo4j 4.4.31, databases neo4j,system) from core core-1 (core-1-admin.graph.svc.cluster.local:6362) on"},
		{"neo4j-contrib cluster", describeCase("contrib-4-cluster", nil),
			"from core my-neo4j-neo4j-core (my-neo4j-neo4j.graph.svc:6362) on"},
		{"neo4j-contrib read replicas only", describeCase("contrib-4-cluster", func(sts appsv1.StatefulSet) bool { return sts.Name == "my-neo4j-neo4j-replica" }),
			"from read replica my-neo4j-neo4j-replica (my-neo4j-neo4j-replica.graph.svc:6362), as the deployment has no core on"},
		{"4.x standalone", describeCase("v4-one-statefulset", nil), "from standalone neo4j (neo4j.legacy.svc:6362) on"},
		{"from", describeCase("from-other-shape", nil), "from neo4j-backup.io/from my-neo4j-admin.chart.svc:6362 on"},
		{"Neo4j elsewhere", describeCase("from-elsewhere", nil), "backs up Neo4j deployment graph (Neo4j outside the namespace; Neo4j 5.26.0"},
		{"chains", describeCase("full-every-5-15", nil), "to s3://neo4j-backups/prod/chains/graph; a full backup at least every 12h, differential ones between"},
		{"chains by default", describeCase("full-every-calendar", nil), "; a full backup at least every 1d, differential ones between"},
		{"4.x ignores full-every", describeCase("full-every-4", nil), "; full backups only, as Neo4j 4.x takes no differential ones"},
	} {
		if !strings.Contains(tt.got, tt.want) {
			t.Errorf("%s: the Event says\n%s\nwant it to say\n%s", tt.name, tt.got, tt.want)
		}
	}
}
