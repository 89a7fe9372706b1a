package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// storeError is a failed request told as what to do about it. It wraps
// the object store's own error for errors.Is and errors.As.
type storeError struct {
	msg string
	err error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.err }

// explain turns an error from the object store into a sentence a user can act
// on: what was wrong, where, and what to do. Errors it does not recognise
// keep the store's own words.
func (s *Store) explain(err error) error {
	if err == nil {
		return nil
	}
	var already *storeError
	if errors.As(err, &already) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	wrap := func(format string, a ...any) error { return &storeError{msg: fmt.Sprintf(format, a...), err: err} }
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchBucket":
		return wrap("bucket %q does not exist at %s; create it, or check the bucket name and --endpoint", s.loc.Bucket, s.endpoint)
	case credentialCodes[resp.Code] || resp.StatusCode == 401 || resp.StatusCode == 403:
		if s.anonymous() {
			return wrap("%s refused access to %s (%s) and no S3 credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or workload identity", s.endpoint, s.loc, resp.Code)
		}
		return wrap("%s refused the credentials for %s (%s: %s); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's permissions", s.endpoint, s.loc, resp.Code, resp.Message)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &certInvalid):
		return wrap("the TLS certificate of %s is not trusted (%v); pass --ca-file with its CA, or --insecure to skip the check", s.endpoint, rootCause(err))
	case errors.As(err, &recordHeader), strings.Contains(err.Error(), "gave HTTP response to HTTPS client"):
		return wrap("%s does not speak TLS; write the endpoint as http://host:port", s.endpoint)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return wrap("the connection to %s broke off in the middle of a transfer; try again", s.endpoint)
	}
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &netErr) {
		return wrap("cannot reach the object store at %s (%v); check --endpoint (or AWS_ENDPOINT_URL_S3) and the network", s.endpoint, rootCause(err))
	}
	return err
}

// credentialCodes are the error codes of refused credentials; versitygw
// says XAdminUserNotFound for an unknown access key.
var credentialCodes = map[string]bool{
	"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "InvalidToken": true,
	"ExpiredToken": true, "AccessDenied": true, "XAdminUserNotFound": true,
}

// anonymous tells whether the credential chain found nothing.
func (s *Store) anonymous() bool {
	v, err := s.creds.GetWithContext(nil)
	return err != nil || v.SignerType == credentials.SignatureAnonymous || v.AccessKeyID == ""
}

// rootCause is the innermost error, which is usually the readable part
// ("connection refused") of a long chain.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// isNotFound tells whether err says an object does not exist.
func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}
