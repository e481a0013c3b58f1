#!/usr/bin/env bash
# `make demo`: build or reuse the control plane, then run hack/demo.py (see `python -m hack.demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

ensure_venv
MODELROUTE_BIN_DIR="$(ensure_control_plane)"
export MODELROUTE_BIN_DIR
exec python -m hack.demo "$@"
