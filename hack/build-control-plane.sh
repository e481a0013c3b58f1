#!/usr/bin/env bash
# Build the local control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) and helm
# from the Go module proxy into a per-user cache directory. Built once per version set, then reused.
#
# Prints the directory holding the binaries on its last line of stdout.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.21.4}"

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
bin_dir="$cache_root/bin/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
build_root="$cache_root/build"
log() { printf '[build-control-plane] %s\n' "$*" >&2; }

want=(kube-apiserver kube-controller-manager kubectl etcd helm)
missing=()
for b in "${want[@]}"; do [[ -x "$bin_dir/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "cached: $bin_dir"
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "go is required (Go >= 1.24) to build the control plane"; exit 1; }
mkdir -p "$bin_dir" "$build_root"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)

needs() { local b; for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

if needs kube-apiserver kube-controller-manager kubectl; then
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  mod="$build_root/kubernetes-$KUBERNETES_VERSION"
  mkdir -p "$mod"
  log "resolving k8s.io/kubernetes $KUBERNETES_VERSION (staging modules $staging_version)"
  # k8s.io/kubernetes replaces its staging modules with local paths; a wrapper module points them
  # at the published versions instead. The list is read from the upstream go.mod itself.
  (
    cd "$mod"
    [[ -f go.mod ]] || go mod init modelroute.local/kubernetes-build >/dev/null 2>&1
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    upstream_mod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    staging=$(grep -E '=> \./staging/' "$upstream_mod" | awk '{print $1}')
    args=(-require="k8s.io/kubernetes@$KUBERNETES_VERSION")
    for m in $staging; do args+=(-replace="$m=$m@$staging_version"); done
    go mod edit "${args[@]}"
    go mod tidy -e >/dev/null 2>&1 || true
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    log "building kube-apiserver, kube-controller-manager, kubectl"
    go build -tags tools -ldflags "$ldflags" -o "$bin_dir/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
  )
fi

if needs etcd; then
  mod="$build_root/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  log "building etcd $ETCD_VERSION"
  (
    cd "$mod"
    [[ -f go.mod ]] || go mod init modelroute.local/etcd-build >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy -e >/dev/null 2>&1 || true
    go build -tags tools -ldflags "-s -w" -o "$bin_dir/etcd" go.etcd.io/etcd/server/v3
  )
fi

if needs helm; then
  log "building helm $HELM_VERSION"
  GOBIN="$bin_dir" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

log "built in $(( $(date +%s) - start ))s: $bin_dir"
echo "$bin_dir"
