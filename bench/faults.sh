#!/usr/bin/env bash
# faults.sh runs the fault matrix against a built neo4j-backup: RUNS uploads
# and RUNS fetches of a backup (one 64 MiB file, 50 small files) per fault,
# each on a MinIO of its own on 127.0.0.1, through toxiproxy or the S3 fault
# proxy of storage/s3test:
#
#   none (throttled)      the control: toxiproxy's bandwidth limit only
#   bit flip in a part, bit flip in a small file   (one bit, one request)
#   reset mid-transfer    every connection reset for 1 s, 2 s into the transfer
#   stall 30 s            nothing gets through for 30 s, then connections close (2 s in)
#   MinIO restart 2 s     MinIO killed, connections refused, for 2 s and its start (2 s in)
#   503 on 3 calls, 503 on every call   (big file's parts, either direction)
#
# Each run is judged by what is left, not by what the binary says: finished
# (exit 0, the bytes stored or fetched are the source's, by SHA-256), failed
# cleanly (exit 1 with one clear line, and no complete backup of that ID in
# `list -o json` / no fetched folder), or bad (anything else, a network
# fault blamed on damaged bytes, "size mismatch", included). It prints a
# table of the counts and the median time to finish or give up.
#
#   bench/faults.sh                       5 runs each (about 40 minutes on 2 cores)
#   RUNS=3 bench/faults.sh
#   FAULTS="flip 503" RUNS=1 bench/faults.sh    only faults whose names contain a word
#   NEO4J_BACKUP_BIN=/path/neo4j-backup bench/faults.sh   test that binary
#
# Needs Go and hack/tools.sh (MinIO); builds toxiproxy v2.5.0 once into the
# cache hack/tools.sh uses. Everything talks to 127.0.0.1 only.
set -euo pipefail

RUNS=${RUNS:-5}
FAULTS=${FAULTS:-}
TOXIPROXY_VERSION=v2.5.0

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${NEO4J_BACKUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neo4j-backup}
work=$(mktemp -d "${TMPDIR:-/tmp}/neo4j-backup-faults.XXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 143' INT TERM

toxiproxy=$cache/toxiproxy-$TOXIPROXY_VERSION
if [ ! -x "$toxiproxy/server" ]; then
  echo "building toxiproxy $TOXIPROXY_VERSION into $toxiproxy (first time only)" >&2
  mkdir -p "$work/toxiproxy"
  # Outside the module, so that go install leaves go.mod alone.
  (cd "$work" && GOBIN="$work/toxiproxy" GOFLAGS=-mod=mod go install \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION")
  mkdir -p "$cache" && rm -rf "$toxiproxy" && mv "$work/toxiproxy" "$toxiproxy"
fi

bin=${NEO4J_BACKUP_BIN:-}
if [ -z "$bin" ]; then
  echo "building neo4j-backup from $root" >&2
  (cd "$root" && go build -o "$work/neo4j-backup" ./cmd/neo4j-backup)
  bin=$work/neo4j-backup
fi
minio=$("$root/hack/tools.sh" minio)/minio

start=$(date +%s)
: >"$work/log.txt"
status=0
(cd "$root" && NEO4J_BACKUP_BIN=$bin TOXIPROXY_SERVER=$toxiproxy/server NEO4J_BACKUP_MINIO=$minio \
  RUNS=$RUNS FAULTS=$FAULTS FAULTS_TABLE=$work/table.txt \
  go test -tags bench -count=1 -v -timeout 6h -run '^TestFaults$' ./bench/) >"$work/log.txt" 2>&1 &
test_pid=$!
# The runs as they finish, for whoever watches.
tail -n +1 -f --pid "$test_pid" "$work/log.txt" | grep --line-buffered -E '^\s+faults_test.go:[0-9]+: run |^=== RUN|^--- FAIL|FAIL' >&2 || true
wait "$test_pid" || status=$?
if [ ! -s "$work/table.txt" ]; then
  tail -50 "$work/log.txt" >&2
  echo "the fault matrix did not finish (exit $status); the log is above" >&2
  exit 1
fi
echo
cat "$work/table.txt"
echo "wall time: $(($(date +%s) - start)) s; binary: $bin"
exit "$status"
