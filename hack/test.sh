#!/usr/bin/env bash
# The whole test suite: lint, strict typing, import contracts, unit tests, end-to-end tests against a
# real control plane, and the node suite (tests/node) on a real node running the chart from the
# Dockerfile's image. Binaries are built from Go modules on first use and cached under
# ~/.cache/modelroute, images are cached by content there too; the node's host packages are installed
# by hack/node-host-packages.sh.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k hosts`. The control plane is built
# only when the run can reach tests that use it (a run of tests/unit or tests/fuzz alone needs no Go),
# the node only when the node suite can be part of the run (no arguments, or arguments naming
# tests/node), and promtool only when the monitoring suite can be (no arguments, or arguments naming
# tests/monitoring or the whole tests/ directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

# Whether every path given lies in a suite that runs without a cluster.
offline_only() {
  local arg paths=0
  for arg in "$@"; do
    case "$arg" in
      -*) ;;
      tests/unit* | tests/fuzz*) paths=$((paths + 1)) ;;
      *) return 1 ;;
    esac
  done
  [[ $paths -gt 0 ]]
}

ensure_venv
lint
if ! offline_only "$@"; then
  MODELROUTE_BIN_DIR="$(ensure_control_plane)"
  export MODELROUTE_BIN_DIR
fi
if [[ $# -eq 0 || " $* " == *" tests/monitoring"* || " $* " == *" tests "* || " $* " == *" tests/ "* ]]; then
  MODELROUTE_PROMTOOL="$(ensure_promtool)"
  export MODELROUTE_PROMTOOL
fi
if [[ $# -eq 0 || " $* " == *" tests/node"* ]]; then
  MODELROUTE_NODE_BIN_DIR="$(ensure_node)"
  export MODELROUTE_NODE_BIN_DIR
fi
step "pytest" python -m pytest "$@"
