#!/usr/bin/env bash
# Build the images the real node runs, without any registry, as docker-archive tarballs for
# `ctr images import`, cached under the user cache dir by a hash of what goes into each:
#   pause       the pod sandbox, hack/node/pause.c compiled statically
#   busybox     Debian's busybox-static with its applet links (small test pods)
#   modelroute  the operator image, built with buildah from the project's Dockerfile, unchanged
#   sdk         the operator image plus the `openai` SDKs for Python (pip) and Node (npm, with Debian's
#               nodejs): the covered test workloads
#
# The Dockerfile's pinned base python:3.11.13-slim-bookworm comes from a registry, which these
# machines cannot reach. It is stood in for by a Debian bookworm minbase with Debian's python3
# (3.11.2 in /usr/bin, not the official 3.11.13 in /usr/local), pip, venv and python-is-python3,
# made with mmdebstrap from the apt mirror and stored in buildah under the pinned name, so the
# Dockerfile builds with --pull=never. Two deliberate differences make it behave like the official
# image: no PEP 668 EXTERNALLY-MANAGED marker (so `pip install` works as it does there), and the
# machine's extra CA certificates (so pip in a build step trusts the network's TLS proxy, if any).
#
# Prints a JSON object {name: {"ref": image reference, "archive": path}} on its last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
img_dir="$cache_root/images"
store="$cache_root/buildah"
B=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)
BUD=(bud --quiet --isolation chroot --network host --pull=never --layers=false --format docker)
PYTHON_BASE=docker.io/library/python:3.11.13-slim-bookworm
PYTHON_BASE_PACKAGES=python3,python3-pip,python3-venv,python-is-python3,ca-certificates
SUITE=bookworm
OPENAI_SDK='openai>=1.40,<3'
# Major 4 supports Debian bookworm's Node 18.
NODE_OPENAI_SDK='openai@4'
NODE_SDK_DIR=/opt/node-sdk
log() { printf '[node-images] %s\n' "$*" >&2; }

