package main

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/neo4j-backup/neo4j-backup/storage"
)

// s3Flags are the object store settings every transfer command takes. They
// override the AWS environment (AWS_ENDPOINT_URL_S3, AWS_REGION, …), which
// storage.Open reads for whatever is left empty.
type s3Flags struct {
	endpoint string
	region   string
	caFile   string
	insecure bool
	parallel int
	// timeout is --timeout of the commands that move backups (addTimeout);
	// 0 where there is no such flag: storage's default.
	timeout    time.Duration
	hasTimeout bool
}

// s3Retries is how many times a failing request is tried; 0 is minio-go's
// default. Tests lower it so that an unreachable store fails fast.
var s3Retries = 0

const partSize = 16 << 20

func addS3Flags(fs *pflag.FlagSet) *s3Flags {
	f := &s3Flags{}
	fs.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint: host[:port] for HTTPS, or an http:// or https:// URL (default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS S3)")
	fs.StringVar(&f.region, "region", "", "S3 region (default $AWS_REGION, else asked of the store)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of CA certificates to trust besides the system's (default $AWS_CA_BUNDLE)")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	fs.IntVar(&f.parallel, "parallel", 8, "requests at once, across files and parts of 16 MiB")
	_ = cobra.MarkFlagFilename(fs, "ca-file")
	return f
}

// addTimeout adds --timeout, for the commands that move a backup (upload,
// fetch, the injected fetch container). restore has a --timeout of its own
// that means something else, so it is no flag of every S3 command.
func (f *s3Flags) addTimeout(fs *pflag.FlagSet) {
	f.hasTimeout = true
	fs.DurationVar(&f.timeout, "timeout", storage.DefaultStallTimeout, "give up when no data has moved for this long, retries included; a request silent for half of it is tried again")
}

// open connects to the s3:// location given with flag --name.
func (f *s3Flags) open(name, location string) (*storage.Store, error) {
	if location == "" {
		return nil, usagef("--%s s3://bucket/prefix is required", name)
	}
	loc, err := storage.ParseLocation(location)
	if err != nil {
		return nil, usagef("--%s: %v", name, err)
	}
	if f.parallel < 1 {
		return nil, usagef("--parallel %d: give at least 1", f.parallel)
	}
	if f.hasTimeout && f.timeout <= 0 {
		return nil, usagef("--timeout %s: give a positive duration such as 1m", f.timeout)
	}
	return storage.Open(loc, storage.Config{
		Endpoint: f.endpoint,
		Region:   f.region,
		CAFile:   f.caFile,
		Insecure: f.insecure,
		Parallel: f.parallel,
		PartSize: partSize,
		Retries:  s3Retries,

		StallTimeout: f.timeout,
	})
}

// limitMemory keeps the heap of a transfer near what it holds, up to
// --parallel parts, instead of letting it grow to twice the peak between
// collections. GOMEMLIMIT, when set, wins. upload and fetch call it before
// they start; it is no side effect of open, since it is process-wide.
func (f *s3Flags) limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(f.parallel*partSize + 16<<20))
	}
}
