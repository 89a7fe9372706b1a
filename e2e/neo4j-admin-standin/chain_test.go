package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
)

// base is when the tests' live databases commit their first transaction.
var base = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// commit appends transactions to the live database db's log, committed
// at the times given, as a test commits them (txlog.go's format).
func commit(t *testing.T, live, db string, at ...time.Time) {
	t.Helper()
	p := filepath.Join(live, db, txLog)
	txs, err := liveLog(filepath.Join(live, db))
	if err != nil {
		t.Fatal(err)
	}
	_, highest := txRange(txs)
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i, when := range at {
		id := highest + int64(i) + 1
		fmt.Fprintf(f, "%d %s CREATE (:Tx {id: %d})\n", id, when.UTC().Format(time.RFC3339Nano), id)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// liveAsOf is the live log of db holding its first n transactions.
func liveAsOf(t *testing.T, live, db string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(live, db, txLog))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if n > len(lines) {
		t.Fatalf("the live log of %s holds fewer than %d transactions", db, n)
	}
	return strings.Join(lines[:n], "")
}

// seconds is base and the seconds after it given.
func seconds(s ...float64) []time.Time {
	var at []time.Time
	for _, x := range s {
		at = append(at, base.Add(time.Duration(x*float64(time.Second))))
	}
	return at
}

// chained is a folder E holding a chain of neo4j: a full backup of
// transactions 1-3 (committed at base+0s…2s), a differential one of 4-5
// (3s, 4.5s), a differential one of 6-8 (5s, 6s, 7s) and an empty
// differential one, oldest first.
func chained(t *testing.T, version string) (place, []artifact) {
	t.Helper()
	p := newPlace(t, version)
	commit(t, p.live, "neo4j", seconds(0, 1, 2)...)
	for _, step := range []struct {
		line string
		at   []time.Time
	}{
		{"database backup --to-path={E} --type=FULL neo4j", seconds(3, 4.5)},
		{"database backup --to-path={E} --type=DIFF neo4j", seconds(5, 6, 7)},
		{"database backup --to-path={E} neo4j", nil}, // AUTO: a parent is there
		{"database backup --to-path={E} --type=DIFF neo4j", nil},
	} {
		if code, err := p.run(t, step.line); code != 0 {
			t.Fatalf("%s: exit %d (%v)", step.line, code, err)
		}
		commit(t, p.live, "neo4j", step.at...)
	}
	found, err := artifactsIn(p.empty)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(found)
	return p, found
}

// A full backup holds the whole log, a differential one what came after
// its parent, an empty one nothing; all of one database ID.
func TestBackupChain(t *testing.T) {
	for _, version := range []string{"5.26.0", "2025.06.0"} {
		t.Run(version, func(t *testing.T) {
			_, found := chained(t, version)
			type want struct {
				full            bool
				lowest, highest int64
			}
			var got []want
			for _, a := range found {
				got = append(got, want{!a.Differential, a.LowestTx, a.HighestTx})
				if a.DatabaseID == "" || a.DatabaseID != found[0].DatabaseID {
					t.Errorf("%s: database ID %q; want %q, the live database's, on every artifact", a.path, a.DatabaseID, found[0].DatabaseID)
				}
				if !a.Compressed {
					t.Errorf("%s: not compressed; --compress defaults to true", a.path)
				}
			}
			if w := []want{{true, 1, 3}, {false, 4, 5}, {false, 6, 8}, {false, 0, 0}}; !slices.Equal(got, w) {
				t.Errorf("artifacts (full, lowest, highest) %v; want %v", got, w)
			}
			for i := 1; i < len(found); i++ {
				if !found[i].Time.After(found[i-1].Time) || filepath.Base(found[i].path) == filepath.Base(found[i-1].path) {
					t.Errorf("%s is not dated after %s", found[i].path, found[i-1].path)
				}
			}
			if n := len(found); n == 4 && found[3].After != 8 {
				t.Errorf("the empty differential backup continues after %d; want 8", found[3].After)
			}
		})
	}
}

func TestBackupType(t *testing.T) {
	t.Run("DIFF without a parent refused", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		commit(t, p.live, "neo4j", seconds(0)...)
		code, err := p.run(t, "database backup --to-path={E} --type=DIFF neo4j system")
		if code != 1 || !strings.Contains(err.Error(), "backup failed for neo4j, system") {
			t.Errorf("exit %d (%v); want 1, backup failed for neo4j, system", code, err)
		}
		wantFiles(t, p.empty)
	})
	t.Run("AUTO without a parent: full", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		commit(t, p.live, "neo4j", seconds(0, 1)...)
		if code, err := p.run(t, "database backup --to-path={E} --type=AUTO --compress=false neo4j"); code != 0 {
			t.Fatalf("exit %d (%v)", code, err)
		}
		found, _ := artifactsIn(p.empty)
		if len(found) != 1 || found[0].Differential || found[0].LowestTx != 1 || found[0].HighestTx != 2 || found[0].Compressed {
			t.Errorf("artifacts %+v; want one full, uncompressed, of transactions 1-2", found)
		}
	})
	t.Run("FULL after a chain", func(t *testing.T) {
		p, _ := chained(t, "5.26.0")
		if code, err := p.run(t, "database backup --to-path={E} --type=FULL neo4j"); code != 0 {
			t.Fatalf("exit %d (%v)", code, err)
		}
		found, _ := artifactsIn(p.empty)
		if a := found[0]; a.Differential || a.LowestTx != 1 || a.HighestTx != 8 {
			t.Errorf("newest %+v; want a full backup of 1-8", a)
		}
	})
	t.Run("a parent of another database ID: AUTO full, DIFF refused", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		// D holds artifacts of neo4j taken from another store (D/neo4j) and
		// of the live one; the newest, from the live store, is a parent.
		// Moved to E alone, the other store's is none.
		if err := os.Rename(filepath.Join(p.dir, "neo4j-2025-01-30T10-00-00.backup"), filepath.Join(p.empty, "neo4j-2025-01-30T10-00-00.backup")); err != nil {
			t.Fatal(err)
		}
		if code, err := p.run(t, "database backup --to-path={E} --type=DIFF neo4j"); code != 1 {
			t.Errorf("DIFF on another store's backup: exit %d (%v); want 1", code, err)
		}
		if code, err := p.run(t, "database backup --to-path={E} neo4j"); code != 0 {
			t.Fatalf("AUTO: exit %d (%v)", code, err)
		}
		if found, _ := artifactsIn(p.empty); len(found) != 2 || found[0].Differential {
			t.Errorf("artifacts %+v; want the other store's and a new full one", found)
		}
		if code, err := p.run(t, "database backup --to-path={D} --type=DIFF neo4j"); code != 0 {
			t.Errorf("DIFF on the live store's backup: exit %d (%v); want 0", code, err)
		}
	})
	t.Run("never dated before its parent", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		commit(t, p.live, "neo4j", seconds(0)...)
		later := time.Now().UTC().Add(time.Hour)
		if err := writeArtifact(filepath.Join(p.live, "neo4j"), filepath.Join(p.empty, "neo4j-"+later.Format("2006-01-02T15-04-05")+".backup"), "neo4j", later); err != nil {
			t.Fatal(err)
		}
		commit(t, p.live, "neo4j", seconds(1)...)
		if code, err := p.run(t, "database backup --to-path={E} neo4j"); code != 0 {
			t.Fatalf("exit %d (%v)", code, err)
		}
		found, _ := artifactsIn(p.empty)
		if len(found) != 2 || !found[0].Differential || !found[0].Time.Equal(later.Truncate(time.Second).Add(time.Second)) {
			t.Errorf("artifacts %+v; want a differential one dated a second after its parent, %s", found, later)
		}
	})
	t.Run("NEO4J_STANDIN_NOW dates it", func(t *testing.T) {
		p := newPlace(t, "2025.06.0")
		t.Setenv("NEO4J_STANDIN_NOW", "2025-06-01T11:00:00.5+01:00")
		if code, err := p.run(t, "database backup --to-path={E} neo4j"); code != 0 {
			t.Fatalf("exit %d (%v)", code, err)
		}
		wantFiles(t, p.empty, "neo4j-2025-06-01T10-00-00.backup")
		t.Setenv("NEO4J_STANDIN_NOW", "yesterday")
		if code, _ := p.run(t, "database backup --to-path={E} neo4j"); code != 1 {
			t.Errorf("NEO4J_STANDIN_NOW=yesterday: exit %d; want 1", code)
		}
	})
	t.Run("a bad live log", func(t *testing.T) {
		p := newPlace(t, "5.26.0")
		testfiles.Write(t, filepath.Join(p.live, "neo4j", txLog), "1 2025-06-01T10:00:00Z a\n3 2025-06-01T10:00:01Z b\n")
		code, err := p.run(t, "database backup --to-path={E} neo4j")
		if code != 1 || !strings.Contains(err.Error(), "line 2: transaction 3") {
			t.Errorf("exit %d (%v); want 1 naming line 2", code, err)
		}
	})
}

