#!/usr/bin/env bash
# Install the Debian packages a real node needs on this machine (idempotent; needs root):
#   containerd, runc, containernetworking-plugins   the container runtime and the pod network
#   iptables, ipset, conntrack                      kube-proxy's Service rules, kube-router's policy sets
#   buildah, mmdebstrap                             images built from the Dockerfile without a registry
#   busybox-static, gcc, libc6-dev                  the tiny test image and the pod sandbox ("pause")
# The packages' own services are not started: the node runs its own containerd from a work
# directory, and stopping it is the node's teardown, not systemd's.
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables ipset conntrack buildah mmdebstrap
  busybox-static gcc libc6-dev)
log() { printf '[node-host-packages] %s\n' "$*" >&2; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "all installed"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { log "root is needed to install: ${missing[*]}"; exit 1; }
log "installing ${missing[*]}"
# policy-rc.d 101: the packages' maintainer scripts must not start containerd as a system service.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  made_policy=1
fi
trap '[[ $made_policy -eq 1 ]] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed"
