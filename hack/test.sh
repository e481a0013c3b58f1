#!/usr/bin/env bash
# The whole test suite: lint, strict typing, unit tests, end-to-end tests against a real control
# plane, and the node suite (tests/node) on a real node running the chart from the Dockerfile's
# image. Binaries are built from Go modules on first use and cached under ~/.cache/modelroute, images
# are cached by content there too; the node's host packages are installed by hack/node-host-packages.sh.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k hosts`; the node is prepared only
# when the node suite can be part of the run (no arguments, or arguments naming tests/node).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

ensure_venv
step "ruff" ruff check operator tests hack
step "ruff format" ruff format --check operator tests hack
step "mypy --strict" mypy
step "mypy --strict (node)" env MYPYPATH=hack:tests/e2e:tests/node \
  mypy --strict --explicit-package-bases hack/localnode.py tests/node
MODELROUTE_BIN_DIR="$(ensure_control_plane)"
export MODELROUTE_BIN_DIR
if [[ $# -eq 0 || " $* " == *" tests/node"* ]]; then
  MODELROUTE_NODE_BIN_DIR="$(ensure_node)"
  export MODELROUTE_NODE_BIN_DIR
fi
step "pytest" python -m pytest "$@"
