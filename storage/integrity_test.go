package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/storage"
	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

// integrityServers are the stores every integrity test runs on: each takes
// checksums in its own way.
var integrityServers = []struct {
	name string
	srv  func(t testing.TB) *s3test.Server
	// listsByPrefix: the server lists open multipart uploads under a
	// prefix; MinIO lists those of one exact key only.
	listsByPrefix bool
}{
	{"MinIO", s3test.SharedMinIO, false},
	{"Versitygw", s3test.SharedVersitygw, true},
}

// integrityTree is a file of three parts (16 MiB, 16 MiB, 1 MiB) and a
// small file that goes in one request.
func integrityTree(t *testing.T) string {
	src := t.TempDir()
	tree{"neo4j/big": 33 * MiB, "neo4j/small": 100 << 10, "empty": 0}.write(t, src)
	return src
}

// proxiedStore opens prefix in srv's bucket through a fault proxy.
func proxiedStore(t *testing.T, srv *s3test.Server, prefix string) (*storage.Store, *s3test.FaultProxy) {
	return proxiedStoreStalling(t, srv, prefix, 0)
}

// proxiedStoreStalling is proxiedStore with a stall timeout (0: the default).
func proxiedStoreStalling(t *testing.T, srv *s3test.Server, prefix string, stall time.Duration) (*storage.Store, *s3test.FaultProxy) {
	t.Helper()
	p := s3test.NewFaultProxy(t, srv)
	s, err := storage.Open(storage.Location{Bucket: srv.Bucket, Prefix: prefix}, storage.Config{
		Endpoint:     p.Endpoint(),
		Region:       s3test.Region,
		Credentials:  credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
		Retries:      3,
		StallTimeout: stall,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// partOf matches the upload of part n of a file whose key ends in name.
func partOf(name string, n string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		return s3test.IsPartUpload(r) && strings.HasSuffix(r.URL.Path, "/"+name) && r.URL.Query().Get("partNumber") == n
	}
}

// wholeFile matches the single-request upload of a file whose key ends in name.
func wholeFile(name string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return s3test.IsSinglePut(r) && strings.HasSuffix(r.URL.Path, "/"+name) }
}

// storedAsUploaded fails the test unless the store holds, behind the code
// under test, every file of m with the bytes of src and the SHA-256 of m.
func storedAsUploaded(t *testing.T, srv *s3test.Server, prefix, src string, m *storage.Manifest) {
	t.Helper()
	local := digest(t, src)
	if len(m.Files) != len(local) {
		t.Fatalf("manifest lists %d files, the folder has %d", len(m.Files), len(local))
	}
	for _, f := range m.Files {
		obj, err := srv.Client().GetObject(testContext(t), srv.Bucket, prefix+"/"+m.BackupID+"/"+f.Path, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, obj)
		obj.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 || got != local[f.Path] {
			t.Errorf("%s: the store holds SHA-256 %s, the manifest says %s, the file has %s", f.Path, got, f.SHA256, local[f.Path])
		}
	}
}

// countRequests is how many requests of log start with prefix.
func countRequests(log []string, prefix string) int {
	n := 0
	for _, r := range log {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// openUploads lists which of keys have a multipart upload open, behind the
// code under test. It asks key by key: MinIO lists open uploads of one exact
// key only.
func openUploads(t *testing.T, srv *s3test.Server, keys ...string) []string {
	t.Helper()
	var open []string
	for _, key := range keys {
		for u := range srv.Client().ListIncompleteUploads(testContext(t), srv.Bucket, key, false) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			if u.Key == key {
				open = append(open, u.Key)
			}
		}
	}
	return open
}

// A bit flipped on the way, in a part of a large file and in a small file,
// is caught by the store; the part and the file are sent again and the
// backup holds exactly the files uploaded.
func TestIntegrityFlippedBitIsSentAgain(t *testing.T) {
	for _, server := range integrityServers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			srv := server.srv(t)
			s, p := proxiedStore(t, srv, "flip")
			src := integrityTree(t)
			inPart := s3test.FlipRequestAt(5 * MiB)
			inPart.Match, inPart.Times = partOf("big", "2"), 1
			p.Add(inPart)
			inSmall := s3test.FlipRequestAt(777)
			inSmall.Match, inSmall.Times = wholeFile("small"), 1
			p.Add(inSmall)

			m, err := s.Upload(testContext(t), src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Hits(0) != 1 || p.Hits(1) != 1 {
				t.Fatalf("faults hit %d and %d requests; want 1 each", p.Hits(0), p.Hits(1))
			}
			log := p.Requests()
			key := "/" + srv.Bucket + "/flip/2021-11-11T10:00:00Z/neo4j/"
			if n := countRequests(log, "PUT "+key+"big?partNumber=2&"); n != 2 {
				t.Errorf("part 2 was sent %d times; want 2 (damaged, then whole)", n)
			}
			if n := countRequests(log, "PUT "+key+"small"); n != 2 {
				t.Errorf("the small file was sent %d times; want 2", n)
			}
			storedAsUploaded(t, srv, "flip", src, m)
		})
	}
}

