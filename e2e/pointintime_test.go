package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// TestRestoreToAPointInAChain restores a 5.x StatefulSet to a time between
// two differential backups (README "Restore a StatefulSet"): a chain of a
// full backup and two differential ones is taken with the stand-in while
// its live transaction log grows, and uploaded as the backup CronJob does;
// the restore annotation names a time inside the chain, the webhook injects
// the pod, the pod runner runs its init containers, and the restored
// transaction log must be the live one as of that time: every transaction
// committed before it, and not one more. latest then restores the whole
// chain, and a time before the chain is refused naming the oldest backup.
func TestRestoreToAPointInAChain(t *testing.T) {
	t.Parallel()
	const version, image = "5.26.0", "neo4j:5.26.0-enterprise"
	w := newWorld(t, "point-in-time", nil)
	location := "s3://" + w.s3.Bucket + "/neo4j/" + w.ns + "/graph"
	store := w.store(location)

	// Commit times, backup IDs and the times the stand-in takes its
	// artifacts an hour back, as a day of backups would have them.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	for _, db := range []string{"neo4j", "system"} {
		testfiles.Write(t, filepath.Join(w.live, db, "neostore"), "store of "+db)
	}
	var live []string
	commit := func(times ...time.Time) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(w.live, "neo4j", "transactions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, c := range times {
			line := fmt.Sprintf("%d %s CREATE (:Order {n: %d})", len(live)+1, c.Format(time.RFC3339Nano), len(live)+1)
			if _, err := f.WriteString(line + "\n"); err != nil {
				t.Fatal(err)
			}
			live = append(live, line)
		}
	}
	// One folder across the runs, as neo4j-admin finds the parent of a
	// differential backup in --to-path; each upload leaves out what is in
	// S3 already.
	dir := t.TempDir()
	var uploaded []string
	backup := func(id time.Time, typ, parent string) string {
		t.Helper()
		// neo4j-admin takes its artifacts a second after the backup starts.
		cmd := execStandin(t, version, w.live, "database", "backup", "--from=graph-0.graph:6362", "--to-path="+dir, "--type="+typ, "neo4j", "system")
		cmd.Env = append(cmd.Env, "NEO4J_STANDIN_NOW="+id.Add(time.Second).Format(time.RFC3339))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("stand-in backup --type=%s: %v: %s", typ, err, out)
		}
		opts := storage.UploadOptions{ID: storage.NewID(id), Databases: []string{"neo4j", "system"}, Neo4jVersion: version, Exclude: uploaded}
		if typ == "DIFF" {
			opts.Type, opts.Parent = storage.TypeDifferential, parent
		} else {
			opts.Type = storage.TypeFull
		}
		names, _ := filepath.Glob(filepath.Join(dir, "*.backup"))
		for _, name := range names {
			if base := filepath.Base(name); !slices.Contains(uploaded, base) {
				opts.Artifacts = append(opts.Artifacts, inspectArtifact(t, version, w.live, name))
				uploaded = append(uploaded, base)
			}
		}
		if len(opts.Artifacts) != 2 {
			t.Fatalf("backup %s wrote artifacts %+v; want one of neo4j and one of system", opts.ID, opts.Artifacts)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := store.Upload(ctx, dir, opts); err != nil {
			t.Fatalf("upload of backup %s: %v", opts.ID, err)
		}
		return opts.ID
	}
	commit(at(0), at(time.Second), at(2*time.Second))
	full := backup(at(5*time.Second), "FULL", "")
	commit(at(10*time.Second), at(11*time.Second), at(12*time.Second))
	diff1 := backup(at(15*time.Second), "DIFF", full)
	// The point restored is 25s: 24.9s is before it, 25.5s in its second
	// but after it, 27s well after.
	commit(at(20*time.Second), at(24900*time.Millisecond), at(25500*time.Millisecond), at(27*time.Second))
	diff2 := backup(at(30*time.Second), "DIFF", diff1)
	point := at(25 * time.Second)
	asOfPoint := live[:8]

	// list shows the chain and the restore window.
	out, err := w.neo4jBackup("list", "--from", location)
	if err != nil || !strings.Contains(out, "restore window: "+full+" to "+diff2) || !strings.Contains(out, "differential  "+diff1) {
		t.Errorf("list: %v\n%s\nwant the differential backups with their parents and the window %s to %s", err, out, full, diff2)
	}
	out, err = w.neo4jBackup("list", "--from", location, "-o", "json")
	var listed []struct {
		ID     string   `json:"id"`
		Type   string   `json:"type"`
		Parent string   `json:"parent"`
		Chain  []string `json:"chain"`
	}
	if err == nil {
		err = json.Unmarshal([]byte(out), &listed)
	}
	if err != nil || len(listed) != 3 || listed[2].Type != storage.TypeDifferential || listed[2].Parent != diff1 || !slices.Equal(listed[2].Chain, []string{full, diff1, diff2}) {
		t.Errorf("list -o json: %v\n%s\nwant %s to be differential on %s with the chain %s, %s, %s", err, out, diff2, diff1, full, diff1, diff2)
	}

	data := t.TempDir()
	w.runner.Claims["data-graph-0"] = data
	w.createStatefulSet(image, nil)
	restored := func() []string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(data, "databases", "neo4j", "transactions.log"))
		if err != nil {
			t.Fatalf("the restored store has no transaction log: %v", err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}

	// A time between the two differential backups: the chain up to the
	// second one, stopped at the time.
	request := point.Format(time.RFC3339)
	pod := w.restore(request)
	w.runPod(pod, true, "")
	calls := w.adminCalls()
	until := "--restore-until=" + point.Format("2006-01-02 15:04:05")
	for _, db := range []string{"system", "neo4j"} {
		want := "neo4j-admin database restore --from-path=/neo4j-backup/stage/" + diff2 + "/" + lastArtifact(uploaded, db) + " " + until + " --overwrite-destination=true " + db
		if !slices.Contains(calls, want) {
			t.Errorf("neo4j-admin was called\n%s\nwant\n%s", strings.Join(calls, "\n"), want)
		}
	}
	if got := restored(); !slices.Equal(got, asOfPoint) {
		t.Errorf("restored transactions.log for %s:\n%s\nwant the live one as of then:\n%s", request, strings.Join(got, "\n"), strings.Join(asOfPoint, "\n"))
	}
	var marker struct {
		Request      string    `json:"request"`
		BackupID     string    `json:"backupId"`
		Chain        []string  `json:"chain"`
		RestoreUntil time.Time `json:"restoreUntil"`
	}
	b, err := os.ReadFile(filepath.Join(data, ".neo4j-backup", "restored"))
	if err == nil {
		err = json.Unmarshal(b, &marker)
	}
	if err != nil || marker.Request != request || marker.BackupID != diff2 || !slices.Equal(marker.Chain, []string{full, diff1, diff2}) || !marker.RestoreUntil.Equal(point) {
		t.Errorf("marker %s (%v); want request %s, backup %s, chain %s %s %s, restore-until %s", b, err, request, diff2, full, diff1, diff2, request)
	}

	// latest: the whole chain, every transaction.
	pod = w.restore("latest")
	w.runPod(pod, true, "")
	if calls := w.adminCalls(); matchesAny(calls, "*--restore-until*") {
		t.Errorf("latest restored with --restore-until:\n%s", strings.Join(calls, "\n"))
	}
	if got := restored(); !slices.Equal(got, live) {
		t.Errorf("restored transactions.log for latest:\n%s\nwant the whole live one:\n%s", strings.Join(got, "\n"), strings.Join(live, "\n"))
	}

	// Before the chain: refused, naming the oldest restore point; the store
	// stays.
	pod = w.restore(at(-time.Minute).Format(time.RFC3339))
	w.runPod(pod, true, "the oldest complete backup is "+full)
	if got := restored(); !slices.Equal(got, live) {
		t.Errorf("a refused restore changed the store:\n%s", strings.Join(got, "\n"))
	}
}

