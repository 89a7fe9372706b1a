package neo4j

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// StoreFile is the file every 4.x store holds: the metadata store
// (neostore, beside neostore.nodestore.db and the others). A 4.x backup
// folder <dir>/<database>/ without it holds no store.
const StoreFile = "neostore"

// adminLog is where to look when a backup is refused: the output of the
// neo4j-admin calls, which the backup CronJob's init container
// (backup.AdminContainer) logs.
const adminLog = "the neo4j-admin-backup container's log"

// AdminCall is one line of the exit file the backup CronJob's init container
// writes after each neo4j-admin call: "<exit code> <database,database…>".
type AdminCall struct {
	Code      int
	Databases []string // lower case
}

// BackupOutcome is what CheckBackup found in a backup it accepts.
type BackupOutcome struct {
	// Databases are the requested databases, lower case as Neo4j names
	// them, in the order asked for, each once.
	Databases []string
	// Warnings are sentences to record with the backup: neo4j-admin
	// reported a problem that left a good backup.
	Warnings []string
}

// CheckBackup decides whether the backup neo4j-admin left in dir may be
// uploaded as a complete backup of databases. neo4j-admin's exit code alone
// is not trusted (it has been seen to exit 0 on failure, neo4j/neo4j#13107),
// so every requested database must have its backup in dir:
//
//   - 5.x and calendar versions: a <database>-<yyyy-MM-ddTHH-mm-ss>.backup
//     artifact (full or differential), not empty;
//   - 4.x: a folder <database>/ holding a store (its StoreFile).
//
// Names match as Neo4j matches them: case-insensitively. A zero v reads the
// layout from the folder (5.x when it holds any artifact) and needs no
// exitFile.
//
// exitFile, when not "", is the exit file of the neo4j-admin calls (see
// AdminCall); every requested database must be named in it, and the codes
// decide, as the Operations Manual documents them for the version line:
//
//	4.x  0 ok; 1 failed: refused; 2 backup good, consistency check failed
//	     and 3 backup good, inconsistencies found: accepted with a warning
//	5.x  0 ok; 1 failed, or succeeded with problems (some servers
//	     uncontactable): accepted with a warning when every artifact is
//	     there, else refused
//
// Any other code is refused. The error is one line naming the databases
// and where to look.
func CheckBackup(v Version, dir string, databases []string, exitFile string) (BackupOutcome, error) {
	var out BackupOutcome
	for _, db := range databases {
		if db = strings.ToLower(strings.TrimSpace(db)); db != "" && !slices.Contains(out.Databases, db) {
			out.Databases = append(out.Databases, db)
		}
	}
	if len(out.Databases) == 0 {
		return out, errors.New("no database to check the backup for; name them with --databases")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out, fmt.Errorf("reading the backup folder: %v; %s says why neo4j-admin wrote nothing there", err, adminLog)
	}
	if v.Major == 0 {
		if exitFile != "" {
			return out, errors.New("neo4j-admin's exit codes mean different things in 4.x and 5.x; give the Neo4j version with them")
		}
		v = Version{Major: 4}
		if slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return !e.IsDir() && artifactPattern.MatchString(e.Name()) }) {
			v = Version{Major: 5}
		}
	}
	missing := map[string]bool{}
	for _, db := range out.Databases {
		missing[db] = !hasBackup(v, dir, entries, db)
	}

	var refused []string
	refuse := func(format string, a ...any) {
		if r := fmt.Sprintf(format, a...); !slices.Contains(refused, r) {
			refused = append(refused, r)
		}
	}
	if exitFile == "" {
		for _, db := range out.Databases {
			if missing[db] {
				refuse("the backup in %s has no %s", dir, layout(v, db))
			}
		}
	} else {
		calls, err := readAdminCalls(exitFile)
		if err != nil {
			return out, err
		}
		command := "neo4j-admin database backup"
		if v.Major == 4 {
			command = "neo4j-admin backup"
		}
		for _, db := range out.Databases {
			if !slices.ContainsFunc(calls, func(c AdminCall) bool { return slices.Contains(c.Databases, db) }) {
				refuse("%s records no neo4j-admin call for database %s", exitFile, db)
			}
		}
		for _, c := range calls {
			var asked, lacking []string
			for _, db := range c.Databases {
				if _, requested := missing[db]; requested {
					asked = append(asked, db)
					if missing[db] {
						lacking = append(lacking, db)
					}
				}
			}
			if len(asked) == 0 {
				continue
			}
			of := command + " of " + plural("database", asked)
			switch {
			case c.Code == 1 && v.Major == 4:
				refuse("%s failed (exit 1)", of)
			case c.Code == 0 && len(lacking) > 0:
				refuse("%s exited 0 but left no %s in %s (neo4j-admin has been seen to exit 0 on failure, neo4j/neo4j#13107)", of, layouts(v, lacking), dir)
			case c.Code == 0:
			case v.Major == 4 && (c.Code == 2 || c.Code == 3) && len(lacking) > 0:
				refuse("%s exited %d (backup taken, consistency check not passed) but left no %s in %s", of, c.Code, layouts(v, lacking), dir)
			case v.Major == 4 && c.Code == 2:
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s succeeded but its consistency check failed to run (exit 2): the backup is unchecked; see %s", of, adminLog))
			case v.Major == 4 && c.Code == 3:
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s succeeded but its consistency check found inconsistencies (exit 3): the backup holds the store as the server had it; see the consistency report and %s", of, adminLog))
			case v.Major != 4 && c.Code == 1 && len(lacking) > 0:
				refuse("%s failed (exit 1) and left no %s in %s", of, layouts(v, lacking), dir)
			case v.Major != 4 && c.Code == 1:
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s exited 1 although every artifact was written: neo4j-admin reported problems, e.g. some servers uncontactable; see %s", of, adminLog))
			default:
				refuse("%s exited %d, which the Operations Manual does not document for it (killed, out of memory?)", of, c.Code)
			}
		}
	}
	if len(refused) > 0 {
		return out, fmt.Errorf("%s; see %s", strings.Join(refused, "; "), adminLog)
	}
	return out, nil
}