// The manual's example (online-backup.adoc, "--prefer-diff-as-parent"):
// a full, two differential and an empty differential backup, a
// transaction, a full backup (1-9); a differential one then builds on the
// newest non-empty backup, the full one, or with --prefer-diff-as-parent
// on the newest non-empty differential one (6-8), and restores through
// the older full backup.
func TestPreferDiffAsParent(t *testing.T) {
	for _, tt := range []struct {
		flag            string
		lowest, highest int64
	}{{"", 10, 11}, {" --prefer-diff-as-parent", 9, 11}} {
		t.Run(tt.flag, func(t *testing.T) {
			p, _ := chained(t, "2025.04.0")
			commit(t, p.live, "neo4j", seconds(8)...)
			if code, err := p.run(t, "database backup --to-path={E} --type=FULL neo4j"); code != 0 {
				t.Fatalf("full: exit %d (%v)", code, err)
			}
			commit(t, p.live, "neo4j", seconds(9, 10)...)
			if code, err := p.run(t, "database backup --to-path={E} --type=DIFF"+tt.flag+" neo4j"); code != 0 {
				t.Fatalf("diff: exit %d (%v)", code, err)
			}
			found, _ := artifactsIn(p.empty)
			if a := found[0]; !a.Differential || a.LowestTx != tt.lowest || a.HighestTx != tt.highest {
				t.Fatalf("the differential backup holds %d-%d; want %d-%d", a.LowestTx, a.HighestTx, tt.lowest, tt.highest)
			}
			if code, err := p.run(t, "database restore --from-path="+found[0].path+" neo4j"); code != 0 {
				t.Fatalf("restore: exit %d (%v)", code, err)
			}
			wantRestored(t, p, liveAsOf(t, p.live, "neo4j", 11))
		})
	}
}

