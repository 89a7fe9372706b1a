package neo4j

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The manual's example (restore-backup.adoc, "Inspect the backup
// artifacts"), as neo4j-admin prints it.
const manualInspect = `|                                                       FILE | DATABASE |                          DATABASE ID |                TIME |  FULL | COMPRESSED | LOWEST TX | HIGHEST TX |
| file:///path/to/mybackups/neo4j-2023-06-29T14-46-27.backup |    neo4j | c8368b24-55e2-474d-bb41-75657f5bfcde | 2023-06-29T13:46:27 |  true |       true |         1 |         11 |
| file:///path/to/mybackups/neo4j-2023-06-29T14-50-45.backup |    neo4j | c8368b24-55e2-474d-bb41-75657f5bfcde | 2023-06-29T13:50:45 | false |       true |        12 |         14 |
| file:///path/to/mybackups/neo4j-2023-06-29T14-51-33.backup |    neo4j | c8368b24-55e2-474d-bb41-75657f5bfcde | 2023-06-29T13:51:33 | false |       true |        15 |         18 |
`

func TestParseInspect(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	const id = "c8368b24-55e2-474d-bb41-75657f5bfcde"
	got, err := ParseInspect([]byte(manualInspect))
	if err != nil {
		t.Fatal(err)
	}
	want := []InspectedArtifact{
		{Path: "/path/to/mybackups/neo4j-2023-06-29T14-46-27.backup", Database: "neo4j", DatabaseID: id, Time: at("2023-06-29T13:46:27Z"), Full: true, Compressed: true, LowestTx: 1, HighestTx: 11},
		{Path: "/path/to/mybackups/neo4j-2023-06-29T14-50-45.backup", Database: "neo4j", DatabaseID: id, Time: at("2023-06-29T13:50:45Z"), Compressed: true, LowestTx: 12, HighestTx: 14},
		{Path: "/path/to/mybackups/neo4j-2023-06-29T14-51-33.backup", Database: "neo4j", DatabaseID: id, Time: at("2023-06-29T13:51:33Z"), Compressed: true, LowestTx: 15, HighestTx: 18},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseInspect(the manual's example) =\n%+v\nwant\n%+v", got, want)
	}

	// Log lines around the table, columns in another order, a name in
	// upper case, a path with a space, an empty differential backup.
	got, err = ParseInspect([]byte(`2025-01-31 10:00:00.000+0000 INFO  [c.n.b.i.BackupInspector] Inspecting /backups
| DATABASE | FILE | FULL | LOWEST TX | HIGHEST TX | TIME | COMPRESSED | DATABASE ID |
| Shop | file:///my%20backups/shop-2025-01-31T10-00-00.backup | false | 0 | 0 | 2025-01-31T10:00:00 | false | x |
done
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Database != "shop" || got[0].Path != "/my backups/shop-2025-01-31T10-00-00.backup" || !got[0].Empty() || got[0].Full {
		t.Fatalf("ParseInspect = %+v; want one empty differential artifact of shop at /my backups/…", got)
	}

	// A folder without artifacts: the heading alone.
	if got, err := ParseInspect([]byte("| FILE | DATABASE | DATABASE ID | TIME | FULL | COMPRESSED | LOWEST TX | HIGHEST TX |\n")); err != nil || len(got) != 0 {
		t.Fatalf("ParseInspect(heading only) = %+v, %v; want no rows, no error", got, err)
	}

	for _, tt := range []struct{ name, out, want string }{
		{"no table", "Path '/x' does not exist\n", "has no table of backup artifacts"},
		{"another table", "| FILE | DATABASE |\n", "has no column DATABASE ID"},
		{"short row", strings.SplitN(manualInspect, "\n", 2)[0] + "\n| file:///a | neo4j |\n", "line 2 of neo4j-admin's --inspect-path output has 2 cells"},
		{"bad tx", strings.Replace(manualInspect, "|        12 |", "|       12a |", 1), `LOWEST TX "12a" is not a transaction ID`},
		{"tx backwards", strings.Replace(manualInspect, "|        12 |", "|        15 |", 1), "LOWEST TX 15 is above HIGHEST TX 14"},
		{"bad time", strings.Replace(manualInspect, "2023-06-29T13:50:45", "yesterday at 3", 1), `TIME "yesterday at 3" is not a time`},
		{"bad full", strings.Replace(manualInspect, "|  true |       true |         1", "|  yes |       true |         1", 1), `FULL "yes" is not true or false`},
		{"remote file", strings.Replace(manualInspect, "file:///path/to/mybackups/neo4j-2023-06-29T14-46-27.backup", "s3://bucket/neo4j-2023-06-29T14-46-27.backup", 1), "is not a local file"},
	} {
		if _, err := ParseInspect([]byte(tt.out)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseInspect error %v; want one saying %q", tt.name, err, tt.want)
		}
	}
}

func TestBackupCommandsOfType(t *testing.T) {
	from := []string{"a:6362"}
	for _, tt := range []struct {
		version string
		typ     BackupType
		want    string
	}{
		{"5.15.0", BackupDiff, "neo4j-admin database backup --from=a:6362 --to-path=/b --type=DIFF --pagecache=1m neo4j | neo4j-admin database backup --from=a:6362 --to-path=/b --type=DIFF --pagecache=1m system"},
		{"5.26.0", BackupFull, "neo4j-admin database backup --from=a:6362 --to-path=/b --type=FULL --pagecache=1m neo4j system"},
		{"2025.06.0", BackupAuto, "neo4j-admin database backup --from=a:6362 --to-path=/b --pagecache=1m neo4j system"},
		{"4.4.40", BackupDiff, "neo4j-admin backup --from=a:6362 --backup-dir=/b --database=neo4j --pagecache=1m | neo4j-admin backup --from=a:6362 --backup-dir=/b --database=system --pagecache=1m"},
	} {
		v, _ := ParseVersion(tt.version)
		var got []string
		for _, c := range BackupCommandsOfType(v, tt.typ, from, "/b", []string{"neo4j", "system"}, "1m") {
			got = append(got, strings.Join(c.Args, " "))
		}
		if g := strings.Join(got, " | "); g != tt.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tt.version, tt.typ, g, tt.want)
		}
	}
}
