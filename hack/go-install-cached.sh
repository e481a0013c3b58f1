#!/usr/bin/env bash
# One Go binary from the Go module proxy into the per-user cache directory, built once per version and
# reused afterwards, as hack/build-control-plane.sh does for the control plane. Used by the small tools'
# build scripts (hack/build-promtool.sh, hack/build-registry.sh).
#
#   hack/go-install-cached.sh NAME CACHE_KEY MODULE/cmd/NAME@VERSION [go install flags...]
#
# Prints the path of the binary on its last line of stdout; logs go to stderr as [build-NAME].
set -euo pipefail

name="$1" key="$2" package="$3"
shift 3
cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
bin_dir="$cache_root/bin/$key"
log() { printf '[build-%s] %s\n' "$name" "$*" >&2; }

if [[ -x "$bin_dir/$name" ]]; then
  log "cached: $bin_dir/$name"
  echo "$bin_dir/$name"
  exit 0
fi

command -v go >/dev/null || { log "go is required (Go >= 1.26) to build $name"; exit 1; }
mkdir -p "$bin_dir"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)
log "building $package"
# built into a temporary directory and moved into place, so an interrupted build never looks cached
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" go install "$@" "$package"
mv "$tmp/$name" "$bin_dir/$name"
log "built in $(( $(date +%s) - start ))s: $bin_dir/$name"
echo "$bin_dir/$name"
