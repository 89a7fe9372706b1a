package storage

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

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
	resp := s3Error(err)
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
	if what, todo := serverTrouble(resp); what != "" {
		return wrap("%s %s; %s", s.endpoint, what, todo)
	}
	if dropped(err) {
		return wrap("the connection to %s dropped in the middle of a transfer; check the network to the store and try again", s.endpoint)
	}
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &netErr) {
		return wrap("cannot reach the object store at %s (%v); check --endpoint (or AWS_ENDPOINT_URL_S3) and the network", s.endpoint, rootCause(err))
	}
	return err
}

// serverTrouble says, after the endpoint, what an S3 error means when the
// server could not serve the request just then, and what to do about it;
// "" for any other error.
func serverTrouble(resp minio.ErrorResponse) (what, todo string) {
	code := cmp.Or(resp.Code, http.StatusText(resp.StatusCode))
	switch {
	case resp.Code == "SlowDown" || resp.Code == "SlowDownRead" || resp.Code == "SlowDownWrite" || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Sprintf("asked to slow down (%s)", code), "lower --parallel or try again later"
	case resp.Code == "ServiceUnavailable" || resp.StatusCode == http.StatusServiceUnavailable:
		return fmt.Sprintf("is unavailable (%s, HTTP %d)", code, resp.StatusCode), "try again once the store is back"
	case resp.Code == "RequestTimeout" || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Sprintf("gave up waiting for a request (%s)", code), "check the network to the store and try again"
	case resp.Code == "InternalError" || resp.StatusCode >= 500:
		return fmt.Sprintf("failed with a server error (%s, HTTP %d)", code, resp.StatusCode), "try again later, and look at the store's logs if it goes on"
	}
	return "", ""
}

// retryable tells whether a failed request may go better when tried again:
// a broken or refused connection, a silent server, a server error, a
// request to slow down. Refused credentials, a missing object or bucket, an
// untrusted certificate and what was read being wrong (corrupt) are not.
func retryable(err error) bool {
	var bad *corrupt
	var disk *localError
	if errors.As(err, &bad) || errors.As(err, &disk) || isNotFound(err) {
		return false
	}
	resp := s3Error(err)
	if resp.StatusCode != 0 || resp.Code != "" {
		what, _ := serverTrouble(resp)
		return what != ""
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &certInvalid) || errors.As(err, &recordHeader) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false
	}
	return true
}

// dropped tells whether err is a connection that broke in the middle of a
// transfer, in whichever words the network stack chose.
func dropped(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// refused tells whether err is a connection the server did not take.
func refused(err error) bool {
	var opErr *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &opErr) && opErr.Op == "dial")
}

// corrupt is what a fetch read that cannot be the backup: the wrong size.
// It is never retried; the message says what differs.
type corrupt struct{ msg string }

func (e *corrupt) Error() string { return e.msg }

// localError is a failure on this machine (writing to disk) in the middle
// of a transfer: trying the request again would not help.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

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

// s3Error is the S3 error response in err's chain, also one wrapped by
// explain or fmt.Errorf (minio.ToErrorResponse looks at err alone); the
// zero ErrorResponse when there is none.
func s3Error(err error) minio.ErrorResponse {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp
	}
	return minio.ErrorResponse{}
}

// isNotFound tells whether err says an object does not exist.
func isNotFound(err error) bool {
	code := s3Error(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}
