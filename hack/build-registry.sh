#!/usr/bin/env bash
# Build the OCI registry the release is pushed to and the node pulls from: CNCF Distribution's
# `registry` (github.com/distribution/distribution/v3), from the Go module proxy into the per-user
# cache directory like the other binaries (hack/go-install-cached.sh).
#
# Prints the path of the binary on its last line of stdout.
set -euo pipefail

DISTRIBUTION_VERSION="${DISTRIBUTION_VERSION:-v3.1.2}"

exec bash "$(dirname "$0")/go-install-cached.sh" registry "registry-distribution-${DISTRIBUTION_VERSION}" \
  "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION" \
  -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION"