// --inspect-path prints the manual's table (restore-backup.adoc, "Inspect
// the backup artifacts"), oldest first, columns right-aligned.
func TestInspectPath(t *testing.T) {
	p, found := chained(t, "5.26.0")
	var out bytes.Buffer
	if err := inspectArtifacts(&out, p.empty); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := [][]string{{"FILE", "DATABASE", "DATABASE ID", "TIME", "FULL", "COMPRESSED", "LOWEST TX", "HIGHEST TX"}}
	for i, r := range [][3]string{{"true", "1", "3"}, {"false", "4", "5"}, {"false", "6", "8"}, {"false", "0", "0"}} {
		a := found[i]
		want = append(want, []string{"file://" + a.path, "neo4j", a.DatabaseID, a.Time.Format("2006-01-02T15:04:05"), r[0], "true", r[1], r[2]})
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines; want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, line := range lines {
		cells := strings.Split(line, "|")
		if len(line) != len(lines[0]) || len(cells) != len(want[i])+2 || cells[0] != "" || cells[len(cells)-1] != "" {
			t.Fatalf("line %d is not a row of the table:\n%s", i, out.String())
		}
		for j, cell := range cells[1 : len(cells)-1] {
			head := strings.Split(lines[0], "|")[j+1]
			if strings.TrimSpace(cell) != want[i][j] || len(cell) != len(head) || !strings.HasPrefix(cell, " ") || !strings.HasSuffix(cell, " ") || cell[len(cell)-2] == ' ' {
				t.Errorf("line %d column %d is %q; want %q right-aligned under %q", i, j, cell, want[i][j], head)
			}
		}
	}
	out.Reset()
	if err := inspectArtifacts(&out, found[1].path); err != nil || strings.Count(out.String(), "\n") != 2 || !strings.Contains(out.String(), "| false |") {
		t.Errorf("one artifact: %v\n%s", err, out.String())
	}
}

// wantRestored checks that the restored neo4j holds the live store and
// exactly the live log given.
func wantRestored(t *testing.T, p place, log string) {
	t.Helper()
	store := filepath.Join(p.data, "databases", "neo4j")
	if b, err := os.ReadFile(filepath.Join(store, txLog)); err != nil || string(b) != log {
		t.Errorf("restored log:\n%s(%v)\nwant the live log as of then:\n%s", b, err, log)
	}
	if b, err := os.ReadFile(filepath.Join(store, "neostore")); err != nil || string(b) != "store of neo4j" {
		t.Errorf("restored neostore %q (%v); want the live one's", b, err)
	}
}

// Restore replays the chain ending at the artifact given and stops where
// --restore-until says; the store is then the live one as of that point.
func TestRestoreChain(t *testing.T) {
	tests := []struct {
		name, version string
		from          int // the artifact of the chain restored
		until         string
		transactions  int // of the live log the restored one holds
	}{
		{"the chain's end", "5.26.0", 2, "", 8},
		{"its empty end", "5.26.0", 3, "", 8},
		{"the full backup alone", "5.26.0", 0, "", 3},
		{"a middle differential backup", "2025.06.0", 1, "", 5},
		// Committed before the time: 1-5, the 6th at exactly 10:00:05.
		{"a time between two differential backups", "5.26.0", 2, "2025-06-01 10:00:05", 5},
		{"a time inside a differential backup", "5.26.0", 2, "2025-06-01 10:00:04", 4},
		{"a time after the last transaction", "5.26.0", 3, "2025-06-01 11:00:00", 8},
		{"a time inside the full backup's successor", "5.26.0", 1, "2025-06-01 10:00:03", 3},
		// Up to, not including, the transaction.
		{"a transaction ID", "5.26.0", 2, "7", 6},
		{"the first after the full backup", "5.26.0", 2, "4", 3},
		{"the one after the chain's end", "2026.01.0", 3, "9", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, found := chained(t, tt.version)
			line := "database restore --from-path=" + found[tt.from].path + " neo4j"
			if tt.until != "" {
				line += " --restore-until=" + strings.ReplaceAll(tt.until, " ", "{SP}")
			}
			if code, err := p.run(t, line); code != 0 {
				t.Fatalf("exit %d (%v)", code, err)
			}
			wantRestored(t, p, liveAsOf(t, p.live, "neo4j", tt.transactions))
		})
	}
	t.Run("a folder from 2025.02: its newest artifact's chain", func(t *testing.T) {
		p, _ := chained(t, "2025.02.0")
		if code, err := p.run(t, "database restore --from-path={E} --restore-until=6"); code != 0 {
			t.Fatalf("exit %d (%v)", code, err)
		}
		wantRestored(t, p, liveAsOf(t, p.live, "neo4j", 5))
	})
}

