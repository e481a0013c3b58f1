#!/usr/bin/env bash
# Build promtool (Prometheus' rule checker and rule unit-test runner) from the Go module proxy into the
# per-user cache directory (hack/go-install-cached.sh). The service-discovery plugins are left out
# (`remove_all_sd`): promtool's rule commands do not use them, and they are most of its build.
#
# Prints the path of the promtool binary on its last line of stdout.
set -euo pipefail

# Prometheus tags its Go module v0.<major><minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"

exec bash "$(dirname "$0")/go-install-cached.sh" promtool "promtool-${PROMETHEUS_MODULE_VERSION}" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" \
  -tags remove_all_sd -ldflags "-s -w"
