# Shared by the hack/ scripts: a project virtualenv and the cached control plane.
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

step() {
  local name="$1"; shift
  log "$name"
  "$@"
}
