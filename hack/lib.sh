# Shared by the hack/ scripts: a project virtualenv, the cached control plane and the real node.
# shellcheck shell=bash

VENV="${MODELROUTE_VENV:-$PWD/.venv}"

log() { printf '\033[1m[modelroute]\033[0m %s\n' "$*" >&2; }

ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  log "installing modelroute and its test dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
  export PATH="$VENV/bin:$PATH"
}

ensure_control_plane() {
  bash hack/build-control-plane.sh | tail -n 1
}

# promtool (checks and unit-tests the chart's alerting rules and the dashboard's queries). Prints its path.
ensure_promtool() {
  bash hack/build-promtool.sh | tail -n 1
}

# The real node's prerequisites: host packages (apt, root), node binaries and the registry the node
# pulls the operator image from (Go, cached) and images (buildah, cached by content). Prints the node
# binaries' directory.
ensure_node() {
  local start=$SECONDS
  bash hack/node-host-packages.sh
  local bin_dir
  bin_dir=$(bash hack/build-node.sh | tail -n 1)
  bash hack/build-registry.sh >/dev/null
  bash hack/node-images.sh >/dev/null
  log "node prerequisites ready in $((SECONDS - start))s"
  echo "$bin_dir"
}

step() {
  local name="$1"; shift
  log "$name"
  "$@"
}

# Every static check: lint, format, strict typing (one mypy run over the operator, the test harness,
# hack/*.py and the node suite; pyproject.toml, [tool.mypy]) and the import contracts
# (pyproject.toml, [tool.importlinter]).
lint() {
  step "ruff" ruff check operator tests hack
  step "ruff format" ruff format --check operator tests hack
  step "mypy --strict" mypy
  step "import contracts" lint-imports --no-cache
}
