package neo4j

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref        string
		want       string
		enterprise bool
		err        string
	}{
		{"neo4j:4.2.8-enterprise", "4.2.8", true, ""},
		{"neo4j:5.26.0-enterprise", "5.26.0", true, ""},
		{"neo4j:5-enterprise", "5.0.0", true, ""},
		{"docker.io/library/neo4j:2025.06.0-enterprise", "2025.06.0", true, ""},
		{"registry.example.com/mirror/neo4j-enterprise:2025.06.0@sha256:abc", "2025.06.0", true, ""},
		{"neo4j:5.26.0", "5.26.0", false, ""},
		{"neo4j:5.26.0-community", "5.26.0", false, ""},
		{"neo4j", "", false, "has no version tag"},
		{"neo4j:latest", "", false, "has no version tag"},
		{"neo4j:3.5.35-enterprise", "", false, "is not supported"},
	}
	for _, tt := range tests {
		img, err := ParseImage(tt.ref)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseImage(%q) error = %v, want one saying %q", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil || img.Version.String() != tt.want || img.Enterprise != tt.enterprise {
			t.Errorf("ParseImage(%q) = %v enterprise=%v, %v; want %s enterprise=%v", tt.ref, img.Version, img.Enterprise, err, tt.want, tt.enterprise)
		}
	}
}

