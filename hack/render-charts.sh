#!/usr/bin/env bash
# render-charts.sh renders testdata/charts/<case>.yaml from Neo4j's own Helm charts, one
# `helm template --namespace graph` per case, with testdata/charts/values/<case>.yaml (see
# testdata/charts/README.md for what each case shows and what the render keeps).
#
#   hack/render-charts.sh [CASE...]
#
#   HELM                helm binary (go install helm.sh/helm/v3/cmd/helm@v3.19.0)       default: helm
#   NEO4J_HELM_CHARTS   git directory of github.com/neo4j/helm-charts (a bare clone works)
#   NEO4J_CONTRIB_HELM  git directory of github.com/neo4j-contrib/neo4j-helm
#   NEO4J_CHART_LATEST  folder of the `neo4j` chart itself (its Chart.yaml, values.yaml, templates/) for
#                       the calendar-version cases, whose tags no clone here holds; its appVersion
#                       must be the case's version
#   OUT                 where the renders go                            default: testdata/charts
#
# With no CASE every case below is rendered. A case whose tag is not in its repository, or whose chart
# folder is unset or of another version, is reported and left as it is; the script then exits 1 after
# rendering the others.
# Re-serialising needs python3 with PyYAML; it drops helm's comments and keeps key order.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
helm=${HELM:-helm}
root=$(cd "$here/.." && pwd)
out=${OUT:-$root/testdata/charts}
values=$root/testdata/charts/values

# case  repository  tag  chart folder  release. Repository "latest" is the folder NEO4J_CHART_LATEST
# and "tag" the appVersion its Chart.yaml must have.
cases=(
  "neo4j-5.26.0-standalone           neo4j   5.26.0 neo4j                      my-neo4j"
  "neo4j-5.26.0-cluster-server-1     neo4j   5.26.0 neo4j                      server-1"
  "neo4j-cluster-core-4.4.31         neo4j   4.4.31 neo4j-cluster-core         core-1"
  "neo4j-cluster-read-replica-4.4.31 neo4j   4.4.31 neo4j-cluster-read-replica rr-1"
  "neo4j-helm-4.4.10-causal-cluster  contrib 4.4.10 .                          my-neo4j"
  "neo4j-5.17.0-plugins-share-data   neo4j   5.17.0 neo4j                      my-neo4j"
  "neo4j-5.17.0-apoc-labs            neo4j   5.17.0 neo4j                      my-neo4j"
  "neo4j-5.17.0-plugins-download     neo4j   5.17.0 neo4j                      my-neo4j"
  "neo4j-5.17.0-custom-image         neo4j   5.17.0 neo4j                      my-neo4j"
  "neo4j-2026.06.0-standalone        latest  2026.06.0 .                        my-neo4j"
  "neo4j-2026.06.0-cluster-server-1  latest  2026.06.0 .                        server-1"
  "neo4j-2026.06.0-plugins-share-data latest 2026.06.0 .                        my-neo4j"
)

command -v "$helm" >/dev/null || { echo "no helm at '$helm': set HELM (go install helm.sh/helm/v3/cmd/helm@v3.19.0)" >&2; exit 2; }
python3 -c 'import yaml' 2>/dev/null || { echo "python3 with PyYAML is needed to re-serialise the renders: install python3-yaml" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# extract REPO TAG: print a folder holding the repository's files at TAG, extracted once.
# build/ is left out: it holds no chart, and mirrors often lack its large binaries.
extract() {
  local dir=$scratch/$1-$2 git
  git=$(repo "$1") || return 1
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir.part"
    # git still names a missing build/ object on stderr though it archives the rest: hide that line.
    git -C "$git" archive "$2" -- . ':(exclude)build' 2> >(grep -v "^error: .* for 'build/" >&2) |
      tar -x -C "$dir.part" || return 1
    mv "$dir.part" "$dir"
  fi
  echo "$dir"
}

repo() {
  case $1 in
    neo4j) echo "${NEO4J_HELM_CHARTS:?set NEO4J_HELM_CHARTS to a git directory of github.com/neo4j/helm-charts}" ;;
    contrib) echo "${NEO4J_CONTRIB_HELM:?set NEO4J_CONTRIB_HELM to a git directory of github.com/neo4j-contrib/neo4j-helm}" ;;
  esac
}

