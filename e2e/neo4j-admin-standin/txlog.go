package main

// The live database's transactions (5.x and calendar versions; 4.x copies
// the file like any other). A live database folder may hold a
// transaction log, transactions.log, one committed transaction a line:
//
//	<txId> <commit time, RFC 3339 UTC, nanoseconds allowed> <payload>
//	1 2025-01-31T10:00:00.5Z CREATE (:Person {name: 'Ada'})
//	2 2025-01-31T10:00:01Z   (the payload may be empty)
//
// IDs count from 1 without a gap and times never go back: a test appends
// lines to commit transactions. A folder without the file is a database
// that has committed none. Backup and restore keep each line as written,
// so a restored transactions.log is, byte for byte, the live one as of the
// point restored.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// txLog is the name of a database's transaction log, live, in an
// artifact and in a restored store.
const txLog = "transactions.log"

// transaction is one line of a transaction log.
type transaction struct {
	id   int64
	at   time.Time
	line string // as written, without its newline
}

// parseLog reads a transaction log, or a differential backup's part of
// one, named name in errors: consecutive IDs, times in order.
func parseLog(name string, data []byte) ([]transaction, error) {
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return nil, nil
	}
	var txs []transaction
	for i, line := range strings.Split(text, "\n") {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s line %d: %q is not <txId> <RFC 3339 time> <payload>", name, i+1, line)
		}
		id, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("%s line %d: %q is not a transaction ID (1, 2, …)", name, i+1, fields[0])
		}
		at, err := time.Parse(time.RFC3339Nano, fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %q is not an RFC 3339 time", name, i+1, fields[1])
		}
		if n := len(txs); n > 0 && (id != txs[n-1].id+1 || at.Before(txs[n-1].at)) {
			return nil, fmt.Errorf("%s line %d: transaction %d at %s does not follow transaction %d at %s", name, i+1, id, fields[1], txs[n-1].id, txs[n-1].at.Format(time.RFC3339Nano))
		}
		txs = append(txs, transaction{id: id, at: at.UTC(), line: line})
	}
	return txs, nil
}

// liveLog is the transaction log of the live database folder dir: none
// when it has no transactions.log.
func liveLog(dir string) ([]transaction, error) {
	data, err := os.ReadFile(filepath.Join(dir, txLog))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	txs, err := parseLog(filepath.Join(dir, txLog), data)
	if err == nil && len(txs) > 0 && txs[0].id != 1 {
		err = fmt.Errorf("%s starts at transaction %d; a live database's log starts at 1", filepath.Join(dir, txLog), txs[0].id)
	}
	return txs, err
}

// logBytes writes txs back as a transaction log.
func logBytes(txs []transaction) []byte {
	var b bytes.Buffer
	for _, tx := range txs {
		b.WriteString(tx.line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// txRange is the lowest and highest transaction ID of txs, 0 and 0 for
// none, as Neo4j shows an empty backup.
func txRange(txs []transaction) (lowest, highest int64) {
	if len(txs) == 0 {
		return 0, 0
	}
	return txs[0].id, txs[len(txs)-1].id
}

// databaseID is the ID of the live database folder dir: stable for as long
// as the folder is, and another for another database, as Neo4j's is.
func databaseID(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	h := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
