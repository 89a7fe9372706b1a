package storage

// Progress hears how a transfer goes; the command line draws a bar from it.
// Its methods are called from several goroutines at once.
type Progress interface {
	// Begin is called once, before any bytes move.
	Begin(files int, bytes int64)
	// Transferred reports n more bytes moved; n is negative when a request
	// is retried and its bytes will move again.
	Transferred(n int64)
	// FileDone reports a file stored (upload) or written and verified (fetch).
	FileDone(path string)
}

// RetryProgress is a Progress that also hears when a request is tried
// again, so that a transfer waiting on a broken store does not look hung.
type RetryProgress interface {
	Progress
	// Retrying says a request for file failed (why: one phrase, such as
	// "the connection to … dropped at byte 5 of 9") and will be tried again.
	Retrying(file, why string)
}

type noProgress struct{}

func (noProgress) Begin(int, int64)  {}
func (noProgress) Transferred(int64) {}
func (noProgress) FileDone(string)   {}

func progressOrNone(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}