// store opens location on the world's S3 server, as the upload container
// does.
func (w *world) store(location string) *storage.Store {
	w.t.Helper()
	loc, err := storage.ParseLocation(location)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := storage.Open(loc, storage.Config{
		Endpoint: w.s3.Endpoint, Region: s3test.Region,
		Credentials: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// inspectArtifact is what neo4j-admin database backup --inspect-path says
// of the artifact at path, as a manifest records it.
func inspectArtifact(t *testing.T, version, live, path string) storage.Artifact {
	t.Helper()
	out, err := execStandin(t, version, live, "database", "backup", "--inspect-path="+path).CombinedOutput()
	if err != nil {
		t.Fatalf("--inspect-path=%s: %v: %s", path, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("--inspect-path=%s printed\n%s\nwant a header and one row", path, out)
	}
	var cells []string
	for _, c := range strings.Split(strings.Trim(lines[1], "|"), "|") {
		cells = append(cells, strings.TrimSpace(c))
	}
	if len(cells) != 8 {
		t.Fatalf("--inspect-path=%s row %q; want FILE … HIGHEST TX", path, lines[1])
	}
	when, err1 := time.Parse("2006-01-02T15:04:05", cells[3])
	low, err2 := strconv.ParseInt(cells[6], 10, 64)
	high, err3 := strconv.ParseInt(cells[7], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("--inspect-path=%s row %q: %v %v %v", path, lines[1], err1, err2, err3)
	}
	return storage.Artifact{Database: cells[1], Path: filepath.Base(path), Full: cells[4] == "true", LowestTx: low, HighestTx: high, Time: when.UTC()}
}

// lastArtifact is the newest of the artifact names of db: names end in
// the time they were taken.
func lastArtifact(names []string, db string) string {
	var of []string
	for _, n := range names {
		if strings.HasPrefix(n, db+"-") {
			of = append(of, n)
		}
	}
	slices.Sort(of)
	return of[len(of)-1]
}
