package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/neo4j-backup/neo4j-backup/internal/testfiles"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// verify says one line either way: every checksum matches, or the first
// file that does not; a legacy backup cannot be verified.
func TestVerifyCommand(t *testing.T) {
	srv := s3test.SharedVersitygw(t)
	s3Env(t, srv)
	src := t.TempDir()
	testfiles.WriteAll(t, src, map[string]string{"neo4j/neostore": "graph", "system/neostore": "system", "neo4j/empty": ""})
	dest := "s3://" + srv.Bucket + "/verify-cli/graph"
	const id = "2021-11-11T10:00:00Z"
	if code, _, stderr := cli(t, "upload", "--from", src, "--to", dest, "--id", id); code != 0 {
		t.Fatalf("upload = %d: %s", code, stderr)
	}

	code, stdout, stderr := cli(t, "verify", "--from", dest, "--at", "latest")
	if want := "backup " + id + ": 3 files, 11 B, every checksum matches\n"; code != 0 || stdout != want {
		t.Fatalf("verify = %d, %q, %q; want 0 and %q", code, stdout, stderr, want)
	}
	if !strings.Contains(stderr, "checked 11 B in 3 files") {
		t.Errorf("verify progress said %q; want a summary line", stderr)
	}

	ctx := context.Background()
	if _, err := srv.Client().PutObject(ctx, srv.Bucket, "verify-cli/graph/"+id+"/system/neostore", bytes.NewReader([]byte("SYSTEM")), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, "verify", "--from", dest, "--at", id)
	// The progress lines, then the error on one line of its own.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || stdout != "" || !strings.HasPrefix(lines[len(lines)-1], "neo4j-backup verify: backup "+id+": file system/neostore: checksum mismatch: the manifest says SHA-256 ") {
		t.Errorf("verify of a changed backup = %d, %q, %q; want 1 and one line naming system/neostore", code, stdout, stderr)
	}

	legacy := "11Nov2021-10:00:00"
	if _, err := srv.Client().PutObject(ctx, srv.Bucket, "verify-cli/graph/"+legacy+"/tmp/neo4j/neostore", strings.NewReader("old"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = cli(t, "verify", "--from", dest, "--at", legacy)
	if code != 1 || !strings.Contains(stderr, "backup "+legacy+" is a legacy backup without a manifest") {
		t.Errorf("verify of a legacy backup = %d, %q; want 1 saying it has no manifest", code, stderr)
	}
}

func TestVerifyUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--from", "s3://bucket-1/x"}, "--at is required"},
		{[]string{"verify", "--from", "s3://bucket-1/x", "--at", "yesterday"}, "--at: "},
		{[]string{"verify", "--at", "latest"}, "--from s3://bucket/prefix is required"},
	} {
		code, _, stderr := cliRun(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v = %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