// hasBackup reports whether entries, the top of the backup folder dir,
// hold database's backup in v's layout.
func hasBackup(v Version, dir string, entries []fs.DirEntry, database string) bool {
	for _, e := range entries {
		name, ok := DatabaseOf(e.Name(), e.IsDir())
		if !ok || !strings.EqualFold(name, database) || e.IsDir() != (v.Major == 4) {
			continue
		}
		if v.Major == 4 {
			if info, err := os.Stat(filepath.Join(dir, e.Name(), StoreFile)); err == nil && info.Mode().IsRegular() {
				return true
			}
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Size() > 0 {
			return true
		}
	}
	return false
}

// layout describes database's backup in v's layout, for a message.
func layout(v Version, database string) string {
	if v.Major == 4 {
		return fmt.Sprintf("backup of database %s (a folder %s/ holding a store, with its %s file)", database, database, StoreFile)
	}
	return fmt.Sprintf("backup artifact of database %s (%s-<yyyy-MM-ddTHH-mm-ss>.backup)", database, database)
}

func layouts(v Version, databases []string) string {
	if len(databases) == 1 {
		return layout(v, databases[0])
	}
	if v.Major == 4 {
		return "backup of databases " + strings.Join(databases, ", ")
	}
	return "backup artifact of databases " + strings.Join(databases, ", ")
}

func plural(noun string, items []string) string {
	if len(items) == 1 {
		return noun + " " + items[0]
	}
	return noun + "s " + strings.Join(items, ", ")
}

// readAdminCalls reads the exit file: one AdminCall a line, blank lines
// ignored.
func readAdminCalls(path string) ([]AdminCall, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s, where neo4j-admin's exit codes are recorded, does not exist: the backup step did not run to its end; see %s", path, adminLog)
	}
	if err != nil {
		return nil, fmt.Errorf("reading neo4j-admin's exit codes: %v", err)
	}
	defer f.Close()
	var calls []AdminCall
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		c, err := parseAdminCall(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d %q: %v; each line is \"<exit code> <database,database…>\"", path, n, line, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading neo4j-admin's exit codes from %s: %v", path, err)
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("%s records no neo4j-admin call: the backup step did not run; see %s", path, adminLog)
	}
	return calls, nil
}

func parseAdminCall(line string) (AdminCall, error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return AdminCall{}, errors.New("not an exit code and a database list")
	}
	code, err := strconv.Atoi(fields[0])
	if err != nil || code < 0 || code > 255 {
		return AdminCall{}, fmt.Errorf("%q is not an exit code", fields[0])
	}
	c := AdminCall{Code: code}
	for _, db := range strings.Split(fields[1], ",") {
		if db == "" {
			return AdminCall{}, errors.New("an empty database name")
		}
		c.Databases = append(c.Databases, strings.ToLower(db))
	}
	return c, nil
}