# latest CASE VERSION: print NEO4J_CHART_LATEST if it is a chart folder whose appVersion is VERSION,
# so that a render is never named after a version it was not made from.
latest() {
  local dir=${NEO4J_CHART_LATEST:-} have
  if [ -z "$dir" ] || [ ! -f "$dir/Chart.yaml" ]; then
    echo "$1: set NEO4J_CHART_LATEST to the folder of neo4j/helm-charts' neo4j chart at appVersion $2 (the folder holding Chart.yaml)" >&2
    return 1
  fi
  have=$(sed -n 's/^appVersion:[[:space:]]*//p' "$dir/Chart.yaml" | tr -d "\"' \r")
  if [ "$have" != "$2" ]; then
    echo "$1: $dir/Chart.yaml has appVersion '$have', not $2: give the chart of $2, or rename the case and its values file" >&2
    return 1
  fi
  echo "$dir"
}

# The tests apply every render to a namespace "graph" and create its StatefulSets' pods, so a render
# keeps what those pods reference (ServiceAccounts, Secrets, ConfigMaps) and the StatefulSets, and
# drops helm hooks (test pods), Services, RBAC and anything cluster-scoped.
reserialise() {
  python3 -c '
import sys, yaml

header = sys.argv[1]

class Dumper(yaml.SafeDumper):
    pass

def text(dumper, value):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)

Dumper.add_representer(str, text)

docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
docs = [d for d in docs if "helm.sh/hook" not in (d["metadata"].get("annotations") or {})]
support = [d for d in docs if d["kind"] in ("ServiceAccount", "Secret", "ConfigMap")]
for d in support:
    d["metadata"].setdefault("namespace", "graph")
statefulsets = [d for d in docs if d["kind"] == "StatefulSet"]
if not statefulsets:
    sys.exit("the render has no StatefulSet")

dump = dict(Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000)
print(header)
print("# ServiceAccounts, ConfigMaps and Secrets of the same render, which the pod(s) reference.")
print("# The ServiceAccount admission plugin rejects a Pod whose serviceAccountName does not exist, so apply this first.")
print(yaml.dump_all(support, **dump), end="")
print("---")
print(header)
print(yaml.dump_all(statefulsets, **dump), end="")
' "$1"
}

# render CASE REPO TAG CHART RELEASE. It runs in an `||` list, where set -e is off, so every step
# that can fail returns.
render() {
  local name=$1 from=$2 tag=$3 chart=$4 release=$5 git dir
  local vals=$values/$name.yaml raw=$scratch/$name.raw.yaml new=$scratch/$name.yaml
  [ -f "$vals" ] || { echo "$name: no values file $vals" >&2; return 1; }
  if [ "$from" = latest ]; then
    dir=$(latest "$name" "$tag") || return 1
  else
    git=$(repo "$from") || return 1
    if ! git -C "$git" rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
      echo "$name: tag $tag is not in $git: fetch a newer clone of that repository" >&2
      return 1
    fi
    dir=$(extract "$from" "$tag") || return 1
  fi
  "$helm" template "$release" "$dir/$chart" --namespace graph -f "$vals" >"$raw" || return 1
  # The values file's first line says how the render was made; the render carries it too.
  reserialise "$(head -n 1 "$vals")" <"$raw" >"$new" || return 1
  mv "$new" "$out/$name.yaml" || return 1
  echo "rendered $out/$name.yaml" >&2
}

want=("$@")
failed=0
found=0
for c in "${cases[@]}"; do
  read -r name from tag chart release <<<"$c"
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  found=$((found + 1))
  render "$name" "$from" "$tag" "$chart" "$release" || failed=1
done
if [ ${#want[@]} -gt 0 ] && [ "$found" -ne ${#want[@]} ]; then
  echo "unknown case among: ${want[*]} (the cases are listed at the top of $0)" >&2
  exit 2
fi
exit $failed
