package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// cli runs the command line as a user would and returns what they see.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// s3Env points the AWS environment at a test server, as a user's shell or a
// pod's env would, and keeps the developer's own AWS settings out.
func s3Env(t *testing.T, srv *s3test.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", s3test.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	old := s3Retries
	s3Retries = 1
	t.Cleanup(func() { s3Retries = old })
}

func TestUploadListFetchPrune(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	src := t.TempDir()
	testfiles.WriteAll(t, src, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system", "neo4j/empty": ""})
	dest := "s3://" + srv.Bucket + "/prod/graph"

	for _, id := range []string{"2021-11-11T10:00:00Z", "2021-11-12T10:00:00Z"} {
		code, stdout, stderr := cli(t, "upload", "--from", src, "--to", dest, "--id", id, "--databases", "neo4j, system")
		if code != 0 || stdout != id+"\n" {
			t.Fatalf("upload = %d, %q, %q; want 0 and the ID", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "uploaded 11 B in 3 files") {
			t.Errorf("upload progress said %q; want a summary line", stderr)
		}
	}

	code, stdout, stderr := cli(t, "list", "--from", dest)
	wantTable := "BACKUP                STATUS    TYPE  PARENT  SIZE  FILES  DATABASES\n" +
		"2021-11-11T10:00:00Z  complete  full  -       11 B  3      neo4j,system\n" +
		"2021-11-12T10:00:00Z  complete  full  -       11 B  3      neo4j,system\n" +
		"restore window: 2021-11-11T10:00:00Z to 2021-11-12T10:00:00Z; a time inside a chain restores exactly to that time, any other to the newest backup before it\n"
	if code != 0 || stdout != wantTable {
		t.Errorf("list = %d, stderr %q, table:\n%s\nwant:\n%s", code, stderr, stdout, wantTable)
	}
	code, stdout, _ = cli(t, "list", "--from", dest, "-o", "json")
	var listed []listedBackup
	if err := json.Unmarshal([]byte(stdout), &listed); code != 0 || err != nil || len(listed) != 2 || listed[1].Status != "complete" {
		t.Errorf("list -o json = %d, %v: %s", code, err, stdout)
	}

	// A flag overrides the environment.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	to := filepath.Join(t.TempDir(), "plugins")
	code, stdout, stderr = cli(t, "fetch", "--from", dest, "--at", "2021-11-11T23:00:00Z", "--to", to, "--endpoint", srv.Endpoint)
	if want := filepath.Join(to, "2021-11-11T10:00:00Z") + "\n"; code != 0 || stdout != want {
		t.Fatalf("fetch = %d, %q, %q; want 0 and %q", code, stdout, stderr, want)
	}
	if got, _ := os.ReadFile(filepath.Join(to, "2021-11-11T10:00:00Z", "neo4j", "neostore")); string(got) != "graph" {
		t.Errorf("fetched neo4j/neostore = %q", got)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)

	code, stdout, _ = cli(t, "prune", "--from", dest, "--keep", "1", "--dry-run")
	if want := "would keep   2021-11-12T10:00:00Z (complete): the newest complete backup\n" +
		"would remove 2021-11-11T10:00:00Z (complete): not kept by --keep 1\n"; code != 0 || stdout != want {
		t.Errorf("prune --dry-run = %d, %q", code, stdout)
	}
	code, stdout, _ = cli(t, "prune", "--from", dest, "--keep", "1", "--in-use", "2021-11-11T10:00:00Z")
	if code != 0 || stdout != "" {
		t.Errorf("prune sparing the one in use = %d, %q; want nothing removed", code, stdout)
	}
	code, stdout, _ = cli(t, "prune", "--from", dest, "--keep", "1")
	if code != 0 || stdout != "removed 2021-11-11T10:00:00Z (complete)\n" {
		t.Errorf("prune = %d, %q", code, stdout)
	}
	code, _, stderr = cli(t, "upload", "--from", src, "--to", dest, "--id", "2021-11-12T10:00:00Z")
	if code != 1 || !strings.Contains(stderr, "backup 2021-11-12T10:00:00Z already exists") {
		t.Errorf("uploading an existing ID = %d, %q", code, stderr)
	}

	// A folder the old s3cmd CronJob wrote comes back by name, with a warning.
	legacy := "prod/graph/11Nov2021-10:00:00/tmp/neo4j/neostore"
	if _, err := srv.Client().PutObject(t.Context(), srv.Bucket, legacy, strings.NewReader("old"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, "fetch", "--from", dest, "--at", "11Nov2021-10:00:00", "--to", to)
	if code != 0 || stdout != filepath.Join(to, "11Nov2021-10:00:00")+"\n" ||
		!strings.Contains(stderr, "warning: 11Nov2021-10:00:00 is a legacy backup without a manifest; its files were fetched unverified") {
		t.Errorf("fetching a legacy backup = %d, %q, %q", code, stdout, stderr)
	}
}

// Every error is one line naming what was wrong and what to do; mistakes in
// the call exit 2, failures exit 1.
func TestTransferErrors(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	src := t.TempDir()
	testfiles.WriteAll(t, src, map[string]string{"neo4j/neostore": "graph"})
	dest := "s3://" + srv.Bucket + "/p"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"upload without --from", nil, []string{"upload", "--to", dest}, 2, "--from DIR is required"},
		{"upload to a path", nil, []string{"upload", "--from", src, "--to", "/backups"}, 2, `--to: "/backups" is not an S3 location; write it as s3://bucket/prefix`},
		{"upload with a bad --id", nil, []string{"upload", "--from", src, "--to", dest, "--id", "monday"}, 2, `--id: "monday" is not a backup ID`},
		{"upload with a bad --keep", nil, []string{"upload", "--from", src, "--to", dest, "--keep", "forever"}, 2, `--keep: keep "forever" is neither a count`},
		{"upload from nowhere", nil, []string{"upload", "--from", filepath.Join(src, "missing"), "--to", dest}, 1, "no such file or directory"},
		{"fetch with a bad --at", nil, []string{"fetch", "--from", dest, "--at", "yesterday", "--to", src}, 2, `--at: "yesterday" is not "latest"`},
		{"fetch without --to", nil, []string{"fetch", "--from", dest, "--at", "latest"}, 2, "--to DIR is required"},
		{"prune without --keep", nil, []string{"prune", "--from", dest}, 2, "--keep is required"},
		{"prune everything", nil, []string{"prune", "--from", dest, "--keep", "0"}, 2, "keep at least 1"},
		{"list as xml", nil, []string{"list", "--from", dest, "-o", "xml"}, 2, "--output xml: choose table, json or yaml"},
		{"an unknown flag", nil, []string{"list", "--from", dest, "--bucket", "x"}, 2, "unknown flag: --bucket; run neo4j-backup list --help"},
		{"wrong credentials", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, []string{"list", "--from", dest}, 1, "refused the credentials for " + dest + " (SignatureDoesNotMatch"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, []string{"list", "--from", dest}, 1, "no S3 credentials were found"},
		{"missing bucket", nil, []string{"upload", "--from", src, "--to", "s3://no-such-bucket/p"}, 1, `bucket "no-such-bucket" does not exist`},
		{"unreachable endpoint", nil, []string{"fetch", "--from", dest, "--at", "latest", "--to", src, "--endpoint", "http://127.0.0.1:1"}, 1, "cannot reach the object store at http://127.0.0.1:1 (connection refused); check --endpoint"},
		{"TLS to a plain HTTP server", nil, []string{"list", "--from", dest, "--endpoint", strings.TrimPrefix(srv.Endpoint, "http://")}, 1, "does not speak TLS; write the endpoint as http://host:port"},
		{"nothing to fetch", nil, []string{"fetch", "--from", dest, "--at", "latest", "--to", src}, 1, "there is no complete backup in " + dest + " (it is empty; check the location)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := cli(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line saying %q", code, stderr, c.code, c.want)
			}
		})
	}
}
