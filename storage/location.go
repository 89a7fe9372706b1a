package storage

import (
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Location is where backups live: a bucket and a folder in it.
type Location struct {
	Bucket string
	Prefix string // without leading or trailing slash; may be empty
}

// ParseLocation reads s3://bucket/prefix.
func ParseLocation(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("%q is not an S3 location; write it as s3://bucket/prefix", s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("%q names no bucket; write it as s3://bucket/prefix", s)
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return Location{}, fmt.Errorf("%q: %q is not a valid bucket name (%v)", s, bucket, err)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		for _, part := range strings.Split(prefix, "/") {
			if part == "" || part == "." || part == ".." {
				return Location{}, fmt.Errorf("%q: the prefix has an empty, \".\" or \"..\" folder; write it as s3://bucket/folder/folder", s)
			}
		}
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Join returns the location of a folder below this one.
func (l Location) Join(elem ...string) Location {
	parts := []string{}
	if l.Prefix != "" {
		parts = append(parts, l.Prefix)
	}
	return Location{Bucket: l.Bucket, Prefix: strings.Join(append(parts, elem...), "/")}
}

// folder is the key prefix of everything under the location, ending in a
// slash unless the location is the bucket itself.
func (l Location) folder() string {
	if l.Prefix == "" {
		return ""
	}
	return l.Prefix + "/"
}

// backupFolder is the key prefix of one backup, ending in a slash.
func (l Location) backupFolder(id string) string { return l.folder() + id + "/" }

// key is the object key of a file of a backup; path uses forward slashes.
func (l Location) key(id, path string) string { return l.backupFolder(id) + path }
