package annotations

// Fuzz targets of the annotation checks. `make fuzz` runs each for a
// bounded time after the tests; crashers found go under
// testdata/fuzz/<target>/ as regression cases.

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

// annotationSeeds are key and value pairs from the tests above: good
// values, bad ones, keys out of place and typos.
var annotationSeeds = [][2]string{
	{Schedule, "0 3 * * *"}, {Schedule, "@hourly"}, {Schedule, "every night"}, {Schedule, "0 0 3 * * *"}, {Schedule, "CRON_TZ=UTC 0 3 * * *"},
	{VerifySchedule, "0 5 * * 0"}, {VerifySchedule, "weekly"},
	{Timezone, "Europe/Berlin"}, {Timezone, "Mars/Olympus"}, {Timezone, "Local"},
	{Destination, "s3://b-1/prefix/x"}, {Destination, "bucket/prefix"}, {Destination, "s3://a/prefix"},
	{Endpoint, "nyc3.digitaloceanspaces.com"}, {Endpoint, "http://minio.storage:9000"}, {Endpoint, "https://s3.example.com/bucket"}, {Endpoint, "https://user:hunter2@s3.example.com"},
	{Region, "nyc3"}, {Region, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	{CredentialsSecret, "s3-creds"}, {CredentialsSecret, "AKIAIOSFODNN7EXAMPLE"},
	{From, "neo4j-0.neo4j:6362,neo4j-1.neo4j:6362"}, {From, "neo4j-0.neo4j"}, {From, "[::1]:0"},
	{Databases, "neo4j,system"}, {Databases, "neo4j,1st"}, {Databases, " , "},
	{Keep, "7d"}, {Keep, "24"}, {Keep, "7 days"}, {Keep, "0"}, {Keep, "36h"},
	{Image, "neo4j:5.26-enterprise"}, {VolumeSize, "20Gi"}, {VolumeSize, "lots"},
	{BackupMemory, "4Gi"}, {BackupMemory, "512Mi"}, {BackupMemory, "2 GB"}, {BackupMemory, "256Mi"},
	{Suspend, "false"}, {Suspend, "yes"},
	{Restore, "latest"}, {Restore, "2021-11-11T10:00:00Z"}, {Restore, "2021-11-11T12:00:00+02:00"}, {Restore, "11Nov2021-10:00:00"}, {Restore, "2021-11-11 10:00"},
	{RestoreFrom, "s3://old/x/ns/sts"}, {RestoreDatabases, "neo4j, movies"}, {RestoreDatabases, "Neo4j, MOVIES,neo4j"},
	{RestoreMode, "fetch"}, {RestoreMode, "both"},
	{RestoreMemory, "4Gi"}, {RestoreMemory, "256Mi"}, {RestoreMemory, "255Mi"}, {RestoreMemory, "-4Gi"}, {RestoreMemory, "4 GB"},
	{RestoreVolumeSize, "200Gi"}, {RestoreVolumeSize, "1Gi"}, {RestoreVolumeSize, "1000Mi"}, {RestoreVolumeSize, "0"}, {RestoreVolumeSize, "big"},
	{RestoreStatus, "injected"}, {RestoreStatus, "done"},
	{DeploymentLabel, "graph"}, {"neo4j-backup.io/schedul", "0 3 * * *"}, {"neo4j-backup.io/colour", "blue"}, {"neo4j-backup.io/deploymnt", "graph"},
	{"example.com/schedule", "x"}, {Prefix, ""},
}

// FuzzValidateAnnotation checks one annotation on a Namespace and on a
// StatefulSet: a key without the prefix is not ours, one with it is one
// problem at most, which names the key and is one line; and a value the
// validator accepts, ReadRestore reads without error, as that value.
func FuzzValidateAnnotation(f *testing.F) {
	for _, s := range annotationSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		ann := map[string]string{key: value}
		nsProblems, stsProblems := ValidateNamespace(ann), ValidateStatefulSet(ann)
		for _, problems := range [][]string{nsProblems, stsProblems} {
			checkProblems(t, key, value, problems)
		}
		if len(stsProblems) == 0 && slices.Contains(CopiedToTemplate, key) {
			pod := map[string]string{Restore: "latest", key: value}
			s, err := ReadRestore(pod, nil, "team", "graph", "s3://server-default")
			if err != nil {
				t.Fatalf("ValidateStatefulSet accepts %s=%q, but ReadRestore of a pod with it fails: %v", key, value, err)
			}
			checkRead(t, s, pod, nil)
		}
		if len(nsProblems) == 0 && slices.Contains([]string{Destination, Endpoint, Region, CredentialsSecret}, key) {
			pod := map[string]string{Restore: "latest"}
			s, err := ReadRestore(pod, ann, "team", "graph", "s3://server-default")
			if err != nil {
				t.Fatalf("ValidateNamespace accepts %s=%q, but ReadRestore of a pod in that Namespace fails: %v", key, value, err)
			}
			checkRead(t, s, pod, ann)
		}
	})
}

