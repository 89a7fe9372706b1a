package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A 5.x backup artifact here is a tar file: first an entry artifactHeader
// recording what the real artifact's metadata records (backup
// --inspect-path shows it): the database, its ID, the time, full or
// differential, compressed, and the lowest and highest transaction ID;
// then, for a full backup, the database's files with its transaction log
// (txlog.go) up to the backup, and for a differential one only the
// transactions since its parent's highest (an empty one, none: lowest and
// highest 0, as the manual shows an empty backup). Restore reads the
// database from the header, never from the file name, so an artifact
// renamed or put under another database's name is caught.
const artifactHeader = ".neo4j-standin-artifact.json"

// artifact is what an artifact's header records.
type artifact struct {
	path         string
	Database     string    `json:"database"`
	DatabaseID   string    `json:"databaseId,omitempty"`
	Time         time.Time `json:"time"`
	Differential bool      `json:"differential,omitempty"`
	Compressed   bool      `json:"compressed,omitempty"`
	LowestTx     int64     `json:"lowestTx,omitempty"`
	HighestTx    int64     `json:"highestTx,omitempty"`
	// After is a differential backup's parent's highest transaction: the
	// chain it continues, which an empty one (0, 0) does not show itself.
	After int64 `json:"after,omitempty"`
}

// empty is a differential backup without transactions.
func (a artifact) empty() bool { return a.Differential && a.HighestTx == 0 }

// end is the highest transaction a store restored from a chain ending at a
// holds.
func (a artifact) end() int64 {
	if a.empty() {
		return a.After
	}
	return a.HighestTx
}

// writeArtifact writes a full backup of the database folder src, a backup
// of database db taken at, as the artifact file dst.
func writeArtifact(src, dst, db string, at time.Time) error {
	txs, err := liveLog(src)
	if err != nil {
		return err
	}
	return writeFull(src, dst, artifact{Database: db, DatabaseID: databaseID(src), Time: at, Compressed: true}, txs)
}

// writeFull writes the database folder src as a full backup artifact dst
// holding the transactions txs, head saying the rest.
func writeFull(src, dst string, head artifact, txs []transaction) error {
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", filepath.Base(src))
	}
	head.Differential, head.After = false, 0
	head.LowestTx, head.HighestTx = txRange(txs)
	return writeTar(dst, head, func(tw *tar.Writer) error {
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			info, err := d.Info()
			if err != nil || rel == "." {
				return err
			}
			h, err := tar.FileInfoHeader(info, "")
			if err != nil {
				return err
			}
			h.Name = filepath.ToSlash(rel)
			if d.IsDir() {
				h.Name += "/"
				return tw.WriteHeader(h)
			}
			if rel == txLog {
				// The log as read, not as it may have grown since.
				return writeEntry(tw, txLog, head.Time, logBytes(txs))
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		})
	})
}

// writeDifferential writes a differential backup artifact dst holding the
// transactions txs that follow its parent's highest transaction after.
func writeDifferential(dst string, head artifact, after int64, txs []transaction) error {
	head.Differential, head.After = true, after
	head.LowestTx, head.HighestTx = txRange(txs)
	return writeTar(dst, head, func(tw *tar.Writer) error {
		return writeEntry(tw, txLog, head.Time, logBytes(txs))
	})
}

func writeTar(dst string, head artifact, body func(*tar.Writer) error) error {
	head.Time = head.Time.UTC()
	header, err := json.Marshal(head)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = writeEntry(tw, artifactHeader, head.Time, header)
	if err == nil {
		err = body(tw)
	}
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeEntry(tw *tar.Writer, name string, at time.Time, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: at}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// errNotArtifact is a file that is not a backup artifact.
var errNotArtifact = errors.New("not a backup artifact")

// readHeader reads which database the artifact file p is a backup of.
func readHeader(p string) (artifact, error) {
	f, err := os.Open(p)
	if err != nil {
		return artifact{}, fmt.Errorf("Backup artifact %s does not exist", p)
	}
	defer f.Close()
	a, _, err := header(p, f)
	return a, err
}

func header(p string, r io.Reader) (artifact, *tar.Reader, error) {
	a := artifact{path: p}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != artifactHeader {
		return a, nil, fmt.Errorf("%s is %w (a file neo4j-admin database backup wrote)", p, errNotArtifact)
	}
	if err := json.NewDecoder(tr).Decode(&a); err != nil || a.Database == "" {
		return a, nil, fmt.Errorf("%s is %w: its metadata does not name a database", p, errNotArtifact)
	}
	return a, tr, nil
}

// readArtifact replaces the database folder dst with an artifact's files.
func readArtifact(p, dst string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("Backup artifact %s does not exist", p)
	}
	defer f.Close()
	_, tr, err := header(p, f)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s is %w: %v", p, errNotArtifact, err)
		}
		target := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dst)+string(filepath.Separator)) {
			return fmt.Errorf("%s holds a path outside the database: %s", p, h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
}

// artifactsIn reads the headers of the .backup files in folder dir, newest
// first (by the time recorded, then by name).
func artifactsIn(dir string) ([]artifact, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var found []artifact
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".backup") {
			continue
		}
		a, err := readHeader(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		found = append(found, a)
	}
	slices.SortFunc(found, func(a, b artifact) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.path, a.path)
	})
	return found, nil
}

