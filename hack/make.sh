#!/usr/bin/env bash
# The Makefile's small targets, each working on a fresh checkout: the project's virtualenv is made
# (or brought up to date) first. Usage: hack/make.sh lint | crds | lock | bench | demo-down
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

ensure_venv
case "${1:-}" in
  lint) lint ;;
  crds) modelroute crds --write crds --write charts/modelroute/crds && python -m modelroute.cli.kubefields --write ;;
  lock)
    # The image's runtime dependencies, resolved for its interpreter (CPython 3.11 on x86-64 Linux),
    # every artifact's hash recorded; the Dockerfile installs them with --require-hashes.
    uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
      --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
      --output-file requirements/runtime.lock
    python hack/lockfile.py check
    ;;
  bench)
    python -m tests.bench.bench_check
    python -m tests.bench.bench_webhook
    MODELROUTE_BIN_DIR="$(ensure_control_plane)"
    export MODELROUTE_BIN_DIR
    python -m tests.bench.bench_pods
    python -m tests.bench.bench_config_maps
    python -m tests.bench.bench_scale
    python -m tests.bench.bench_memory
    ;;
  demo-down)
    if [[ -f .demo/operator.pid ]]; then kill "$(cat .demo/operator.pid)" 2>/dev/null || true; fi
    python -m tests.harness.control_plane down --workdir .demo
    ;;
  *) echo "usage: hack/make.sh lint|crds|lock|bench|demo-down" >&2; exit 2 ;;
esac
