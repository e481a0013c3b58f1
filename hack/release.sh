#!/usr/bin/env bash
# `make release`: build every release artifact into dist/ and push the image and the chart to an OCI
# registry on loopback.
#
#   modelroute-VERSION.tar.gz, modelroute-VERSION-py3-none-any.whl   python -m build, twine check --strict
#   modelroute-VERSION.cdx.json       CycloneDX SBOM of the image's locked runtime dependencies
#   image-packages.json               what `pip list` finds installed in the image (checked against the lock)
#   modelroute-VERSION.tgz            the chart, helm lint-clean, packaged by helm
#   release.json                      what was pushed where: image reference and digest, chart URL
#
# The image is the Dockerfile's, built by hack/node-images.sh (buildah, cached by content) and
# pushed as REGISTRY/modelroute/modelroute:VERSION; the chart goes to oci://REGISTRY/charts.
# Without --push, a registry (tests/harness/registry.py, CNCF Distribution over HTTPS with its own CA) is
# started in .release/registry on 127.0.0.1:${RELEASE_REGISTRY_PORT:-5000} and stopped after the push
# unless --keep is given; its storage stays, so a later start serves the same release.
#
# Usage: hack/release.sh [--push HOST:PORT --ca-file CA_FILE] [--keep] [--dist DIR]   (DIR: default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

push="" ca_file="" keep=0 dist="$PWD/dist"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --push) push="$2"; shift 2 ;;
    --ca-file) ca_file="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --dist) dist=$(realpath -m "$2"); shift 2 ;;
    *) echo "usage: hack/release.sh [--push HOST:PORT --ca-file CA_FILE] [--keep] [--dist DIR]" >&2; exit 2 ;;
  esac
done
if [[ -n $push && -z $ca_file ]]; then
  echo "hack/release.sh: --push $push needs --ca-file, the CA that registry's certificate is issued by" >&2
  exit 2
fi

start=$SECONDS
ensure_venv
version=$(python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
work="$PWD/.release"
mkdir -p "$work"
mkdir -p "$dist"
rm -f "$dist"/modelroute-* "$dist/image-packages.json" "$dist/release.json"

step "sdist and wheel" python -m build --sdist --wheel --outdir "$dist" . >/dev/null
step "twine check" twine check --strict "$dist/modelroute-$version.tar.gz" "$dist/modelroute-$version-py3-none-any.whl"
step "lock in sync with pyproject.toml" python hack/lockfile.py check
# The root component's dependency graph is not in a requirements file; cyclonedx-py warns about that.
step "SBOM" python -W ignore::UserWarning -m cyclonedx_py requirements requirements/runtime.lock --pyproject pyproject.toml --output-reproducible \
  --output-format JSON --output-file "$dist/modelroute-$version.cdx.json"
step "SBOM lists every locked package" python hack/lockfile.py sbom "$dist/modelroute-$version.cdx.json"

bin_dir=$(ensure_control_plane)
helm_env=(env HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data")
helm=("${helm_env[@]}" "$bin_dir/helm")
step "helm lint" "${helm[@]}" lint --strict charts/modelroute >/dev/null
step "chart package" "${helm[@]}" package charts/modelroute --destination "$dist" >/dev/null
chart_version=$("${helm[@]}" show chart "$dist/modelroute-$version.tgz" | sed -n 's/^version: //p')
[[ -f "$dist/modelroute-$chart_version.tgz" ]]

step "node host packages (buildah, mmdebstrap)" bash hack/node-host-packages.sh
archive=$(bash hack/node-images.sh | tail -n 1 | python -c 'import json, sys; print(json.load(sys.stdin)["modelroute"]["archive"])')

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
store="$cache_root/buildah"
B=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)

registry="$push"
stop_registry=0
if [[ -z $registry ]]; then
  binary=$(bash hack/build-registry.sh | tail -n 1)
  up=$(python -m tests.harness.registry up --workdir "$work/registry" --binary "$binary" --port "${RELEASE_REGISTRY_PORT:-5000}")
  registry=$(sed -n 's/^REGISTRY=//p' <<<"$up")
  ca_file=$(sed -n 's/^CA_FILE=//p' <<<"$up")
  [[ $keep -eq 1 ]] || stop_registry=1
fi
certs=$(mktemp -d "${TMPDIR:-/tmp}/modelroute-release-certs.XXXXXX")
image="$registry/modelroute/modelroute:$version"
id=""
cleanup() {
  rm -rf "$certs"
  # The store keeps no copy: the archive is the cache (hack/node-images.sh).
  [[ -z $id ]] || "${B[@]}" rmi -f "$id" >/dev/null 2>&1 || true
  if [[ $stop_registry -eq 1 ]]; then python -m tests.harness.registry down --workdir "$work/registry" --binary "$binary"; fi
}
trap cleanup EXIT
# buildah trusts the CA files of a --cert-dir for that one command; nothing system-wide changes.
cp "$ca_file" "$certs/ca.crt"

log "image $image from $archive"
id=$("${B[@]}" pull --quiet "docker-archive:$archive")
"${B[@]}" tag "$id" "$image"
c=$("${B[@]}" from --pull=never "$image")
"${B[@]}" run --isolation chroot "$c" -- python -m pip list --format json --disable-pip-version-check \
  > "$dist/image-packages.json"
"${B[@]}" rm "$c" >/dev/null
step "image packages are the lock's" python hack/lockfile.py image "$dist/image-packages.json"

step "push image" "${B[@]}" push --quiet --cert-dir "$certs" --digestfile "$dist/image.digest" "$image" "docker://$image"
digest=$(cat "$dist/image.digest")
rm -f "$dist/image.digest"
step "push chart" "${helm[@]}" push "$dist/modelroute-$chart_version.tgz" "oci://$registry/charts" --ca-file "$ca_file"
chart="oci://$registry/charts/modelroute"
# Read back from the registry: the chart as a client will get it.
pulled=$("${helm[@]}" show chart "$chart" --version "$chart_version" --ca-file "$ca_file" | sed -n 's/^version: //p')
[[ $pulled == "$chart_version" ]] || { log "the registry served chart version '$pulled', not $chart_version"; exit 1; }

python - "$dist/release.json" "$image" "$digest" "$chart" "$chart_version" "$ca_file" <<'PY'
import json, sys
out, image, digest, chart, chart_version, ca_file = sys.argv[1:]
json.dump({"image": image, "digest": digest, "chart": chart, "chart_version": chart_version, "ca_file": ca_file},
          open(out, "w"), indent=2)
PY
log "released $version in $((SECONDS - start))s: $(cd "$dist" && ls | tr '\n' ' ')"
log "image $image@$digest; chart $chart --version $chart_version"
log "install: helm install modelroute $chart --version $chart_version --namespace modelroute-system --create-namespace --set image.repository=$registry/modelroute/modelroute --ca-file $ca_file --wait"
if [[ -z $push && $stop_registry -eq 0 ]]; then
  log "the registry keeps serving on $registry: python -m tests.harness.registry down --workdir .release/registry"
fi
