#!/usr/bin/env bash
# Build the Spring AI probe (tests/clients/spring-probe: Spring Boot 3.5 with Spring AI 1.1's OpenAI
# starter) with Maven into the per-user cache directory, once per content of the probe's sources;
# Maven's local repository is cached there too (~/.cache/modelroute/m2), so a warm run does not reach
# Maven Central. The build runs in a copy of the sources, so the work tree gets no target/ directory.
#
# Prints the path of the probe's jar on its last line of stdout; logs go to stderr as [build-spring-probe].
set -euo pipefail
cd "$(dirname "$0")/.."

cache_root="${MODELROUTE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelroute}"
sources=tests/clients/spring-probe
log() { printf '[build-spring-probe] %s\n' "$*" >&2; }

key=$(find "$sources" -type f \( -name pom.xml -o -path '*/src/*' \) -print0 | sort -z | xargs -0 sha256sum \
  | sha256sum | cut -c1-16)
jar="$cache_root/spring-probe/$key/spring-probe.jar"
if [[ -f "$jar" ]]; then
  log "cached: $jar"
  echo "$jar"
  exit 0
fi

command -v java >/dev/null || { log "java (17 or later) is required to build the Spring AI probe"; exit 1; }
command -v mvn >/dev/null || { log "mvn (Maven 3.6 or later) is required to build the Spring AI probe"; exit 1; }
mkdir -p "$(dirname "$jar")" "$cache_root/m2"
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$sources/." "$work/"
log "building with Maven (local repository $cache_root/m2)"
mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$cache_root/m2" -DskipTests package >&2
# moved into place last, so an interrupted build never looks cached
mv "$work/target/spring-probe.jar" "$jar.tmp"
mv "$jar.tmp" "$jar"
log "built in $(( $(date +%s) - start ))s: $jar"
echo "$jar"
