package storage

import (
	"cmp"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says how to reach the object store. Empty fields follow the AWS
// conventions people already use, so the zero Config works wherever the
// aws CLI would.
type Config struct {
	// Endpoint is host[:port] (HTTPS) or a full http:// or https:// URL.
	// Empty: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS S3.
	Endpoint string
	// Region is the bucket's region. Empty: AWS_REGION, then
	// AWS_DEFAULT_REGION, then asked of the store.
	Region string
	// CAFile is a PEM bundle trusted besides the system's. Empty: AWS_CA_BUNDLE.
	CAFile string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Credentials, when nil, come from the AWS chain: AWS_ACCESS_KEY_ID and
	// friends, ~/.aws/credentials (AWS_PROFILE), then IRSA web identity, EKS
	// pod identity, ECS or EC2 instance metadata.
	Credentials *credentials.Credentials

	// Parallel is how many requests run at once, across files and parts. 0: 8.
	Parallel int
	// PartSize is the multipart part size; files up to it go in one request.
	// Uploads and fetches hold at most Parallel parts in memory. 0: 16 MiB.
	PartSize int64
	// Retries is how many times a failing request is tried. 0: 10. A fetch
	// that broke off in the middle of a file resumes from the byte it
	// reached, and a resume that moved bytes does not count against this.
	Retries int
	// StallTimeout is how long a transfer may move no byte before it fails,
	// retries included; a request silent for half of it is retried. 0:
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

const (
	defaultParallel = 8
	defaultPartSize = 16 << 20
	minPartSize     = 5 << 20 // S3's smallest part
)

// Store is one location in one object store.
type Store struct {
	loc      Location
	client   *minio.Client
	data     minio.Core // for fetching: one try per request, fetch retries itself
	creds    *credentials.Credentials
	endpoint string // as the user would write it, for messages
	parallel int
	partSize int64
	retries  int
	stall    time.Duration

	partBuffers partBuffers // for fetching large files in parts
}

// Open connects to a location. It makes no request: a wrong endpoint or
// wrong credentials show up on the first call.
func Open(loc Location, cfg Config) (*Store, error) {
	endpoint := cmp.Or(cfg.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"))
	host, secure := "s3.amazonaws.com", true
	if endpoint != "" {
		u, err := ParseEndpoint(endpoint)
		if err != nil {
			return nil, err
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if secure {
		caFile := cmp.Or(cfg.CAFile, os.Getenv("AWS_CA_BUNDLE"))
		if caFile != "" {
			pool, err := trustedCAs(caFile)
			if err != nil {
				return nil, err
			}
			transport.TLSClientConfig.RootCAs = pool
		}
		transport.TLSClientConfig.InsecureSkipVerify = cfg.Insecure
	}
	stall := cmp.Or(cfg.StallTimeout, DefaultStallTimeout)
	// A server that takes the request and never answers is a stall like
	// any other (--timeout in README, "Command reference"); minio-go's own
	// minute would be spent again on each of its retries.
	transport.ResponseHeaderTimeout = stall
	parallel := cmp.Or(max(cfg.Parallel, 0), defaultParallel)
	// One idle connection per request in flight, so that each part does not
	// open a new one.
	transport.MaxIdleConnsPerHost = max(transport.MaxIdleConnsPerHost, 2*parallel)
	creds := cfg.Credentials
	if creds == nil {
		creds = awsCredentials()
	}
	opts := minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    transport,
		Region:       cmp.Or(cfg.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
		BucketLookup: minio.BucketLookupAuto,
		MaxRetries:   cfg.Retries,
	}
	client, err := minio.New(host, &opts)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %v", endpoint, err)
	}
	opts.MaxRetries = 1
	data, err := minio.New(host, &opts)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %v", endpoint, err)
	}
	s := &Store{
		loc:      loc,
		client:   client,
		data:     minio.Core{Client: data},
		creds:    creds,
		endpoint: client.EndpointURL().String(),
		parallel: parallel,
		partSize: cfg.PartSize,
		retries:  cmp.Or(max(cfg.Retries, 0), minio.MaxRetry),
		stall:    stall,
	}
	if s.partSize <= 0 {
		s.partSize = defaultPartSize
	}
	if s.partSize < minPartSize {
		return nil, fmt.Errorf("part size %d is below S3's minimum of 5 MiB", s.partSize)
	}
	s.partBuffers = make(partBuffers, s.parallel)
	return s, nil
}

// Location is where the store keeps its backups.
func (s *Store) Location() Location { return s.loc }

// ParseEndpoint reads an S3 endpoint as people write it: host[:port]
// (HTTPS) or an http:// or https:// URL with nothing after the port. It is
// the one reader of the endpoint flag, AWS_ENDPOINT_URL* and the endpoint
// annotation.
func ParseEndpoint(s string) (*url.URL, error) {
	raw := s
	if !strings.Contains(s, "://") {
		raw = "https://" + s
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not an S3 endpoint; write it as host[:port] or https://host[:port] (the bucket goes in s3://bucket/prefix)", s)
	}
	return u, nil
}

// trustedCAs is the system's pool plus the certificates in file.
func trustedCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// awsCredentials is the AWS credential chain. Instance metadata is asked
// last, and not at all with AWS_EC2_METADATA_DISABLED=true (as the AWS CLI).
func awsCredentials() *credentials.Credentials {
	providers := []credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}}
	metadataOff := strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true")
	identity := os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" ||
		os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "" ||
		os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != ""
	if identity || !metadataOff {
		providers = append(providers, &credentials.IAM{})
	}
	return credentials.NewChainCredentials(providers)
}
