#!/usr/bin/env bash
# Builds / fetches the official-client probes of tests/clients (see README.md), from package
# registries only: the Go module proxy (clickhouse-go), PyPI (clickhouse-connect) and Maven
# Central (clickhouse-jdbc). Idempotent: a part whose inputs have not changed since its last build
# is skipped (a stamp file holds the hash of its inputs), so a warm run takes well under a second.
#
#   tests/clients/build.sh            # all three
#   tests/clients/build.sh go python  # some
#
# Outputs (nothing is written into the work tree):
#   $AIRDIG_CACHE/clients-go/clickhouse-go-probe   Go binary (Go's own caches: GOMODCACHE, GOCACHE)
#   $AIRDIG_CACHE/clients-venv/                    Python venv with python/requirements.txt
#   $AIRDIG_CACHE/jdbc/lib/*.jar, jdbc/classes/    the driver's jars and the compiled probe
# AIRDIG_CACHE defaults to ~/.cache/airdig. AIRDIG_MAVEN_REPO, if set, is Maven's local repository
# (default ~/.m2/repository). PYTHON picks the interpreter for the venv (default python3).
set -euo pipefail

# Everything this script and the tools it runs print goes to stderr: run.sh calls it before a
# probe, whose stdout must hold only the probe's JSON lines.
exec 1>&2

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${AIRDIG_CACHE:-$HOME/.cache/airdig}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$CACHE"

log() { echo "[clients/build] $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed ($2)"; exit 1; }; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; } # stamp file, expected hash

build_go() {
  need go "needed for the clickhouse-go probe"
  local out="$CACHE/clients-go" h
  h="$(hash_of "$DIR/go/go.mod" "$DIR/go/go.sum" "$DIR/go/main.go"; go version)"
  if fresh "$out/.stamp" "$h" && [[ -x "$out/clickhouse-go-probe" ]]; then return; fi
  log "go: building clickhouse-go probe"
  mkdir -p "$out"
  # -mod=readonly: go.sum is authoritative; -p 2: this machine has 2 cores.
  (cd "$DIR/go" && GOFLAGS="-mod=readonly" go build -p 2 -trimpath -buildvcs=false -o "$out/clickhouse-go-probe.tmp" .)
  mv "$out/clickhouse-go-probe.tmp" "$out/clickhouse-go-probe"
  echo "$h" > "$out/.stamp"
}

build_python() {
  need "$PYTHON" "needed for the clickhouse-connect probe"
  local venv="$CACHE/clients-venv" h
  h="$(hash_of "$DIR/python/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)')"
  if fresh "$venv/.stamp" "$h" && [[ -x "$venv/bin/python" ]]; then return; fi
  log "python: creating $venv with python/requirements.txt"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$DIR/python/requirements.txt"
  echo "$h" > "$venv/.stamp"
}

build_jdbc() {
  need java "needed for the JDBC probe (Java 17+)"
  need javac "needed for the JDBC probe (a JDK, 17+)"
  need mvn "needed to fetch the JDBC driver from Maven Central"
  local out="$CACHE/jdbc" h_lib h_src
  h_lib="$(hash_of "$DIR/jdbc/pom.xml")"
  if ! fresh "$out/lib.stamp" "$h_lib" || [[ ! -d "$out/lib" ]]; then
    log "jdbc: fetching com.clickhouse:clickhouse-jdbc and its dependencies"
    rm -rf "$out/lib" "$out/classes" "$out/classes.stamp"
    mkdir -p "$out"
    local repo=()
    [[ -n "${AIRDIG_MAVEN_REPO:-}" ]] && repo=("-Dmaven.repo.local=$AIRDIG_MAVEN_REPO")
    mvn -q -B -Dstyle.color=never "${repo[@]}" -f "$DIR/jdbc/pom.xml" dependency:copy-dependencies -DoutputDirectory="$out/lib"
    echo "$h_lib" > "$out/lib.stamp"
  fi
  h_src="$(hash_of "$DIR/jdbc/src/main/java/airdig/clients/JdbcProbe.java" "$out/lib.stamp"; javac -version 2>&1)"
  if fresh "$out/classes.stamp" "$h_src" && [[ -d "$out/classes" ]]; then return; fi
  log "jdbc: compiling JdbcProbe.java"
  rm -rf "$out/classes"
  mkdir -p "$out/classes"
  javac -encoding UTF-8 --release 17 -d "$out/classes" -cp "$out/lib/*" "$DIR/jdbc/src/main/java/airdig/clients/JdbcProbe.java"
  echo "$h_src" > "$out/classes.stamp"
}

parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(go python jdbc)
for p in "${parts[@]}"; do
  case "$p" in
    go) build_go ;;
    python) build_python ;;
    jdbc) build_jdbc ;;
    *) log "unknown part '$p' (go | python | jdbc)"; exit 2 ;;
  esac
done
