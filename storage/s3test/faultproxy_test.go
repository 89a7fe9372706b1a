package s3test_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/neo4j-backup/neo4j-backup/storage/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Run(m)) }

// proxied is a minio-go client that talks to the server through p.
func proxied(t *testing.T, p *s3test.FaultProxy, retries int) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(p.Endpoint(), "http://"), &minio.Options{
		Creds:      credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
		Region:     s3test.Region,
		MaxRetries: retries,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFaultProxy(t *testing.T) {
	srv := s3test.SharedMinIO(t)
	p := s3test.NewFaultProxy(t, srv)
	c := proxied(t, p, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	put := func(key string) error {
		_, err := c.PutObject(ctx, srv.Bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true})
		return err
	}
	stored := func(key string) []byte {
		t.Helper()
		obj, err := srv.Client().GetObject(ctx, srv.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("status once, then retried", func(t *testing.T) {
		p.Add(s3test.Fault{Match: s3test.All(s3test.IsPut, s3test.KeyContains("retried")), Times: 1, Status: 503, Code: "SlowDown"})
		if err := put("retried"); err != nil {
			t.Fatalf("a single 503 should be retried: %v", err)
		}
		if p.Hits(0) != 1 {
			t.Fatalf("fault hit %d requests, want 1", p.Hits(0))
		}
		puts := 0
		for _, r := range p.Requests() {
			if strings.HasPrefix(r, "PUT /"+srv.Bucket+"/retried") {
				puts++
			}
		}
		if puts != 2 {
			t.Fatalf("saw %d PUTs of the object, want 2 (the failed one and its retry): %q", puts, p.Requests())
		}
		if !bytes.Equal(stored("retried"), data) {
			t.Fatal("stored object differs from what was sent")
		}
	})

	t.Run("status every time", func(t *testing.T) {
		p.Add(s3test.Fault{Match: s3test.KeyContains("refused"), Status: 500, Code: "InternalError"})
		err := put("refused")
		if code := minio.ToErrorResponse(err).Code; code != "InternalError" {
			t.Fatalf("got %v (code %q), want InternalError", err, code)
		}
	})

	t.Run("flipped request bit is stored", func(t *testing.T) {
		f := s3test.FlipRequestAt(1000)
		f.Match, f.Times = s3test.All(s3test.IsPut, s3test.KeyContains("flipped")), 1
		p.Add(f)
		if err := put("flipped"); err != nil {
			t.Fatal(err) // no checksum was sent, so the server cannot tell
		}
		got := stored("flipped")
		if len(got) != len(data) || got[1000] != data[1000]^1 || !bytes.Equal(got[:1000], data[:1000]) || !bytes.Equal(got[1001:], data[1001:]) {
			t.Fatal("the stored object should differ from what was sent in exactly bit 0 of byte 1000")
		}
	})

	if err := put("read"); err != nil {
		t.Fatal(err)
	}
	get := func(timeout time.Duration) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		obj, err := c.GetObject(ctx, srv.Bucket, "read", minio.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer obj.Close()
		return io.ReadAll(obj)
	}

	t.Run("flipped response bit", func(t *testing.T) {
		f := s3test.FlipResponseAt(5)
		f.Match, f.Times = s3test.All(s3test.IsGet, s3test.KeyContains("read")), 1
		p.Add(f)
		got, err := get(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got[5] != data[5]^1 {
			t.Fatal("byte 5 of the answer was not flipped")
		}
	})

	t.Run("reset", func(t *testing.T) {
		p.Add(s3test.Fault{Match: s3test.All(s3test.IsGet, s3test.KeyContains("read")), Times: 1, ResetAfter: 100})
		got, err := get(10 * time.Second)
		if err == nil {
			t.Fatalf("read %d bytes without an error through a reset connection", len(got))
		}
	})

	t.Run("stall", func(t *testing.T) {
		p.Add(s3test.Fault{Match: s3test.All(s3test.IsGet, s3test.KeyContains("read")), Times: 1, StallAfter: 100})
		start := time.Now()
		_, err := get(time.Second)
		if err == nil {
			t.Fatal("a stalled answer was read to the end")
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("gave up after %v, before the client's 1s deadline: the proxy did not stall", d)
		}
	})

	t.Run("silent", func(t *testing.T) {
		p.Add(s3test.Fault{Match: s3test.All(s3test.IsPut, s3test.KeyContains("silent")), Silent: true})
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.PutObject(ctx, srv.Bucket, "silent", bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true})
		if err == nil {
			t.Fatal("a PUT to a silent server succeeded")
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("gave up after %v, before the client's 1s deadline: the proxy answered", d)
		}
	})

	t.Run("unmatched requests pass", func(t *testing.T) {
		got, err := get(10 * time.Second)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("plain read through the proxy: %v", err)
		}
	})
}
