#!/usr/bin/env bash
# The whole test suite: lint, strict typing, unit tests and end-to-end tests against a real
# control plane (built from Go modules on first use and cached under ~/.cache/modelroute).
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k hosts`.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

ensure_venv
step "ruff" ruff check operator tests hack
step "ruff format" ruff format --check operator tests hack
step "mypy --strict" mypy
MODELROUTE_BIN_DIR="$(ensure_control_plane)"
export MODELROUTE_BIN_DIR
step "pytest" python -m pytest "$@"