sha() { sha256sum | cut -c1-16; }
mkdir -p "$img_dir" "$store"
work=$(mktemp -d "${TMPDIR:-/tmp}/modelroute-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# What each image is made of; a change to any of it gives a new key and a rebuild.
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
pause_key=$(sha < hack/node/pause.c)
busybox_key=$(printf 'busybox-static %s\n' "$busybox_version" | sha)
base_key=$(printf '%s\n' "$PYTHON_BASE" "$PYTHON_BASE_PACKAGES" "$SUITE" "no-pep668" "host-ca" | sha)
context_key=$(
  {
    cat Dockerfile .dockerignore pyproject.toml README.md LICENSE requirements/runtime.lock
    find operator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 \
      | sort -z | xargs -0 sha256sum
  } | sha
)
operator_key=$(printf '%s\n' "$base_key" "$context_key" | sha)
sdk_key=$(printf '%s\n' "$operator_key" "$OPENAI_SDK" "$NODE_OPENAI_SDK" nodejs | sha)

declare -A ref archive
ref[pause]="localhost/modelroute/pause:$pause_key"
ref[busybox]="localhost/modelroute/busybox:$busybox_key"
ref[modelroute]="localhost/modelroute/modelroute:$operator_key"
ref[sdk]="localhost/modelroute/sdk:$sdk_key"
for n in pause busybox modelroute sdk; do archive[$n]="$img_dir/$n-${ref[$n]##*:}.tar"; done

export_image() {  # name: push the image in the store to its archive, then drop it from the store
  local n=$1
  rm -f "${archive[$n]}.part"
  "${B[@]}" push --quiet "${ref[$n]}" "docker-archive:${archive[$n]}.part:${ref[$n]}"
  mv "${archive[$n]}.part" "${archive[$n]}"
}

if [[ ! -f ${archive[pause]} ]]; then
  log "pause ${ref[pause]}"
  gcc -Os -static -Wall -o "$work/pause" hack/node/pause.c
  strip "$work/pause"
  c=$("${B[@]}" from --pull=never scratch)
  "${B[@]}" copy "$c" "$work/pause" /pause >/dev/null
  "${B[@]}" config --os linux --arch amd64 --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${B[@]}" commit --quiet --rm "$c" "${ref[pause]}" >/dev/null
  export_image pause
  "${B[@]}" rmi "${ref[pause]}" >/dev/null
fi

if [[ ! -f ${archive[busybox]} ]]; then
  log "busybox ${ref[busybox]}"
  root="$work/busybox"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
  done
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  c=$("${B[@]}" from --pull=never scratch)
  "${B[@]}" copy "$c" "$root" / >/dev/null
  "${B[@]}" config --os linux --arch amd64 --env PATH=/bin --cmd sh "$c"
  "${B[@]}" commit --quiet --rm "$c" "${ref[busybox]}" >/dev/null
  export_image busybox
  "${B[@]}" rmi "${ref[busybox]}" >/dev/null
fi

have_base() {
  [[ $("${B[@]}" inspect --type image --format '{{index .ImageAnnotations "io.modelroute.stand-in"}}' \
    "$PYTHON_BASE" 2>/dev/null) == "$base_key" ]]
}

if [[ ! -f ${archive[modelroute]} || ! -f ${archive[sdk]} ]]; then
  if ! have_base; then
    log "stand-in for $PYTHON_BASE (mmdebstrap $SUITE: ${PYTHON_BASE_PACKAGES//,/ })"
    "${B[@]}" rmi "$PYTHON_BASE" >/dev/null 2>&1 || true
    # The hooks run in mmdebstrap's shell, where $1 is the new root file system.
    # shellcheck disable=SC2016
    mmdebstrap --quiet --variant=minbase --include="$PYTHON_BASE_PACKAGES" \
      --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
      --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
      "$SUITE" "$work/rootfs.tar" \
      "deb http://deb.debian.org/debian $SUITE main" \
      "deb http://deb.debian.org/debian $SUITE-updates main" \
      "deb http://deb.debian.org/debian-security $SUITE-security main"
    c=$("${B[@]}" from --pull=never scratch)
    "${B[@]}" add "$c" "$work/rootfs.tar" / >/dev/null
    "${B[@]}" config --os linux --arch amd64 \
      --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
      --env PYTHON_VERSION=3.11.2-debian --cmd python3 \
      --annotation "io.modelroute.stand-in=$base_key" "$c"
    "${B[@]}" commit --quiet --rm "$c" "$PYTHON_BASE" >/dev/null
    rm -f "$work/rootfs.tar"
  fi
  log "operator image ${ref[modelroute]} from Dockerfile"
  "${B[@]}" "${BUD[@]}" -f Dockerfile -t "${ref[modelroute]}" . >/dev/null
  log "sdk image ${ref[sdk]}"
  cat > "$work/Containerfile" <<DF
FROM ${ref[modelroute]}
USER 0:0
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore '$OPENAI_SDK'
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \\
    && mkdir -p $NODE_SDK_DIR && cd $NODE_SDK_DIR \\
    && NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm install --omit=dev --no-audit --no-fund --loglevel=error '$NODE_OPENAI_SDK' \\
    && apt-get purge -y -qq npm >/dev/null && apt-get autoremove -y -qq >/dev/null \\
    && rm -rf /var/lib/apt/lists/* /root/.npm
ENV NODE_PATH=$NODE_SDK_DIR/node_modules
USER 65532:65532
ENTRYPOINT []
CMD ["python3"]
DF
  "${B[@]}" "${BUD[@]}" -f "$work/Containerfile" -t "${ref[sdk]}" "$work" >/dev/null
  export_image modelroute
  export_image sdk
  "${B[@]}" rmi "${ref[sdk]}" "${ref[modelroute]}" >/dev/null
fi

# Archives of earlier keys are never used again.
keep=" ${archive[*]} "
for f in "$img_dir"/*.tar; do
  [[ -e $f && $keep != *" $f "* ]] && rm -f "$f"
done

printf '{'
sep=''
for n in pause busybox modelroute sdk; do
  printf '%s"%s": {"ref": "%s", "archive": "%s"}' "$sep" "$n" "${ref[$n]}" "${archive[$n]}"
  sep=', '
done
printf '}\n'
