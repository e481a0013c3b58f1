#!/usr/bin/env bash
# Build the node binaries from the Go module proxy into the per-user cache directory, beside the
# control plane of hack/build-control-plane.sh and at the same Kubernetes version:
#   kubelet, kube-proxy, kube-scheduler   k8s.io/kubernetes (the same wrapper-module build)
#   crictl                                sigs.k8s.io/cri-tools (the node's teardown talks CRI)
#   kube-router                           github.com/cloudnativelabs/kube-router, run only as the
#                                         NetworkPolicy firewall of the node
# Built once per version set, then reused.
#
# Prints the directory holding the binaries on its last line of stdout.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.34.4}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
bin_dir="$cache_root/bin/node-k8s-${KUBERNETES_VERSION}_crictl-${CRICTL_VERSION}_kube-router-${KUBE_ROUTER_VERSION}"
build_root="$cache_root/build"
log() { printf '[build-node] %s\n' "$*" >&2; }

want=(kubelet kube-proxy kube-scheduler crictl kube-router)
missing=()
for b in "${want[@]}"; do [[ -x "$bin_dir/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "cached: $bin_dir"
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "go is required (Go >= 1.24) to build the node"; exit 1; }
mkdir -p "$bin_dir" "$build_root"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)

needs() { local b; for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

if needs kubelet kube-proxy kube-scheduler; then
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  mod="$build_root/kubernetes-node-$KUBERNETES_VERSION"
  mkdir -p "$mod"
  log "resolving k8s.io/kubernetes $KUBERNETES_VERSION (staging modules $staging_version)"
  # The same wrapper module as the control plane's build (see hack/build-control-plane.sh), so the
  # packages both share come out of the Go build cache.
  (
    cd "$mod"
    [[ -f go.mod ]] || go mod init modelroute.local/kubernetes-node-build >/dev/null 2>&1
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
    upstream_mod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    staging=$(grep -E '=> \./staging/' "$upstream_mod" | awk '{print $1}')
    args=(-require="k8s.io/kubernetes@$KUBERNETES_VERSION")
    for m in $staging; do args+=(-replace="$m=$m@$staging_version"); done
    go mod edit "${args[@]}"
    go mod tidy -e >/dev/null 2>&1 || true
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    log "building kubelet, kube-proxy, kube-scheduler"
    go build -tags tools -ldflags "$ldflags" -o "$bin_dir/" \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler
  )
fi

if needs crictl; then
  log "building crictl $CRICTL_VERSION"
  GOBIN="$bin_dir" go install -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi

if needs kube-router; then
  log "building kube-router $KUBE_ROUTER_VERSION"
  GOBIN="$bin_dir" go install -ldflags "-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
fi

log "built in $(( $(date +%s) - start ))s: $bin_dir"
echo "$bin_dir"