// FuzzReadRestore reads the restore settings of a pod with up to every
// restore annotation (an empty argument leaves that one out) in a
// Namespace with a destination: ReadRestore fails exactly when the
// validators find a problem in those annotations, and otherwise reads
// what they say.
func FuzzReadRestore(f *testing.F) {
	f.Add("latest", "", "", "", "", "", "", "", "", "s3://ns-bucket/backups")
	f.Add("2021-11-11T10:00:00Z", "s3://old/x/ns/sts", "neo4j, movies", "fetch", "200Gi", "4Gi", "pod.example.com", "eu-west-1", "pod-creds", "")
	f.Add("11Nov2021-10:00:00", "", "Neo4j, MOVIES,neo4j", "restore", "1Gi", "256Mi", "http://minio.storage:9000", "nyc3", "c", "s3://b-1/prefix/x")
	f.Add("yesterday", "bucket/prefix", "1st", "both", "1000Mi", "255Mi", "https://s3.example.com/bucket", "EU", "AKIAIOSFODNN7EXAMPLE", "s3://a/prefix")
	f.Fuzz(func(t *testing.T, restore, from, databases, mode, volumeSize, memory, endpoint, region, secret, destination string) {
		pod := map[string]string{}
		for k, v := range map[string]string{
			Restore: restore, RestoreFrom: from, RestoreDatabases: databases, RestoreMode: mode,
			RestoreVolumeSize: volumeSize, RestoreMemory: memory, Endpoint: endpoint, Region: region, CredentialsSecret: secret,
		} {
			if v != "" {
				pod[k] = v
			}
		}
		var ns map[string]string
		if destination != "" {
			ns = map[string]string{Destination: destination}
		}
		problems := append(ValidateStatefulSet(pod), ValidateNamespace(ns)...)
		s, err := ReadRestore(pod, ns, "team", "graph", "s3://server-default")
		switch {
		case len(problems) > 0 && err == nil:
			t.Fatalf("ReadRestore read %v though the validators say %q", pod, problems)
		case len(problems) == 0 && err != nil:
			t.Fatalf("ReadRestore of %v, %v fails though the validators accept them: %v", pod, ns, err)
		case err != nil:
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ReadRestore's error is more than one line: %q", err)
			}
		default:
			checkRead(t, s, pod, ns)
		}
	})
}

// checkProblems checks the problems the validators found in the one
// annotation key=value.
func checkProblems(t *testing.T, key, value string, problems []string) {
	t.Helper()
	if !strings.HasPrefix(key, Prefix) {
		if len(problems) > 0 {
			t.Errorf("%s is not a %s key, but the validator says %q", key, Prefix, problems)
		}
		return
	}
	if len(problems) > 1 {
		t.Errorf("one annotation, %d problems: %q", len(problems), problems)
	}
	for _, p := range problems {
		if !strings.Contains(p, key) {
			t.Errorf("problem %q does not name the key %s", p, key)
		}
		// Keys the apiserver stores are qualified names; a value may hold
		// anything, and the user reads the denial on one line.
		if len(validation.IsQualifiedName(key)) == 0 && strings.Contains(p, "\n") {
			t.Errorf("problem with %s=%q is more than one line: %q", key, value, p)
		}
	}
}

// checkRead checks that the settings s are what the pod's and the
// Namespace's annotations say, read by deployment graph in namespace team
// with the server default s3://server-default.
func checkRead(t *testing.T, s RestoreSettings, pod, ns map[string]string) {
	t.Helper()
	or := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	if s.At != pod[Restore] || s.Mode != or(pod[RestoreMode], ModeRestore) ||
		s.Endpoint != or(pod[Endpoint], ns[Endpoint]) || s.Region != or(pod[Region], ns[Region]) ||
		s.CredentialsSecret != or(pod[CredentialsSecret], ns[CredentialsSecret]) {
		t.Errorf("ReadRestore(%v, %v) = %+v", pod, ns, s)
	}
	if !slices.Equal(s.Databases, DatabaseList(pod[RestoreDatabases])) {
		t.Errorf("databases %q from %q", s.Databases, pod[RestoreDatabases])
	}
	var want storage.Location
	if v := pod[RestoreFrom]; v != "" {
		want, _ = storage.ParseLocation(v)
	} else {
		base, err := storage.ParseLocation(or(ns[Destination], "s3://server-default"))
		if err != nil {
			t.Fatalf("the destination %q was accepted but does not parse: %v", ns[Destination], err)
		}
		want = base.Join("team", "graph")
	}
	if s.From.String() != want.String() {
		t.Errorf("restores from %s, want %s", s.From, want.String())
	}
	for _, q := range []struct {
		key string
		got resource.Quantity
	}{{RestoreVolumeSize, s.VolumeSize}, {RestoreMemory, s.Memory}} {
		want := resource.Quantity{}
		if v := pod[q.key]; v != "" {
			want = resource.MustParse(v)
		}
		if q.got.Cmp(want) != 0 {
			t.Errorf("%s %s read as %s", q.key, pod[q.key], q.got.String())
		}
	}
}
