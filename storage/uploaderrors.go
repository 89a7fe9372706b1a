package storage

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/minio/minio-go/v7"
)

// errETagDiffers is a store's answer whose ETag (the MD5 of what it stored)
// is not the MD5 of what was sent.
var errETagDiffers = errors.New("the store's ETag is not the MD5 of the bytes sent")

// damagedCodes are the S3 error codes of a request body that did not match
// the checksum sent with it: AWS and versitygw say BadDigest, MinIO
// XAmzContentChecksumMismatch or BadDigest, some stores InvalidDigest.
var damagedCodes = map[string]bool{
	"BadDigest": true, "XAmzContentChecksumMismatch": true, "InvalidDigest": true,
	"XAmzContentSHA256Mismatch": true, "InvalidChecksum": true,
}

// isDamaged tells whether err says the store received other bytes than
// those sent.
func isDamaged(err error) bool {
	return errors.Is(err, errETagDiffers) || damagedCodes[minio.ToErrorResponse(err).Code]
}

// explainUpload is explain for the requests of an upload: the S3 error
// codes an upload meets are told as what to do, and nothing of the request
// (URLs, upload IDs) is repeated, so that the line fits a termination message.
func (s *Store) explainUpload(err error) error {
	if err == nil {
		return nil
	}
	var already *storeError
	if errors.As(err, &already) {
		return err
	}
	wrap := func(format string, a ...any) error { return &storeError{msg: fmt.Sprintf(format, a...), err: err} }
	resp := minio.ToErrorResponse(err)
	switch {
	case isDamaged(err):
		return wrap("%s received other bytes than were sent, %d times in a row (%s); something on the way alters data (a proxy, a NIC, memory): check it and upload again", s.endpoint, sendTries, codeOr(resp, "ETag mismatch"))
	case resp.Code == "SlowDown" || resp.StatusCode == 503:
		return wrap("%s kept asking to slow down (%s) after every retry; upload again later, or with fewer requests at once (--parallel)", s.endpoint, codeOr(resp, "503"))
	case resp.Code == "InternalError" || resp.StatusCode == 500:
		return wrap("%s kept failing with an internal error (%s) after every retry; check the store's health and upload again", s.endpoint, codeOr(resp, "500"))
	case resp.Code == "NoSuchUpload":
		return wrap("%s dropped the multipart upload while it ran (another upload of the same backup ID, or a lifecycle rule that aborts incomplete uploads); upload again", s.endpoint)
	case resp.Code == "InvalidPart" || resp.Code == "InvalidPartOrder":
		return wrap("%s could not put the parts of a file together (%s: %s); upload again", s.endpoint, resp.Code, resp.Message)
	case resp.Code == "EntityTooLarge" || resp.Code == "EntityTooSmall":
		return wrap("%s refused the size of a part (%s: %s); its limits are not S3's (parts of 5 MiB to 5 GiB): use a store that has them", s.endpoint, resp.Code, resp.Message)
	case resp.Code == "QuotaExceeded" || resp.Code == "XMinioStorageFull" || resp.Code == "StorageFull" || resp.StatusCode == 507:
		return wrap("%s has no room for the backup (%s); free space or raise the quota, then upload again", s.endpoint, codeOr(resp, "507"))
	case resp.Code == "RequestTimeout" || resp.Code == "RequestTimeTooSkewed":
		if resp.Code == "RequestTimeTooSkewed" {
			return wrap("%s refused the request's time as too far from its own (RequestTimeTooSkewed); set this machine's clock right (NTP) and upload again", s.endpoint)
		}
		return wrap("%s gave up waiting for a request's data (RequestTimeout) after every retry; check the network to the store and upload again", s.endpoint)
	}
	explained := s.explain(err)
	var told *storeError
	if errors.As(explained, &told) {
		return explained
	}
	if resp.Code != "" {
		// The store's own words, without the request's resource or IDs.
		return wrap("%s refused the upload (%s: %s)", s.endpoint, resp.Code, resp.Message)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return wrap("a request to %s failed (%v); check the network to the store and upload again", s.endpoint, rootCause(err))
	}
	return explained
}

func codeOr(resp minio.ErrorResponse, otherwise string) string {
	if resp.Code != "" {
		return resp.Code
	}
	return otherwise
}

// uploadStalled is the error of an upload that moved no byte for the stall
// timeout, retries included.
func (s *Store) uploadStalled() error {
	return fmt.Errorf("%s took no data for %s (it stopped reading, or answers nothing); check the store and the network to it, then upload again (--timeout sets how long to wait)", s.endpoint, s.stall)
}
