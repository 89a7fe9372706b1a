package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A 5.x backup artifact here is a tar file: first an entry artifactHeader
// recording which database it is a backup of and when it was taken, as the
// real artifact's metadata does (backup --inspect-path shows both), then
// the database's files. Restore reads the database from the header, never
// from the file name, so an artifact renamed or put under another
// database's name is caught.
const artifactHeader = ".neo4j-standin-artifact.json"

// artifact is what an artifact's header records.
type artifact struct {
	path     string
	Database string    `json:"database"`
	Time     time.Time `json:"time"`
}

// writeArtifact writes the database folder src, a backup of database db
// taken at, as the artifact file dst.
func writeArtifact(src, dst, db string, at time.Time) error {
	if !exists(src) {
		return fmt.Errorf("Database '%s' does not exist on the server", filepath.Base(src))
	}
	header, err := json.Marshal(artifact{Database: db, Time: at.UTC()})
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = tw.WriteHeader(&tar.Header{Name: artifactHeader, Mode: 0o644, Size: int64(len(header)), ModTime: at})
	if err == nil {
		_, err = tw.Write(header)
	}
	if err == nil {
		err = tw.AddFS(os.DirFS(src))
	}
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
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

// hasArtifact reports whether dir holds a backup artifact of db, the parent
// a differential backup needs.
func hasArtifact(dir, db string) bool {
	found, _ := artifactsIn(dir)
	return slices.ContainsFunc(found, func(a artifact) bool { return a.Database == db })
}

// inspectArtifacts is --inspect-path: list the artifacts in a folder, or one,
// with the database each is a backup of.
func inspectArtifacts(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%s does not exist", p)
	}
	var found []artifact
	if info.IsDir() {
		if found, err = artifactsIn(p); err != nil {
			return err
		}
	} else {
		a, err := readHeader(p)
		if err != nil {
			return err
		}
		found = []artifact{a}
	}
	for _, a := range found {
		fmt.Println(filepath.Base(a.path), a.Database, a.Time.Format(time.RFC3339))
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