// artifactLog reads the transactions an artifact holds, and whether it
// holds a transaction log at all (a full backup of a database that
// committed none holds none).
func artifactLog(a artifact) ([]transaction, bool, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, false, fmt.Errorf("Backup artifact %s does not exist", a.path)
	}
	defer f.Close()
	_, tr, err := header(a.path, f)
	if err != nil {
		return nil, false, err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s is %w: %v", a.path, errNotArtifact, err)
		}
		if h.Name != txLog {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, false, fmt.Errorf("%s is %w: %v", a.path, errNotArtifact, err)
		}
		txs, err := parseLog(a.path+": "+txLog, data)
		if err == nil && (txRangeOf(txs) != [2]int64{a.LowestTx, a.HighestTx}) {
			err = fmt.Errorf("%s is %w: its transactions are not the %d-%d its metadata records", a.path, errNotArtifact, a.LowestTx, a.HighestTx)
		}
		return txs, true, err
	}
}

func txRangeOf(txs []transaction) [2]int64 {
	lowest, highest := txRange(txs)
	return [2]int64{lowest, highest}
}

// sameDatabase reports whether b is a backup of the database a is one of:
// the same name, and the same database ID where both record one.
func sameDatabase(a, b artifact) bool {
	return a.Database == b.Database && (a.DatabaseID == "" || b.DatabaseID == "" || a.DatabaseID == b.DatabaseID)
}

// parentIn is the artifact in folder dir a differential backup of the live
// database head names builds on, as the manual says neo4j-admin chooses
// it: the newest non-empty backup, or with --prefer-diff-as-parent the
// newest non-empty differential one when there is one. ok is false when
// there is none or it cannot be built on (another database ID, or more
// transactions than the live database has: it is not this store's past).
func parentIn(dir string, head artifact, highest int64, preferDiff bool) (parent artifact, ok bool, err error) {
	found, err := artifactsIn(dir) // newest first
	if err != nil {
		return artifact{}, false, err
	}
	var candidates []artifact
	for _, a := range found {
		if a.Database == head.Database && !a.empty() {
			candidates = append(candidates, a)
		}
	}
	if preferDiff {
		if i := slices.IndexFunc(candidates, func(a artifact) bool { return a.Differential }); i >= 0 {
			candidates = candidates[i:]
		}
	}
	if len(candidates) == 0 {
		return artifact{}, false, nil
	}
	p := candidates[0]
	return p, sameDatabase(head, p) && p.HighestTx <= highest, nil
}

// chainOf is the backup chain restoring a takes, the full backup first and
// a last, from the artifacts in a's folder: the manual has --from-path
// name the last backup of a chain, and neo4j-admin find the rest "in the
// folder". A missing link fails, naming the transactions missing.
func chainOf(a artifact) ([]artifact, error) {
	if !a.Differential {
		return []artifact{a}, nil
	}
	dir := filepath.Dir(a.path)
	found, err := artifactsIn(dir) // newest first
	if err != nil {
		return nil, err
	}
	links := []artifact{a}
	for cur := a; cur.Differential; {
		if len(links) > len(found) {
			return nil, fmt.Errorf("the backup chain of %s in %s loops", a.path, dir)
		}
		var parent *artifact
		below := int64(0) // the highest transaction of the artifacts before the gap
		for i, c := range found {
			if !sameDatabase(a, c) || c.empty() || c.Time.After(cur.Time) || c.path == cur.path {
				continue
			}
			switch {
			// The newest that ends where cur starts, unless a full backup
			// ends there too: the shorter chain.
			case c.HighestTx == cur.After && (parent == nil || (parent.Differential && !c.Differential)):
				parent = &found[i]
			case c.HighestTx < cur.After:
				below = max(below, c.HighestTx)
			}
		}
		if parent == nil {
			return nil, fmt.Errorf("%s is a differential backup of database %s whose chain is broken: no backup artifact in %s holds transactions %d-%d; put the full backup and every differential backup of the chain in that folder", a.path, a.Database, dir, below+1, cur.After)
		}
		links = append(links, *parent)
		cur = *parent
	}
	slices.Reverse(links)
	return links, nil
}

// inspectArtifacts is --inspect-path: the metadata of the artifacts in a
// folder, or of one, as the manual's table shows it, oldest first.
func inspectArtifacts(w io.Writer, p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("Path '%s' does not exist: give a backup artifact or a folder of them to --inspect-path", p)
	}
	var found []artifact
	if info.IsDir() {
		if found, err = artifactsIn(p); err != nil {
			return err
		}
		slices.Reverse(found)
	} else {
		a, err := readHeader(p)
		if err != nil {
			return err
		}
		found = []artifact{a}
	}
	rows := [][]string{{"FILE", "DATABASE", "DATABASE ID", "TIME", "FULL", "COMPRESSED", "LOWEST TX", "HIGHEST TX"}}
	for _, a := range found {
		file := a.path
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		rows = append(rows, []string{"file://" + filepath.ToSlash(file), a.Database, a.DatabaseID, a.Time.UTC().Format("2006-01-02T15:04:05"),
			strconv.FormatBool(!a.Differential), strconv.FormatBool(a.Compressed), strconv.FormatInt(a.LowestTx, 10), strconv.FormatInt(a.HighestTx, 10)})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			width[i] = max(width[i], len(cell))
		}
	}
	for _, r := range rows {
		line := "|"
		for i, cell := range r {
			line += fmt.Sprintf(" %*s |", width[i], cell)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// databasesOf lists the databases of artifacts, once each, as they come.
func databasesOf(found []artifact) []string {
	var dbs []string
	for _, a := range found {
		if !slices.Contains(dbs, a.Database) {
			dbs = append(dbs, a.Database)
		}
	}
	return dbs
}

// isFile reports whether p is a regular file.
func isFile(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// notEmpty reports whether p is a folder holding something.
func notEmpty(p string) bool {
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) > 0
}