// A store that ignores x-amz-checksum-crc32c (the proxy answers the probe
// of it as such a store would: stored) gets Content-MD5 instead, and a
// flipped bit is still caught and sent again.
func TestIntegrityContentMD5Fallback(t *testing.T) {
	for _, server := range integrityServers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			srv := server.srv(t)
			s, p := proxiedStore(t, srv, "md5")
			p.Add(s3test.Fault{Match: s3test.All(s3test.IsPut, s3test.KeyContains("checksum-probe")), Times: 1, Status: http.StatusOK})
			inPart := s3test.FlipRequestAt(3 * MiB)
			inPart.Match, inPart.Times = partOf("big", "1"), 1
			p.Add(inPart)
			inSmall := s3test.FlipRequestAt(10)
			inSmall.Match, inSmall.Times = wholeFile("small"), 1
			p.Add(inSmall)
			src := integrityTree(t)
			m, err := s.Upload(testContext(t), src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Hits(0) != 1 || p.Hits(1) != 1 || p.Hits(2) != 1 {
				t.Fatalf("faults hit %d, %d, %d requests; want 1 each", p.Hits(0), p.Hits(1), p.Hits(2))
			}
			log := p.Requests()
			key := "/" + srv.Bucket + "/md5/2021-11-11T10:00:00Z/"
			if n := countRequests(log, "DELETE "+key+".neo4j-backup-checksum-probe"); n != 1 {
				t.Errorf("the probe, stored, was removed %d times; want 1", n)
			}
			if n := countRequests(log, "PUT "+key+"neo4j/big?partNumber=1&"); n != 2 {
				t.Errorf("part 1 was sent %d times; want 2 (damaged, then whole)", n)
			}
			if n := countRequests(log, "PUT "+key+"neo4j/small"); n != 2 {
				t.Errorf("the small file was sent %d times; want 2", n)
			}
			storedAsUploaded(t, srv, "md5", src, m)
		})
	}
}

