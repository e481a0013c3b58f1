#!/usr/bin/env bash
# Install the Debian packages that run .NET's own DbConnectionStringBuilder on this machine (idempotent;
# needs root): Mono's C# compiler and its System.Data, whose connection-string parser is the reference
# source .NET's. The .NET SDK itself is not in Debian's packages, and NuGet is not reachable.
set -euo pipefail

packages=(mono-mcs libmono-system-data4.0-cil)
log() { printf '[mono-packages] %s\n' "$*" >&2; }

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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed"