// Restore refuses a chain with a missing link and a point the chain
// cannot give, and leaves the data directory as it was.
func TestRestoreChainRefused(t *testing.T) {
	tests := []struct {
		name    string
		remove  []int // artifacts of the chain taken out of the folder
		from    int
		until   string
		message string
	}{
		{"a missing differential backup", []int{1}, 2, "", "whose chain is broken: no backup artifact in {E} holds transactions 4-5"},
		{"the missing full backup", []int{0}, 1, "", "holds transactions 1-3"},
		{"the missing full backup under an empty end", []int{0, 1, 2}, 3, "", "holds transactions 1-8"},
		{"a transaction the full backup holds", nil, 2, "3", "from 4 (after the full backup's last, 3) to 9"},
		{"a transaction past the chain", nil, 2, "10", "outside the backup chain"},
		{"a time before the full backup's last transaction", nil, 3, "2025-06-01 10:00:02", "after the full backup's last transaction"},
		{"a time after the chain's last artifact was taken", nil, 1, "2999-01-01 00:00:00", "no later than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, found := chained(t, "5.26.0")
			for _, i := range tt.remove {
				if err := os.Remove(found[i].path); err != nil {
					t.Fatal(err)
				}
			}
			line := "database restore --from-path=" + found[tt.from].path + " neo4j"
			if tt.until != "" {
				line += " --restore-until=" + strings.ReplaceAll(tt.until, " ", "{SP}")
			}
			code, err := p.run(t, line)
			if code != 1 || !strings.Contains(err.Error(), p.expand(tt.message)) {
				t.Fatalf("exit %d (%v); want 1 saying %q", code, err, p.expand(tt.message))
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is more than one line: %q", err)
			}
			wantFiles(t, p.data)
		})
	}
}