// A part damaged on every try fails the upload with one line, leaves no
// manifest and no open multipart upload; a small file damaged every time
// does the same.
func TestIntegrityDamagedEveryTimeFails(t *testing.T) {
	for _, server := range integrityServers {
		for _, c := range []struct {
			name  string
			match func(r *http.Request) bool
		}{
			{"part", partOf("big", "3")},
			{"small file", wholeFile("small")},
		} {
			t.Run(server.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				srv := server.srv(t)
				s, p := proxiedStore(t, srv, "damaged")
				f := s3test.FlipRequestAt(100)
				f.Match = c.match
				p.Add(f)
				ctx := testContext(t)
				_, err := s.Upload(ctx, integrityTree(t), storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
				if err == nil {
					t.Fatal("upload succeeded with the bytes damaged on every try")
				}
				msg := err.Error()
				t.Logf("upload error: %s", msg)
				if strings.Contains(msg, "\n") || strings.Contains(msg, "uploadId") || strings.Contains(msg, "?") ||
					!strings.Contains(msg, "received other bytes than were sent") {
					t.Errorf("error %q; want one line saying the store received other bytes, without request details", msg)
				}
				if p.Hits(0) != 3 {
					t.Errorf("the damaged request was sent %d times; want 3", p.Hits(0))
				}
				backups, err := s.List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range backups {
					if b.Status == storage.Complete {
						t.Errorf("List shows %s complete after a failed upload", b.ID)
					}
				}
				if _, err := srv.Client().StatObject(ctx, srv.Bucket, "damaged/2021-11-11T10:00:00Z/manifest.json", minio.StatObjectOptions{}); err == nil {
					t.Error("a manifest was written for the failed upload")
				}
				if open := openUploads(t, srv, "damaged/2021-11-11T10:00:00Z/neo4j/big"); len(open) > 0 {
					t.Errorf("failed upload left open multipart uploads %v", open)
				}
			})
		}
	}
}

// 503 SlowDown and 500 InternalError on chosen parts are retried and the
// upload finishes with the right bytes.
func TestIntegrityServerErrorsRetried(t *testing.T) {
	for _, server := range integrityServers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			srv := server.srv(t)
			s, p := proxiedStore(t, srv, "busy")
			p.Add(s3test.Fault{Match: partOf("big", "1"), Times: 2, Status: http.StatusServiceUnavailable, Code: "SlowDown"})
			p.Add(s3test.Fault{Match: partOf("big", "3"), Times: 1, Status: http.StatusInternalServerError, Code: "InternalError"})
			p.Add(s3test.Fault{Match: wholeFile("small"), Times: 1, Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"})
			src := integrityTree(t)
			m, err := s.Upload(testContext(t), src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Hits(0) != 2 || p.Hits(1) != 1 || p.Hits(2) != 1 {
				t.Fatalf("faults hit %d, %d, %d requests; want 2, 1, 1", p.Hits(0), p.Hits(1), p.Hits(2))
			}
			storedAsUploaded(t, srv, "busy", src, m)
		})
	}
}

// A part that keeps failing fails the upload with one line that says what
// to do, and the multipart upload is aborted.
func TestIntegrityServerKeepsFailing(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	s, p := proxiedStore(t, srv, "down")
	p.Add(s3test.Fault{Match: partOf("big", "2"), Status: http.StatusServiceUnavailable, Code: "SlowDown"})
	_, err := s.Upload(testContext(t), integrityTree(t), storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
	if err == nil {
		t.Fatal("upload succeeded with a part refused every time")
	}
	msg := err.Error()
	t.Logf("upload error: %s", msg)
	if strings.Contains(msg, "uploadId") || strings.Contains(msg, "\n") || !strings.Contains(msg, "slow down") ||
		!strings.Contains(msg, "file neo4j/big") {
		t.Errorf("error %q; want one line naming the file and saying the store asked to slow down", msg)
	}
	if open := openUploads(t, srv, "down/2021-11-11T10:00:00Z/neo4j/big"); len(open) > 0 {
		t.Errorf("failed upload left open multipart uploads %v", open)
	}
}

// A store that takes a request and falls silent, or stops reading it, fails
// the upload once no byte has gone out for the stall timeout, retries and
// the abort included, with one line; the multipart upload is aborted.
func TestIntegrityUploadStalls(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault s3test.Fault
	}{
		{"silent part", s3test.Fault{Match: partOf("big", "2"), Silent: true}},
		{"part not read", s3test.Fault{Match: partOf("big", "2"), StallRequestAfter: 1 << 20}},
		{"small file not read", s3test.Fault{Match: wholeFile("small"), StallRequestAfter: 10 << 10}},
		// Every request about one file, its creation and abort included,
		// taken and never answered: a black hole, which must not hold the
		// upload for the abort's own timeout.
		{"black hole", s3test.Fault{Match: s3test.KeyContains("/neo4j/big"), Silent: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each waits out the stall timeout
			srv := s3test.SharedMinIO(t)
			const stall = 2 * time.Second
			s, p := proxiedStoreStalling(t, srv, "stalls", stall)
			p.Add(c.fault)
			start := time.Now()
			_, err := s.Upload(testContext(t), integrityTree(t), storage.UploadOptions{ID: "2021-11-11T10:00:00Z"})
			took := time.Since(start)
			if err == nil {
				t.Fatal("upload succeeded with the store silent")
			}
			msg := err.Error()
			t.Logf("upload error after %v: %s", took.Round(time.Millisecond), msg)
			if !strings.Contains(msg, "took no data for 2s") || strings.Contains(msg, "\n") || strings.Contains(msg, "uploadId") {
				t.Errorf("error %q; want one line saying the store took no data for 2s", msg)
			}
			// The stall timeout, the second a silent store's abort gets,
			// and a second of slack.
			if limit := 2*stall + time.Second; took < stall || took > limit {
				t.Errorf("gave up after %v; want between the stall timeout %v and %v", took, stall, limit)
			}
			if open := openUploads(t, srv, "stalls/2021-11-11T10:00:00Z/neo4j/big"); len(open) > 0 {
				t.Errorf("stalled upload left open multipart uploads %v", open)
			}
		})
	}
}

