#!/usr/bin/env bash
# transfer.sh measures neo4j-backup's upload and download against its peers
# on one local MinIO, in one run:
#
#   shapes  one 1 GiB file; 2,000 files of 64 KiB
#   tools   neo4j-backup, mc, rclone, s3cmd (alternating, ROUNDS rounds each),
#           and cp of the same bytes as the floor
#   prints  median wall seconds, MiB/s, client CPU seconds (user+sys) and peak
#           RSS per tool, shape and direction, neo4j-backup's ratios, and every
#           tool's ratios to mc (down: neo4j-backup fetch, verify included)
#
# Needs hack/tools.sh (minio, mc) and Debian's rclone, s3cmd and time, which it
# installs with apt-get when missing. Everything talks to 127.0.0.1 only.
#
#   bench/transfer.sh                 all of it (about ten minutes on 2 cores)
#   ROUNDS=1 SHAPES=small bench/transfer.sh
#   TOOLS="neo4j-backup mc" bench/transfer.sh
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SHAPES=${SHAPES:-"big small"}
TOOLS=${TOOLS:-"neo4j-backup mc rclone s3cmd"}
PARALLEL=${PARALLEL:-8} # neo4j-backup --parallel; rclone gets the same

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/neo4j-backup-bench.XXXX")
minio_pid=""
cleanup() {
  if [ -n "$minio_pid" ]; then kill "$minio_pid" 2>/dev/null || true; wait "$minio_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

need_debian() { # need_debian COMMAND PACKAGE
  command -v "$1" >/dev/null && return
  echo "installing $2 from Debian" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need_debian rclone rclone
need_debian s3cmd s3cmd
[ -x /usr/bin/time ] || need_debian /usr/bin/time time

echo "building neo4j-backup and the servers (cached after the first time)" >&2
(cd "$root" && go build -o "$work/bin/neo4j-backup" ./cmd/neo4j-backup)
minio=$("$root/hack/tools.sh" minio)/minio
mc=$("$root/hack/tools.sh" mc)/mc
nb=$work/bin/neo4j-backup

# --- MinIO on a free loopback port ---------------------------------------
key=neo4j-backup-bench
secret=neo4j-backup-bench-secret
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 39123)
endpoint=http://127.0.0.1:$port
mkdir -p "$work/minio"
MINIO_ROOT_USER=$key MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off \
  "$minio" server "$work/minio" --address "127.0.0.1:$port" --quiet >"$work/minio.log" 2>&1 &
minio_pid=$!
for _ in $(seq 1 300); do # up to 30 s
  if curl -fsS "$endpoint/minio/health/ready" >/dev/null 2>&1; then break; fi
  kill -0 "$minio_pid" 2>/dev/null || { cat "$work/minio.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$endpoint/minio/health/ready" >/dev/null || { echo "MinIO did not become ready" >&2; exit 1; }

export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_EC2_METADATA_DISABLED=true
export MC_HOST_bench="http://$key:$secret@127.0.0.1:$port" MC_CONFIG_DIR=$work/mc
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Minio RCLONE_CONFIG_BENCH_ENDPOINT=$endpoint \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$key RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$secret RCLONE_CONFIG_BENCH_REGION=us-east-1
cat >"$work/s3cmd.cfg" <<EOF
[default]
access_key = $key
secret_key = $secret
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
use_https = False
signature_v2 = False
bucket_location = us-east-1
EOF
"$mc" mb --quiet bench/bench >/dev/null

# --- the data -------------------------------------------------------------
echo "writing the data: $SHAPES" >&2
mkdir -p "$work/src/big" "$work/src/small"
case " $SHAPES " in *" big "*) head -c 1G /dev/urandom >"$work/src/big/neostore" ;; esac
case " $SHAPES " in *" small "*) head -c $((2000 * 64 * 1024)) /dev/urandom | split -b 64K -a 4 -d - "$work/src/small/tx-" ;; esac
bytes_big=$((1024 * 1024 * 1024))
bytes_small=$((2000 * 64 * 1024))

# --- one transfer per tool ------------------------------------------------
# up TOOL SHAPE ROUND, down TOOL SHAPE ROUND DIR: the commands to time.
up() {
  local src=$work/src/$2 dest=$1-$2-$3
  case $1 in
  neo4j-backup) "$nb" upload --from "$src" --to "s3://bench/$dest" --endpoint "$endpoint" --region us-east-1 --parallel "$PARALLEL" >/dev/null ;;
  mc) "$mc" cp --quiet --recursive "$src/" "bench/bench/$dest/" >/dev/null ;;
  rclone) env -u AWS_CA_BUNDLE rclone copy "$src" "bench:bench/$dest" --transfers "$PARALLEL" --s3-upload-concurrency "$PARALLEL" --s3-chunk-size 16M ;;
  s3cmd) s3cmd -c "$work/s3cmd.cfg" --quiet --no-progress put --recursive "$src/" "s3://bench/$dest/" >/dev/null ;;
  cp) cp -r "$src" "$work/cp-$2-$3" ;;
  esac
}
down() {
  local from=$1-$2-1 to=$4
  case $1 in
  neo4j-backup) "$nb" fetch --from "s3://bench/$from" --at latest --to "$to" --endpoint "$endpoint" --region us-east-1 --parallel "$PARALLEL" >/dev/null ;;
  mc) "$mc" cp --quiet --recursive "bench/bench/$from/" "$to/" >/dev/null ;;
  rclone) env -u AWS_CA_BUNDLE rclone copy "bench:bench/$from" "$to" --transfers "$PARALLEL" --s3-upload-concurrency "$PARALLEL" --s3-chunk-size 16M ;;
  s3cmd) s3cmd -c "$work/s3cmd.cfg" --quiet --no-progress get --recursive "s3://bench/$from/" "$to/" >/dev/null ;;
  cp) cp -r "$work/src/$2" "$to/" ;;
  esac
}
export -f up down
export work nb mc endpoint PARALLEL

