package e2e

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestLegacyBackupThroughTheWebhook restores a folder the seed's 2021
// CronJob wrote (`neo4j-admin backup --backup-dir /tmp` per database, then
// `s3cmd put /tmp s3://…/<date>/ --recursive`, which keeps the folder's
// name: <date>/tmp/<database>/…, beside whatever else was in /tmp) into a
// 4.4 StatefulSet annotated with its exact name. The databases in tmp/ are
// restored, nothing named tmp is, and the fetch says the backup is
// unverified. A legacy folder without a database stops the pod in its fetch
// container and leaves the data as it was.
func TestLegacyBackupThroughTheWebhook(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "legacy-restore", nil)
	const image, version = "neo4j:4.4.40-enterprise", "4.4.40"
	location := "neo4j/" + w.ns + "/graph"
	w.setLive("legacy", "neo4j", "system")
	junk := map[string]string{"tmp/hsperfdata_neo4j/4242": "jvm perf data", "tmp/backup-2021-11-11.log": "backup done"}
	w.putLegacy(location+"/11Nov2021-10:00:00", version, []string{"neo4j", "system"}, junk)
	w.putLegacy(location+"/12Nov2021-10:00:00", version, nil, junk)
	data := t.TempDir()
	w.runner.Claims["data-graph-0"] = data
	w.createStatefulSet(image, nil)

	pod := w.restore("11Nov2021-10:00:00")
	w.runPod(pod, true, "")
	calls := w.adminCalls()
	// Wherever the stage folder is, the restore is from the backup's tmp/.
	for _, db := range []string{"system", "neo4j"} {
		want := "/11Nov2021-10:00:00/tmp/" + db + " --database=" + db + " --force"
		if !slices.ContainsFunc(calls, func(c string) bool {
			return strings.HasPrefix(c, "neo4j-admin restore --from=/") && strings.HasSuffix(c, want)
		}) {
			t.Errorf("neo4j-admin was called\n%s\nwant a call neo4j-admin restore --from=<stage>%s", strings.Join(calls, "\n"), want)
		}
	}
	if slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "--database=tmp") }) {
		t.Errorf("neo4j-admin was asked to restore a database tmp:\n%s", strings.Join(calls, "\n"))
	}
	entries, err := os.ReadDir(filepath.Join(data, "databases"))
	var restored []string
	for _, e := range entries {
		restored = append(restored, e.Name())
	}
	if err != nil || !slices.Equal(restored, []string{"neo4j", "system"}) {
		t.Errorf("the data volume's databases are %v (%v); want neo4j and system, nothing named tmp", restored, err)
	}
	wantStore(t, data, "legacy neo4j")
	if b, err := os.ReadFile(filepath.Join(data, "databases", "system", "neostore")); err != nil || string(b) != "legacy system" {
		t.Errorf("database system holds %q (%v); want %q", b, err, "legacy system")
	}
	marker, err := os.ReadFile(filepath.Join(data, ".neo4j-backup", "restored"))
	if err != nil || !strings.Contains(string(marker), `"backupId": "11Nov2021-10:00:00"`) {
		t.Errorf("marker after the restore: %s, %v", marker, err)
	}
	fetchLog := containerLog(w.podLog.String(), pod.Name, "neo4j-backup-fetch")
	if !strings.Contains(fetchLog, "11Nov2021-10:00:00 is a legacy backup without a manifest; its files were fetched unverified (databases neo4j, system, in tmp/)") ||
		strings.Contains(fetchLog, " verified") {
		t.Errorf("the fetch container said\n%s\nwant it to say the legacy backup of neo4j and system was fetched unverified, never verified", fetchLog)
	}

	// Junk only: refused in the fetch container with one line naming what
	// it found; the restore container does not run and the data stays.
	pod = w.restore("12Nov2021-10:00:00")
	w.runPod(pod, true, "legacy backup 12Nov2021-10:00:00 cannot be restored: it holds only tmp/backup-2021-11-11.log, tmp/hsperfdata_neo4j/, no Neo4j database")
	wantStore(t, data, "legacy neo4j")
	if calls := w.adminCalls(); len(calls) > 0 {
		t.Errorf("neo4j-admin ran although the fetch was refused:\n%s", strings.Join(calls, "\n"))
	}
}

// putLegacy writes a legacy folder at key prefix folder as the old CronJob
// did: the stand-in's `neo4j-admin backup --backup-dir /tmp` of each
// database from the live server, put object by object under folder/tmp/ as
// `s3cmd put --recursive` does, and the junk (path in the folder → content)
// beside it.
func (w *world) putLegacy(folder, version string, databases []string, junk map[string]string) {
	w.t.Helper()
	dir := w.t.TempDir()
	for _, db := range databases {
		cmd := execStandin(w.t, version, w.live, "backup", "--from=graph-0.graph:6362", "--backup-dir="+dir, "--database="+db)
		if out, err := cmd.CombinedOutput(); err != nil {
			w.t.Fatalf("stand-in backup of %s: %v: %s", db, err, out)
		}
	}
	objects := map[string]string{}
	for p, content := range junk {
		objects[p] = content
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		objects["tmp/"+filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	for p, content := range objects {
		_, err := w.s3.Client().PutObject(context.Background(), w.s3.Bucket, folder+"/"+p, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

// containerLog is what container of pod printed, from the pod runner's log
// of every container run ("--- <pod>/<container>: <command>" before each).
func containerLog(log, pod, container string) string {
	var out strings.Builder
	in := false
	for _, line := range strings.SplitAfter(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "--- "); ok {
			in = strings.HasPrefix(rest, pod+"/"+container+": ")
			continue
		}
		if in {
			out.WriteString(line)
		}
	}
	return out.String()
}
