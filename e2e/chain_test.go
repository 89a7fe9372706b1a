package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// TestScheduledBackupChain backs up a 5.x server on a schedule of every
// minute with neo4j-backup.io/full-every=1h, committing transactions to the
// live server between runs: the first run's backup-plan finds nothing to
// build on and the run takes a full backup, the next two fetch their
// parent's artifacts into the fresh scratch volume and take differential
// ones. S3 then holds one full and two differential backups whose
// manifests say their type, their parent, and artifacts whose transaction
// ranges follow one another, each holding only its own artifacts. A
// restore of a time between the two differential backups then makes the
// store exactly the live one as of that time.
func TestScheduledBackupChain(t *testing.T) {
	t.Parallel()
	const image = "neo4j:5.26.0-enterprise"
	w := newWorld(t, "backup-chain", map[string]string{"neo4j-backup.io/schedule": "* * * * *", "neo4j-backup.io/full-every": "1h"})
	w.runner.ReportStatus = true // the Job completes, so the next run is not held back by concurrencyPolicy Forbid
	w.setLive("live", "neo4j", "system")
	tx := map[string]int{}
	live := map[string][]string{}
	commitAt := func(db string, when time.Time) {
		f, err := os.OpenFile(filepath.Join(w.live, db, "transactions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tx[db]++
		line := fmt.Sprintf("%d %s CREATE (:Run {tx: %d})", tx[db], when.UTC().Format(time.RFC3339Nano), tx[db])
		fmt.Fprintln(f, line)
		live[db] = append(live[db], line)
	}
	commitLive := func(db string, n int) {
		for range n {
			commitAt(db, time.Now())
		}
	}
	// After run 2: one transaction before the next whole second, the point
	// restored below (neo4j-admin takes it to the second), and one just
	// after it, each in both databases' logs as it happens. Run 3 starts at
	// the next minute, after both.
	var point time.Time
	asOfPoint := map[string][]string{}
	commitAroundPoint := func() {
		now := time.Now().UTC()
		point = now.Truncate(time.Second).Add(time.Second)
		commitAt("neo4j", now)
		asOfPoint["neo4j"], asOfPoint["system"] = slices.Clone(live["neo4j"]), slices.Clone(live["system"])
		commitAt("neo4j", point.Add(100*time.Millisecond))
		commitAt("system", point.Add(200*time.Millisecond))
	}
	commitLive("neo4j", 3)
	commitLive("system", 1)
	w.createStatefulSet(image, nil)

	seen := map[string]bool{}
	var outcomes []chainOutcome
	for run := 1; run <= 3; run++ {
		pod := w.waitNextBackupPod(seen)
		results, err := w.runner.Run(context.Background(), pod.ObjectMeta, &pod.Spec, false)
		if err != nil {
			t.Fatalf("run %d: running the backup pod: %v", run, err)
		}
		if names := resultNames(results); names != "backup-plan,neo4j-admin-backup,upload" {
			t.Fatalf("run %d ran %s, want backup-plan, neo4j-admin-backup, then upload", run, names)
		}
		for _, r := range results {
			if r.ExitCode != 0 {
				t.Fatalf("run %d: container %s exited %d: %s", run, r.Name, r.ExitCode, r.Message)
			}
		}
		var o chainOutcome
		if err := json.Unmarshal([]byte(results[2].Message), &o); err != nil {
			t.Fatalf("run %d: upload's termination message %q: %v", run, results[2].Message, err)
		}
		outcomes = append(outcomes, o)
		// The next run's transactions: system gets none in run 2, so its
		// differential artifact there is empty and run 3 builds on the
		// full one.
		if run == 2 {
			commitAroundPoint()
		} else {
			commitLive("neo4j", 2)
		}
	}
	for i, want := range []string{"full", "differential", "differential"} {
		if outcomes[i].Type != want || len(outcomes[i].Warnings) != 0 {
			t.Errorf("run %d's outcome %+v; want a %s backup without warnings", i+1, outcomes[i], want)
		}
	}
	if calls := strings.Join(w.adminCalls(), "\n"); strings.Count(calls, "--type=FULL") != 1 || strings.Count(calls, "--type=DIFF") != 2 || strings.Count(calls, "--inspect-path=") != 3 {
		t.Errorf("neo4j-admin was called\n%s\nwant one --type=FULL, then two --type=DIFF, each run inspecting its folder", calls)
	}

	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/graph"
	backups, err := chainStore(t, w, location).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range backups {
		got = append(got, b.ID)
	}
	if want := []string{outcomes[0].BackupID, outcomes[1].BackupID, outcomes[2].BackupID}; !slices.Equal(got, want) {
		t.Fatalf("the store holds backups %v; want the three runs' %v", got, want)
	}
	// Per database, each artifact's transactions: a differential one starts
	// right after the chain's highest so far (an empty one, 0-0, holds none).
	want := []string{
		"full  neo4j 1-3 full, system 1-1 full",
		"differential " + backups[0].ID + " neo4j 4-5, system 0-0",
		"differential " + backups[1].ID + " neo4j 6-7, system 2-2",
	}
	highest := map[string]int64{}
	for i, b := range backups {
		m := b.Manifest
		if m == nil || b.Status != storage.Complete {
			t.Fatalf("backup %s is %s without a manifest", b.ID, b.Status)
		}
		var arts []string
		for _, a := range m.Artifacts {
			s := fmt.Sprintf("%s %d-%d", a.Database, a.LowestTx, a.HighestTx)
			if a.Full {
				s += " full"
			}
			arts = append(arts, s)
			if a.HighestTx > 0 {
				if a.LowestTx != highest[a.Database]+1 {
					t.Errorf("backup %s: artifact %s of %s starts at transaction %d, the chain ended at %d", b.ID, a.Path, a.Database, a.LowestTx, highest[a.Database])
				}
				highest[a.Database] = a.HighestTx
			}
		}
		if line := fmt.Sprintf("%s %s %s", m.Type, m.Parent, strings.Join(arts, ", ")); line != want[i] {
			t.Errorf("backup %d (%s):\n got %s\nwant %s", i+1, b.ID, line, want[i])
		}
		var files []string
		for _, f := range m.Files {
			files = append(files, f.Path)
		}
		if len(files) != 2 || !strings.HasPrefix(files[0], "neo4j-") || !strings.HasPrefix(files[1], "system-") {
			t.Errorf("backup %s holds %v; want its own two artifacts, not its parent's", b.ID, files)
		}
	}
	if c, err := storage.Chain(backups, backups[2]); err != nil || len(c) != 3 {
		t.Errorf("the chain of the last backup is %d backups (%v); want all three", len(c), err)
	}

	// The restore of a time between the two differential backups: the
	// chain up to the second, stopped at the time; the store is the live
	// one as of then, not one transaction more.
	data := t.TempDir()
	w.runner.Claims["data-graph-0"] = data
	w.runPod(w.restore(point.Format(time.RFC3339)), true, "")
	until := "--restore-until=" + point.Format("2006-01-02 15:04:05")
	if calls := w.adminCalls(); !matchesAny(calls, "neo4j-admin database restore --from-path=/neo4j-backup/stage/"+backups[2].ID+"/neo4j-* "+until+" *neo4j") {
		t.Errorf("neo4j-admin was called\n%s\nwant a restore of neo4j from the last backup's artifact with %s", strings.Join(calls, "\n"), until)
	}
	for _, db := range []string{"neo4j", "system"} {
		b, err := os.ReadFile(filepath.Join(data, "databases", db, "transactions.log"))
		got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if err != nil || !slices.Equal(got, asOfPoint[db]) {
			t.Errorf("restored %s as of %s: %v\n%s\nwant the live log as of then:\n%s", db, point.Format(time.RFC3339), err, strings.Join(got, "\n"), strings.Join(asOfPoint[db], "\n"))
		}
	}
}

// chainOutcome is what the upload container's termination message says.
type chainOutcome struct {
	BackupID string   `json:"backupId"`
	Type     string   `json:"type"`
	Warnings []string `json:"warnings"`
}

// waitNextBackupPod waits for a Job of the backup CronJob that is not in
// seen (the cronjob controller starts one a minute once the one before has
// finished), marks it seen and returns its pod.
func (w *world) waitNextBackupPod(seen map[string]bool) *corev1.Pod {
	w.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 150*time.Second, true, func(ctx context.Context) (bool, error) {
		jobs, err := w.kube.BatchV1().Jobs(w.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, job := range jobs.Items {
			if seen[job.Name] {
				continue
			}
			pods, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job.Name})
			if err != nil || len(pods.Items) == 0 {
				return false, nil
			}
			seen[job.Name], pod = true, &pods.Items[0]
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		events, _ := w.kube.CoreV1().Events("").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + w.ns})
		w.t.Fatalf("no new backup Job with a pod within 150 s (seen %v); namespace events: %v", seen, eventMessages(events))
	}
	return pod
}

// chainStore opens location with the test server's credentials, to read
// the manifests.
func chainStore(t *testing.T, w *world, location string) *storage.Store {
	t.Helper()
	loc, err := storage.ParseLocation(location)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(loc, storage.Config{Endpoint: w.s3.Endpoint, Region: s3test.Region,
		Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return store
}