results=$work/results.tsv # shape direction tool round wall cpu rss_kib
measure() { # measure SHAPE DIRECTION TOOL ROUND COMMAND...
  local shape=$1 dir=$2 tool=$3 round=$4; shift 4
  local t0 t1 timing=$work/time.txt
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$timing" bash -c "$*" 2>"$work/err.txt"; then
    echo "$tool $dir $shape failed:" >&2; cat "$work/err.txt" >&2; exit 1
  fi
  t1=$(date +%s%N)
  awk -v s="$shape" -v d="$dir" -v t="$tool" -v r="$round" -v wall="$(((t1 - t0) / 1000000))" '
    /User time/ {u=$NF} /System time/ {sy=$NF} /Maximum resident set size/ {rss=$NF}
    END {printf "%s\t%s\t%s\t%s\t%.3f\t%.2f\t%d\n", s, d, t, r, wall/1000, u+sy, rss}' "$timing" >>"$results"
  printf '  %-6s %-4s %-13s round %s: %6.2f s\n' "$shape" "$dir" "$tool" "$round" "$(tail -1 "$results" | cut -f5)" >&2
}

# Alternate the tools inside each round so that no tool always runs on a
# warmer or colder machine than another.
rotate() { # rotate N WORDS...: the words, starting at the Nth
  local n=$1; shift; local words=("$@") i
  for ((i = 0; i < ${#words[@]}; i++)); do echo "${words[$(((i + n) % ${#words[@]}))]}"; done
}
for shape in $SHAPES; do
  echo "$shape: upload" >&2
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(rotate "$round" $TOOLS) cp; do
      measure "$shape" up "$tool" "$round" up "$tool" "$shape" "$round"
      [ "$tool" = cp ] && rm -rf "$work/cp-$shape-$round"
    done
  done
  echo "$shape: download" >&2
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(rotate "$round" $TOOLS) cp; do
      to=$work/down-$tool-$shape-$round
      mkdir -p "$to"
      measure "$shape" down "$tool" "$round" down "$tool" "$shape" "$round" "$to"
      rm -rf "$to"
    done
  done
done

# --- the table --------------------------------------------------------------
echo
echo "medians of $ROUNDS rounds; MinIO on 127.0.0.1; $(nproc) cores; neo4j-backup --parallel $PARALLEL"
awk -F'\t' -v big="$bytes_big" -v small="$bytes_small" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    k = $1 SUBSEP $2 SUBSEP $3
    wall[k] = wall[k] " " $5; cpu[k] = cpu[k] " " $6; rss[k] = rss[k] " " $7
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
  }
  END {
    printf "%-6s %-4s %-13s %8s %9s %8s %9s %9s %9s %8s %8s\n", "shape", "dir", "tool", "wall s", "MiB/s", "CPU s", "CPU s/GiB", "RSS MiB", "nb/tool", "wall/mc", "RSS/mc"
    for (i = 1; i <= n; i++) {
      split(order[i], p, SUBSEP)
      bytes = p[1] == "big" ? big : small
      w = median(wall[order[i]]); c = median(cpu[order[i]]); r = median(rss[order[i]])
      nbk = p[1] SUBSEP p[2] SUBSEP "neo4j-backup"
      ratio = (nbk in seen && w > 0) ? sprintf("%.2fx", median(wall[nbk]) / w) : "-"
      mck = p[1] SUBSEP p[2] SUBSEP "mc"
      tomc = (mck in seen && median(wall[mck]) > 0) ? sprintf("%.2fx", w / median(wall[mck])) : "-"
      rsstomc = (mck in seen && median(rss[mck]) > 0) ? sprintf("%.2fx", r / median(rss[mck])) : "-"
      printf "%-6s %-4s %-13s %8.2f %9.0f %8.2f %9.2f %9.0f %9s %8s %8s\n", p[1], p[2], p[3], w, bytes / 1048576 / w, c, c / (bytes / 1073741824), r / 1024, ratio, tomc, rsstomc
    }
  }' "$results" | awk 'NR == 1 {print; next} {print | "sort -s -k1,1 -k2,2r"}'
echo
echo "nb/tool: neo4j-backup's median wall time over the tool's; below 1.00x neo4j-backup is faster"
echo "wall/mc, RSS/mc: the tool's median wall time and peak RSS over mc's; down of neo4j-backup is fetch, which checks every part's CRC32C"
