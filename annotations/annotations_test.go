package annotations

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateNamespace(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string // substrings, one per problem, in key order
	}{
		{"none", nil, nil},
		{"other prefixes are not ours", map[string]string{"example.com/schedule": "x"}, nil},
		{"a full valid set", map[string]string{
			Schedule: "0 3 * * *", Timezone: "Europe/Berlin", Destination: "s3://b-1/prefix/x",
			Endpoint: "nyc3.digitaloceanspaces.com", Region: "nyc3", CredentialsSecret: "s3-creds",
			From: "neo4j-0.neo4j:6362,neo4j-1.neo4j:6362", Databases: "neo4j,system", Keep: "7d",
			Image: "neo4j:5.26-enterprise", VolumeSize: "20Gi", BackupMemory: "4Gi", Suspend: "false",
		}, nil},
		{"the least backup memory", map[string]string{BackupMemory: "512Mi"}, nil},
		{"descriptor schedule, count keep, URL endpoint", map[string]string{Schedule: "@hourly", Keep: "24", Endpoint: "http://minio.storage:9000"}, nil},
		{"typo", map[string]string{"neo4j-backup.io/schedul": "0 3 * * *"}, []string{"unknown annotation neo4j-backup.io/schedul; did you mean neo4j-backup.io/schedule?"}},
		{"nothing close", map[string]string{"neo4j-backup.io/colour": "blue"}, []string{"unknown annotation neo4j-backup.io/colour; see the README"}},
		{"restore belongs on the StatefulSet", map[string]string{Restore: "latest"}, []string{"does not belong on a Namespace; put it on the Neo4j StatefulSet"}},
		{"restore sizes belong on the StatefulSet", map[string]string{RestoreMemory: "4Gi", RestoreVolumeSize: "200Gi"}, []string{"restore-memory does not belong on a Namespace", "restore-volume-size does not belong on a Namespace"}},
		{"bad schedule", map[string]string{Schedule: "every night"}, []string{`"every night" is not a cron schedule`}},
		{"six fields", map[string]string{Schedule: "0 0 3 * * *"}, []string{"is not a cron schedule"}},
		{"time zone inside the schedule", map[string]string{Schedule: "CRON_TZ=UTC 0 3 * * *"}, []string{"use neo4j-backup.io/timezone"}},
		{"drill schedule", map[string]string{Schedule: "0 3 * * *", VerifySchedule: "0 5 * * 0"}, nil},
		{"bad drill schedule", map[string]string{VerifySchedule: "weekly"}, []string{`neo4j-backup.io/verify-schedule: "weekly" is not a cron schedule`}},
		{"time zone inside the drill schedule", map[string]string{VerifySchedule: "TZ=UTC @weekly"}, []string{"use neo4j-backup.io/timezone"}},
		{"bad time zone", map[string]string{Timezone: "Mars/Olympus"}, []string{"not an IANA time zone"}},
		{"destination without scheme", map[string]string{Destination: "bucket/prefix"}, []string{"write it as s3://bucket/prefix"}},
		{"destination with bad bucket", map[string]string{Destination: "s3://a/prefix"}, []string{"is not a valid bucket name"}},
		{"endpoint with path", map[string]string{Endpoint: "https://s3.example.com/bucket"}, []string{"not an S3 endpoint"}},
		{"from without port", map[string]string{From: "neo4j-0.neo4j"}, []string{"not a list of host:port"}},
		{"bad database", map[string]string{Databases: "neo4j,1st"}, []string{`"1st" is not a Neo4j database name`}},
		{"bad keep", map[string]string{Keep: "7 days"}, []string{"neither a count (24), an age (7d, 36h) nor a list of periods (24h,7d,4w,12m)"}},
		{"zero keep", map[string]string{Keep: "0"}, []string{"would remove every backup"}},
		{"full every day", map[string]string{FullEvery: "1d"}, nil},
		{"full every as hours", map[string]string{FullEvery: "36h"}, nil},
		{"full every as a count", map[string]string{FullEvery: "24"}, []string{`neo4j-backup.io/full-every: "24" is not an age; write how often a full backup is taken like 1d, 12h or 7d`}},
		{"full every as periods", map[string]string{FullEvery: "24h,7d"}, []string{"is not an age"}},
		{"full every zero", map[string]string{FullEvery: "0h"}, []string{"is not an age"}},
		{"full every misspelt", map[string]string{"neo4j-backup.io/full-evry": "1d"}, []string{"did you mean neo4j-backup.io/full-every?"}},
		{"bad size", map[string]string{VolumeSize: "lots"}, []string{"not a size"}},
		{"bad bool", map[string]string{Suspend: "yes"}, []string{"must be true or false"}},
		{"backup memory not a quantity", map[string]string{BackupMemory: "2 GB"}, []string{`"2 GB" is not a memory size; write it like 2Gi`}},
		{"backup memory too small", map[string]string{BackupMemory: "256Mi"}, []string{"give it at least 512Mi"}},
		{"the deployment label as an annotation", map[string]string{DeploymentLabel: "graph"}, []string{"neo4j-backup.io/deployment is a label, not an annotation: remove the annotation and label the StatefulSets of one Neo4j deployment with it, like kubectl label statefulset NAME neo4j-backup.io/deployment=graph"}},
		{"access key", map[string]string{CredentialsSecret: "AKIAIOSFODNN7EXAMPLE"}, []string{"looks like it holds a credential"}},
		{"secret key", map[string]string{Region: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, []string{"looks like it holds a credential"}},
		{"password in URL", map[string]string{Endpoint: "https://user:hunter2@s3.example.com"}, []string{"looks like it holds a credential"}},
		{"several problems, all reported", map[string]string{Keep: "x", Suspend: "y"}, []string{"keep", "suspend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateNamespace(tt.annotations)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %q, want %d like %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to say %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestValidateStatefulSet(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        string // substring of the only problem; empty for none
	}{
		{"backup ID", map[string]string{Restore: "2021-11-11T10:00:00Z"}, ""},
		{"time with offset", map[string]string{Restore: "2021-11-11T12:00:00+02:00"}, ""},
		{"latest, fetch mode, own store", map[string]string{Restore: "latest", RestoreMode: "fetch", RestoreFrom: "s3://old/x/ns/sts", Endpoint: "s3.example.com", CredentialsSecret: "c"}, ""},
		{"legacy folder", map[string]string{Restore: "11Nov2021-10:00:00"}, ""},
		{"restore databases", map[string]string{Restore: "latest", RestoreDatabases: "neo4j, movies"}, ""},
		{"bad time", map[string]string{Restore: "2021-11-11 10:00"}, `is not "latest", a backup ID, a time such as 2021-11-11T10:00:00Z`},
		{"bad mode", map[string]string{RestoreMode: "both"}, "must be restore or fetch"},
		{"schedule belongs on the namespace", map[string]string{Schedule: "@daily"}, "does not belong on a StatefulSet; put it on the Namespace"},
		{"typo", map[string]string{"neo4j-backup.io/restor": "latest"}, "did you mean neo4j-backup.io/restore?"},
		{"status set by hand", map[string]string{RestoreStatus: "done"}, "is written by neo4j-backup on pods"},
		{"the deployment label as an annotation", map[string]string{DeploymentLabel: "graph"}, "is a label, not an annotation"},
		{"a typo of the label is no annotation to suggest", map[string]string{"neo4j-backup.io/deploymnt": "graph"}, "unknown annotation neo4j-backup.io/deploymnt; see the README"},
		{"restore memory and stage volume", map[string]string{Restore: "latest", RestoreMemory: "4Gi", RestoreVolumeSize: "200Gi"}, ""},
		{"the least restore memory and stage volume", map[string]string{RestoreMemory: "256Mi", RestoreVolumeSize: "1Gi"}, ""},
		{"restore memory not a quantity", map[string]string{RestoreMemory: "4 GB"}, `neo4j-backup.io/restore-memory: "4 GB" is not a memory size; write it like 4Gi`},
		{"restore memory too small", map[string]string{RestoreMemory: "255Mi"}, `"255Mi" is less than neo4j-admin's restore needs; give it at least 256Mi`},
		{"restore memory negative", map[string]string{RestoreMemory: "-4Gi"}, "give it at least 256Mi"},
		{"stage volume not a quantity", map[string]string{RestoreVolumeSize: "big"}, `neo4j-backup.io/restore-volume-size: "big" is not a size; write it like 200Gi`},
		{"stage volume too small", map[string]string{RestoreVolumeSize: "1000Mi"}, `"1000Mi" is too small to stage a backup in; give it at least 1Gi`},
		{"stage volume zero", map[string]string{RestoreVolumeSize: "0"}, "give it at least 1Gi"},
		{"backup memory belongs on the Namespace", map[string]string{BackupMemory: "4Gi"}, "does not belong on a StatefulSet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateStatefulSet(tt.annotations)
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("got problems %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("got %q, want one problem saying %q", got, tt.want)
			}
		})
	}
}

func TestReadRestorePrecedence(t *testing.T) {
	ns := map[string]string{Destination: "s3://ns-bucket/backups", Endpoint: "ns.example.com", Region: "ns-1", CredentialsSecret: "ns-creds"}
	pod := map[string]string{Restore: "latest", Endpoint: "pod.example.com", CredentialsSecret: "pod-creds"}
	s, err := ReadRestore(pod, ns, "team", "graph", "s3://server-default")
	if err != nil {
		t.Fatal(err)
	}
	if s.From.String() != "s3://ns-bucket/backups/team/graph" || s.Endpoint != "pod.example.com" || s.Region != "ns-1" || s.CredentialsSecret != "pod-creds" || s.Mode != ModeRestore {
		t.Errorf("got %+v; want the StatefulSet's endpoint and Secret, the namespace's region and destination, mode restore", s)
	}
	s, err = ReadRestore(map[string]string{Restore: "latest"}, nil, "team", "graph", "s3://server-default/root/")
	if err != nil || s.From.String() != "s3://server-default/root/team/graph" {
		t.Errorf("with no namespace destination got %v, %v; want the server default s3://server-default/root/team/graph", s.From, err)
	}
}

func TestReadRestoreSizes(t *testing.T) {
	s, err := ReadRestore(map[string]string{Restore: "latest"}, nil, "team", "graph", "s3://server-default")
	if err != nil || !s.Memory.IsZero() || !s.VolumeSize.IsZero() {
		t.Errorf("without the annotations got memory %v, volume size %v, error %v; want zero for both, the defaults", &s.Memory, &s.VolumeSize, err)
	}
	s, err = ReadRestore(map[string]string{Restore: "latest", RestoreMemory: "4Gi", RestoreVolumeSize: "200Gi"}, nil, "team", "graph", "s3://server-default")
	if err != nil || s.Memory.String() != "4Gi" || s.VolumeSize.String() != "200Gi" {
		t.Errorf("got memory %v, volume size %v, error %v; want 4Gi and 200Gi", &s.Memory, &s.VolumeSize, err)
	}
	_, err = ReadRestore(map[string]string{Restore: "latest", RestoreMemory: "1Mi"}, nil, "team", "graph", "s3://server-default")
	if err == nil || !strings.Contains(err.Error(), "give it at least 256Mi") {
		t.Errorf("with 1Mi of restore memory got error %v, want one saying to give it at least 256Mi", err)
	}
}

func TestRestoreSizesAreCopiedToTemplate(t *testing.T) {
	for _, k := range []string{RestoreMemory, RestoreVolumeSize} {
		if !slices.Contains(CopiedToTemplate, k) {
			t.Errorf("%s is not copied into the pod template, so annotating the StatefulSet with it would change no pod", k)
		}
	}
}

func TestReadRestoreDatabasesAreLowerCase(t *testing.T) {
	s, err := ReadRestore(map[string]string{Restore: "latest", RestoreDatabases: "Neo4j, MOVIES,neo4j"}, nil, "team", "graph", "s3://server-default")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Databases, ","); got != "neo4j,movies" {
		t.Errorf("databases = %s, want neo4j,movies: lower case, each once", got)
	}
}

