#!/usr/bin/env bash
# `make demo-node`: the demo's story on a real node, told by the node suite's own checks with their
# output shown: the chart installed from the Dockerfile's image (two Ready operator pods serving the
# webhooks), examples/ applied (verdicts, running pods, injected env), a real `openai` SDK pod whose
# requests arrive at the approved in-cluster endpoint (what it received is printed), then teardown
# with the host restored. Needs root; installs the node's host packages (hack/node-host-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

ensure_venv
MODELROUTE_BIN_DIR="$(ensure_control_plane)"
MODELROUTE_NODE_BIN_DIR="$(ensure_node)"
export MODELROUTE_BIN_DIR MODELROUTE_NODE_BIN_DIR
log_file="$(mktemp -t modelroute-demo-node.XXXXXX)"
trap 'rm -f "$log_file"' EXIT
status=0
python -m pytest -p no:cacheprovider -q -s --no-header \
  tests/node/test_node_chart.py tests/node/test_node_examples.py tests/node/test_node_sdk.py \
  tests/node/test_node_teardown.py "$@" 2>&1 | tee "$log_file" || status=$?
# The story ends where the traffic arrived: what the approved endpoint received, from both SDK pods.
printf '\n\033[1mWhat the approved endpoint received\033[0m\n'
awk '/the approved endpoint received:/ {show = 1; print; next} show && /^  / {print; next} {show = 0}' "$log_file"
exit "$status"
