#!/usr/bin/env bash
# tools.sh builds the real servers the tests and the demo run against, once,
# into a cache outside the clone keyed by version, and prints the folder.
#
#   hack/tools.sh control-plane   kube-apiserver, kube-controller-manager, etcd
#   hack/tools.sh versitygw       S3 server (posix backend) for most tests
#   hack/tools.sh minio           S3 server for the compatibility round trip
#   hack/tools.sh mc              MinIO's client, a peer in the transfer benchmark
#   hack/tools.sh kubectl         kubectl, for machines that have none
#   hack/tools.sh promtool        Prometheus's promtool, for the alerting rules' tests
#   hack/tools.sh helm            Helm, for the chart's tests (lint, template)
#   hack/tools.sh prometheus-operator-crds   the folder of the Prometheus operator's CRDs
#   hack/tools.sh cert-manager-crds          the folder of cert-manager's CRDs
#
# The CRDs are the YAML their projects publish in their Go modules, which the
# Go module cache keeps (read-only, keyed by version): nothing is built.
#
# Every build goes to a temporary folder first and is renamed into place, so
# an interrupted build never leaves a cache entry that looks complete.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
VERSITYGW_VERSION=v1.8.0
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
# Prometheus v3.x is published to the Go module proxy as v0.3xx.y.
PROMTOOL_VERSION=v0.316.0
# The newest version of the operator's root module the Go module proxy serves.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
CERT_MANAGER_VERSION=v1.21.2
HELM_VERSION=v3.22.0

cache=${NEO4J_BACKUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/neo4j-backup}
here=$(cd "$(dirname "$0")" && pwd)

# build DIR CMD...: run CMD with $out set to a scratch folder; rename it to DIR on success.
build() {
  local dir=$1; shift
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  mkdir -p "$(dirname "$dir")"
  # One build per entry at a time: a second caller waits for the first.
  exec 9>"$dir.lock"
  flock 9
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  local out; out=$(mktemp -d "$dir.partial.XXXX")
  trap 'rm -rf "$out"' EXIT
  echo "building $(basename "$dir") into $dir (first time only; this takes minutes)" >&2
  ( export out; "$@" ) >&2
  touch "$out/.complete"
  rm -rf "$dir"; mv "$out" "$dir"
  trap - EXIT
  echo "$dir"
}

control_plane() {
  cd "$here/tools"
  # One binary at a time: kube-apiserver alone peaks near 3 GB while linking.
  go build -trimpath -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -o "$out/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  go build -trimpath -o "$out/etcd" go.etcd.io/etcd/server/v3
}

kubectl_build() {
  cd "$here/tools"
  go build -trimpath -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
}

# module_dir MODULE VERSION SUBDIR: download MODULE@VERSION into the Go
# module cache (instant once there) and print SUBDIR of it.
module_dir() {
  local tmp json dir
  # Outside any module, so no go.mod is read or changed.
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  json=$(cd "$tmp" && go mod download -json "$1@$2") || { echo "go mod download $1@$2 failed: $json" >&2; return 1; }
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  if [ -z "$dir" ] || [ ! -d "$dir/$3" ]; then echo "go mod download $1@$2 gave no $3" >&2; return 1; fi
  echo "$dir/$3"
}

install() { # install PKG@VERSION: go install into $out
  GOBIN="$out" GOFLAGS=-mod=mod go install "$1"
}

case "${1:-}" in
  control-plane) build "$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION" control_plane ;;
  versitygw) build "$cache/versitygw-$VERSITYGW_VERSION" install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ;;
  minio) build "$cache/minio-$MINIO_VERSION" install "github.com/minio/minio@$MINIO_VERSION" ;;
  kubectl) build "$cache/kubectl-$K8S_VERSION" kubectl_build ;;
  mc) build "$cache/mc-$MC_VERSION" install "github.com/minio/mc@$MC_VERSION" ;;
  promtool) build "$cache/promtool-$PROMTOOL_VERSION" install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION" ;;
  helm) build "$cache/helm-$HELM_VERSION" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
  prometheus-operator-crds) module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd ;;
  cert-manager-crds) module_dir github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION" deploy/crds ;;
  *) echo "usage: hack/tools.sh control-plane|versitygw|minio|mc|kubectl|promtool|helm|prometheus-operator-crds|cert-manager-crds" >&2; exit 2 ;;
esac
