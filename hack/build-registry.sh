#!/usr/bin/env bash
# Build the OCI registry the release is pushed to and the node pulls from: CNCF Distribution's
# `registry` (github.com/distribution/distribution/v3), from the Go module proxy into the per-user
# cache directory like the other binaries. Built once per version, then reused.
#
# Prints the path of the binary on its last line of stdout.
set -euo pipefail

DISTRIBUTION_VERSION="${DISTRIBUTION_VERSION:-v3.1.2}"

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
bin_dir="$cache_root/bin/registry-distribution-${DISTRIBUTION_VERSION}"
log() { printf '[build-registry] %s\n' "$*" >&2; }

if [[ -x "$bin_dir/registry" ]]; then
  log "cached: $bin_dir/registry"
  echo "$bin_dir/registry"
  exit 0
fi
command -v go >/dev/null || { log "go is required (Go >= 1.24) to build the registry"; exit 1; }
mkdir -p "$bin_dir"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)
log "building registry (distribution $DISTRIBUTION_VERSION)"
GOBIN="$bin_dir.part" go install -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION" \
  "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
mv "$bin_dir.part/registry" "$bin_dir/registry"
rmdir "$bin_dir.part"
log "built in $(( $(date +%s) - start ))s: $bin_dir/registry"
echo "$bin_dir/registry"