func TestCommands(t *testing.T) {
	v := func(s string) Version {
		ver, err := ParseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		return ver
	}
	join := func(calls []BackupCall) string {
		var lines []string
		for _, c := range calls {
			lines = append(lines, strings.Join(c.Args, " ")+"  # "+strings.Join(c.Databases, ","))
		}
		return strings.Join(lines, "\n")
	}
	from := []string{"core-0:6362", "core-1:6362"}
	dbs := []string{"neo4j", "system"}
	tests := []struct{ name, got, want string }{
		{"4.1 backup, one per database, first address",
			join(BackupCommands(v("4.1.12"), from, "/backup", dbs, "512m")),
			"neo4j-admin backup --from=core-0:6362 --backup-dir=/backup --database=neo4j --pagecache=512m  # neo4j\nneo4j-admin backup --from=core-0:6362 --backup-dir=/backup --database=system --pagecache=512m  # system"},
		{"5.15 backup, one per database",
			join(BackupCommands(v("5.15.0"), from, "/backup", dbs, "512m")),
			"neo4j-admin database backup --from=core-0:6362,core-1:6362 --to-path=/backup --pagecache=512m neo4j  # neo4j\nneo4j-admin database backup --from=core-0:6362,core-1:6362 --to-path=/backup --pagecache=512m system  # system"},
		{"5.16 backup, one call",
			join(BackupCommands(v("5.16.0"), from, "/backup", dbs, "512m")),
			"neo4j-admin database backup --from=core-0:6362,core-1:6362 --to-path=/backup --pagecache=512m neo4j system  # neo4j,system"},
		{"calendar backup, one call, neo4j-admin's page cache",
			join(BackupCommands(v("2025.06.0"), from, "/backup", dbs, "")),
			"neo4j-admin database backup --from=core-0:6362,core-1:6362 --to-path=/backup neo4j system  # neo4j,system"},
		{"4.0 restore has no --expand-commands",
			strings.Join(RestoreCommand(v("4.0.0"), "/plugins/b/neo4j", "neo4j", true), " "),
			"neo4j-admin restore --from=/plugins/b/neo4j --database=neo4j --force"},
		{"4.2 restore: --expand-commands is documented for import only",
			strings.Join(RestoreCommand(v("4.2.8"), "/plugins/b/neo4j", "neo4j", true), " "),
			"neo4j-admin restore --from=/plugins/b/neo4j --database=neo4j --force"},
		{"4.3 restore with command expansion",
			strings.Join(RestoreCommand(v("4.3.0"), "/plugins/b/neo4j", "neo4j", true), " "),
			"neo4j-admin restore --from=/plugins/b/neo4j --database=neo4j --force --expand-commands"},
		{"5.x restore",
			strings.Join(RestoreCommand(v("5.26.0"), "/p/neo4j-2025-01-01T00-00-00.backup", "neo4j", false), " "),
			"neo4j-admin database restore --from-path=/p/neo4j-2025-01-01T00-00-00.backup --overwrite-destination=true neo4j"},
		{"4.x unbind", strings.Join(UnbindCommand(v("4.4.0"), false), " "), "neo4j-admin unbind"},
		{"5.x unbind", strings.Join(UnbindCommand(v("5.26.0"), true), " "), "neo4j-admin server unbind --expand-commands"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestDatabaseOf(t *testing.T) {
	for _, tt := range []struct {
		name  string
		isDir bool
		want  string
		ok    bool
	}{
		{"neo4j", true, "neo4j", true},
		{"neo4j-2025-01-31T10-00-00.backup", false, "neo4j", true},
		{"my-db.v2-2025-01-31T10-00-00.backup", false, "my-db.v2", true},
		{"manifest.json", false, "", false},
	} {
		got, ok := DatabaseOf(tt.name, tt.isDir)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DatabaseOf(%q, %v) = %q, %v; want %q, %v", tt.name, tt.isDir, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDatabases(t *testing.T) {
	cases := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"4.x: a folder per database", []string{"neo4j/neostore", "neo4j/schema/x", "system/neostore"}, []string{"neo4j", "system"}},
		{"5.x: a .backup file per database", []string{"neo4j-2023-06-29T14-51-33.backup", "system-2023-06-29T14-51-35.backup", "my-db-2023-06-29T14-51-36.backup"}, []string{"my-db", "neo4j", "system"}},
		{"5.x: full and differential", []string{"neo4j-2023-06-29T14-51-33.backup", "neo4j-2023-06-30T14-51-33.backup"}, []string{"neo4j"}},
		{"5.x in folders", []string{"x/neo4j-2023-06-29T14-51-33.backup", "x/notes.txt"}, []string{"neo4j"}},
		{"loose files only", []string{"a.txt", "b"}, nil},
	}
	for _, c := range cases {
		if got := Databases(c.paths); !slices.Equal(got, c.want) {
			t.Errorf("%s: Databases = %v; want %v", c.name, got, c.want)
		}
	}
}

func TestIsImageAndCommunity(t *testing.T) {
	for _, tt := range []struct {
		ref                string
		isImage, community bool
	}{
		{"neo4j:5.26.0-enterprise", true, false},
		{"docker.io/library/neo4j:5.26.0", true, true},
		{"registry.example.com:5000/mirror/neo4j-enterprise:2025.06.0@sha256:abc", true, false},
		{"neo4j@sha256:abc", true, false}, // no tag: the edition cannot be told
		{"bitnami/neo4j-tools:1.0", false, false},
		{"registry.example.com/neo4j-backup:1.0", false, false},
	} {
		img, _ := ParseImage(tt.ref)
		if IsImage(tt.ref) != tt.isImage || img.Community() != tt.community {
			t.Errorf("%s: IsImage %v, Community %v; want %v, %v", tt.ref, IsImage(tt.ref), img.Community(), tt.isImage, tt.community)
		}
	}
}

func TestContainer(t *testing.T) {
	spec := func(containers ...corev1.Container) *corev1.PodSpec { return &corev1.PodSpec{Containers: containers} }
	for _, tt := range []struct {
		name string
		spec *corev1.PodSpec
		want string
	}{
		{"by image, whatever its name", spec(corev1.Container{Name: "sidecar", Image: "busybox"}, corev1.Container{Name: "db", Image: "neo4j:5.26-enterprise"}), "db"},
		{"the image wins over the name", spec(corev1.Container{Name: "neo4j", Image: "busybox"}, corev1.Container{Name: "db", Image: "mirror/neo4j-enterprise:5.26"}), "db"},
		{"by name when no image says Neo4j", spec(corev1.Container{Name: "sidecar", Image: "busybox"}, corev1.Container{Name: "neo4j", Image: "example/graph:1"}), "neo4j"},
		{"none", spec(corev1.Container{Name: "app", Image: "busybox"}), ""},
	} {
		got := ""
		if c := Container(tt.spec); c != nil {
			got = c.Name
		}
		if got != tt.want {
			t.Errorf("%s: Container = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestDatabasesIn(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"neo4j-2023-06-29T14-51-33.backup", "nested/system-2023-06-29T14-51-35.backup", "notes.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DatabasesIn(dir)
	if err != nil || !slices.Equal(got, []string{"neo4j", "system"}) {
		t.Errorf("DatabasesIn = %v, %v; want [neo4j system]", got, err)
	}
	if _, err := DatabasesIn(filepath.Join(dir, "missing")); err == nil {
		t.Error("DatabasesIn of a missing folder: no error")
	}
}