// Multipart uploads that a failed upload could not abort are aborted by the
// next upload to the location: those of the backup being uploaded and of
// complete backups. Those of another incomplete backup (it may be uploading
// now) and keys that are not backups are left alone.
func TestIntegrityLeftoverUploadsAborted(t *testing.T) {
	for _, server := range integrityServers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			srv := server.srv(t)
			ctx := testContext(t)
			s, _ := proxiedStore(t, srv, "left")
			done := t.TempDir()
			tree{"a": 10}.write(t, done)
			if _, err := s.Upload(ctx, done, storage.UploadOptions{ID: "2021-11-11T09:00:00Z"}); err != nil {
				t.Fatal(err)
			}
			core := minio.Core{Client: srv.Client()}
			var (
				ofComplete = "left/2021-11-11T09:00:00Z/neo4j/big"
				ofNext     = "left/2021-11-11T10:00:00Z/neo4j/big" // the upload below has this file
				ofOther    = "left/2021-11-11T11:00:00Z/neo4j/big" // another backup, maybe running
				notBackup  = "left/notes/big"
				elsewhere  = "elsewhere/2021-11-11T10:00:00Z/neo4j/big"
			)
			all := []string{ofComplete, ofNext, ofOther, notBackup, elsewhere}
			for _, key := range all {
				id, err := core.NewMultipartUpload(ctx, srv.Bucket, key, minio.PutObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				data := bytes.Repeat([]byte("x"), 1000)
				if _, err := core.PutObjectPart(ctx, srv.Bucket, key, id, 1, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if got := openUploads(t, srv, all...); !slices.Equal(got, all) {
				t.Fatalf("open uploads before: %v; want %v", got, all)
			}
			src := t.TempDir()
			tree{"neo4j/big": 16*MiB + 1}.write(t, src)
			if _, err := s.Upload(ctx, src, storage.UploadOptions{ID: "2021-11-11T10:00:00Z"}); err != nil {
				t.Fatal(err)
			}
			want := []string{ofOther, notBackup, elsewhere}
			if !server.listsByPrefix {
				// Found only by listing the location, which MinIO cannot;
				// MinIO drops stale uploads itself.
				want = append([]string{ofComplete}, want...)
			}
			if got := openUploads(t, srv, all...); !slices.Equal(got, want) {
				t.Errorf("open uploads after the next upload: %v; want %v", got, want)
			}
		})
	}
}
