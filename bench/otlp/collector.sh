#!/usr/bin/env bash
# The OpenTelemetry Collector (otlp receiver → kafka exporter) and telemetrygen, built once from the
# Go module proxy with the Collector's builder, for bench/otlp to run beside AirDig.
#
#   bench/otlp/collector.sh build     build both into the cache (once; prints nothing when cached)
#   bench/otlp/collector.sh path      print the directory holding otelcol-airdig-bench and telemetrygen
#
# Environment: AIRDIG_OTELCOL_VERSION (default 0.165.0), AIRDIG_KAFKAEXPORTER_VERSION (default 0.165.1),
# AIRDIG_CONFMAP_VERSION (default 1.71.0, the confmap providers paired with the Collector release),
# AIRDIG_TELEMETRYGEN_VERSION (default 0.161.0, the newest the proxy serves here),
# AIRDIG_OTELCOL_CACHE (default ~/.cache/airdig/otelcol-<version>).
set -euo pipefail

VERSION="${AIRDIG_OTELCOL_VERSION:-0.165.0}"
KAFKAEXPORTER_VERSION="${AIRDIG_KAFKAEXPORTER_VERSION:-0.165.1}"
CONFMAP_VERSION="${AIRDIG_CONFMAP_VERSION:-1.71.0}"
TELEMETRYGEN_VERSION="${AIRDIG_TELEMETRYGEN_VERSION:-0.161.0}"
CACHE="${AIRDIG_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airdig/otelcol-$VERSION}"
export PATH="$PATH:/usr/local/go/bin:${GOPATH:-$HOME/go}/bin"
# The build is long on a small shared machine: keep it from starving the tests beside it.
NICE="nice -n 10"

log() { echo "collector.sh: $*" >&2; }

build() {
  if [ -f "$CACHE/.complete" ]; then return 0; fi
  command -v go >/dev/null || { log "go is required to build the Collector"; exit 1; }
  mkdir -p "$CACHE"
  export GOBIN="$CACHE/bin"
  if [ ! -x "$GOBIN/builder" ]; then
    log "installing the Collector builder v$VERSION"
    $NICE go install "go.opentelemetry.io/collector/cmd/builder@v$VERSION"
  fi
  cat > "$CACHE/builder.yaml" <<YAML
dist:
  name: otelcol-airdig-bench
  description: OTLP receiver to Kafka exporter, for AirDig's benchmark
  output_path: $CACHE/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$VERSION
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter v$KAFKAEXPORTER_VERSION
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v$CONFMAP_VERSION
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v$CONFMAP_VERSION
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider v$CONFMAP_VERSION
YAML
  log "building the Collector into $CACHE/build"
  $NICE "$GOBIN/builder" --config="$CACHE/builder.yaml" >&2
  cp "$CACHE/build/otelcol-airdig-bench" "$GOBIN/"
  if [ ! -x "$GOBIN/telemetrygen" ]; then
    log "installing telemetrygen v$TELEMETRYGEN_VERSION"
    $NICE go install "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$TELEMETRYGEN_VERSION"
  fi
  touch "$CACHE/.complete"
}

case "${1:-}" in
  build) build ;;
  path) build; echo "$CACHE/bin" ;;
  *) log "usage: $0 build|path"; exit 2 ;;
esac
