#!/usr/bin/env bash
# Build promtool (Prometheus' rule checker and rule unit-test runner) from the Go module proxy into the
# per-user cache directory, as hack/build-control-plane.sh does for the control plane. Built once per
# version, then reused. The service-discovery plugins are left out (`remove_all_sd`): promtool's rule
# commands do not use them, and they are most of its build.
#
# Prints the path of the promtool binary on its last line of stdout.
set -euo pipefail

# Prometheus tags its Go module v0.<major><minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
bin_dir="$cache_root/bin/promtool-${PROMETHEUS_MODULE_VERSION}"
log() { printf '[build-promtool] %s\n' "$*" >&2; }

if [[ -x "$bin_dir/promtool" ]]; then
  log "cached: $bin_dir/promtool"
  echo "$bin_dir/promtool"
  exit 0
fi

command -v go >/dev/null || { log "go is required (Go >= 1.26) to build promtool"; exit 1; }
mkdir -p "$bin_dir"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)
log "building promtool from github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION"
# built into a temporary directory and moved into place, so an interrupted build never looks cached
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" go install -tags remove_all_sd -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
mv "$tmp/promtool" "$bin_dir/promtool"
log "built in $(( $(date +%s) - start ))s: $bin_dir/promtool"
echo "$bin_dir/promtool"