// 4.x knows no differential backups: backup copies the live folder, log
// and all, and restore copies it back.
func TestTransactionLog4x(t *testing.T) {
	p := newPlace(t, "4.4.40")
	commit(t, p.live, "neo4j", seconds(0, 1)...)
	if code, err := p.run(t, "backup --backup-dir={E} --database=neo4j"); code != 0 {
		t.Fatalf("backup: exit %d (%v)", code, err)
	}
	wantFiles(t, p.empty, "neo4j/neostore", "neo4j/"+txLog)
	if code, err := p.run(t, "restore --from={E}/neo4j --database=neo4j"); code != 0 {
		t.Fatalf("restore: exit %d (%v)", code, err)
	}
	wantRestored(t, p, liveAsOf(t, p.live, "neo4j", 2))
	if code, _ := p.run(t, "backup --backup-dir={E} --database=neo4j --type=DIFF"); code != 2 {
		t.Errorf("--type on 4.x: exit %d; want 2", code)
	}
}

func TestParseLog(t *testing.T) {
	tests := []struct {
		log  string
		ids  []int64
		fail string
	}{
		{"", nil, ""},
		{"1 2025-06-01T10:00:00Z\n", []int64{1}, ""},
		{"4 2025-06-01T10:00:00.5Z a b c\n5 2025-06-01T10:00:00.5Z\n", []int64{4, 5}, ""},
		{"1 2025-06-01T10:00:00Z a\n1 2025-06-01T10:00:01Z b\n", nil, "line 2"},
		{"1 2025-06-01T10:00:01Z a\n2 2025-06-01T10:00:00Z b\n", nil, "line 2"},
		{"1 2025-06-01 a\n", nil, "not an RFC 3339 time"},
		{"x 2025-06-01T10:00:00Z\n", nil, "not a transaction ID"},
		{"1\n", nil, "line 1"},
	}
	for _, tt := range tests {
		txs, err := parseLog("log", []byte(tt.log))
		var ids []int64
		for _, tx := range txs {
			ids = append(ids, tx.id)
		}
		if (tt.fail == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.fail)) || !slices.Equal(ids, tt.ids) {
			t.Errorf("%q: %v, %v; want %v, failing with %q", tt.log, ids, err, tt.ids, tt.fail)
		}
		if err == nil && string(logBytes(txs)) != tt.log {
			t.Errorf("%q written back as %q", tt.log, logBytes(txs))
		}
	}
}
