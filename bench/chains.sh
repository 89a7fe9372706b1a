#!/usr/bin/env bash
# chains.sh: what a day of hourly backups costs as full backups every run and
# as a chain of differential ones, and what restoring the day's end fetches,
# on a MinIO of its own on 127.0.0.1 (bench/chains_test.go says how).
#
#   bench/chains.sh                       a 256 MiB store, 24 runs, 1% changed per run
#   STORE_MIB=1024 CHANGE=5 bench/chains.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minio=$("$root/hack/tools.sh" minio)/minio
cd "$root" && NEO4J_BACKUP_MINIO=$minio go test -tags bench -count=1 -v -timeout 1h -run '^TestChains$' ./bench/ |
  sed -n 's/^ *chains_test.go:[0-9]*: //p'