func TestReadRestoreWithoutDeployment(t *testing.T) {
	_, err := ReadRestore(map[string]string{Restore: "latest"}, nil, "team", "", "s3://server-default")
	if err == nil || !strings.Contains(err.Error(), "s3://bucket/prefix/<namespace>/<deployment>") {
		t.Errorf("error = %v, want one saying to set restore-from to s3://bucket/prefix/<namespace>/<deployment>", err)
	}
}

func TestDeploymentOf(t *testing.T) {
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   string
		alone  bool
	}{
		{"alone", map[string]string{"app": "graph"}, "graph-core", true},
		{"official chart", map[string]string{"helm.neo4j.com/neo4j.name": "my-cluster"}, "my-cluster", false},
		{"neo4j-contrib chart", map[string]string{"app.kubernetes.io/instance": "my-neo4j", "app.kubernetes.io/name": "neo4j"}, "my-neo4j", false},
		{"the user's label wins", map[string]string{DeploymentLabel: "graph", "helm.neo4j.com/neo4j.name": "my-cluster"}, "graph", false},
		{"an empty label is none", map[string]string{DeploymentLabel: ""}, "graph-core", true},
	} {
		name, by := DeploymentOf("graph-core", tt.labels)
		if name != tt.want || (by == "") != tt.alone {
			t.Errorf("%s: DeploymentOf = %q by %q, want %q (alone %v)", tt.name, name, by, tt.want, tt.alone)
		}
	}
}

func TestDatabaseList(t *testing.T) {
	if got := strings.Join(DatabaseList(" Neo4j ,SYSTEM,,neo4j"), ","); got != "neo4j,system" {
		t.Errorf("DatabaseList = %s, want neo4j,system", got)
	}
}
