#!/usr/bin/env bash
# Runs one official-client probe against an endpoint and prints its JSON lines on stdout.
#
#   CH_HTTP=127.0.0.1:8123 CH_NATIVE=127.0.0.1:9000 CH_USER=reader CH_PASSWORD=... \
#     tests/clients/run.sh go|python|jdbc
#
# CH_HTTP / CH_NATIVE: host:port of the HTTP / native TCP interface (go uses both, python and
# jdbc use CH_HTTP); CH_USER (default), CH_PASSWORD (empty), CH_DATABASE (default).
# Builds the probe first if it is not built (tests/clients/build.sh; quick when it is).
# Exit code: the probe's (0 once it ran all its cases, whatever their outcome), or non-zero when
# the probe could not be built or started. Build messages go to stderr.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${AIRDIG_CACHE:-$HOME/.cache/airdig}"
client="${1:-}"

case "$client" in
  go)
    "$DIR/build.sh" go
    export CH_GRAFANA_QUERIES="${CH_GRAFANA_QUERIES:-$DIR/grafana-queries.json}"
    exec "$CACHE/clients-go/clickhouse-go-probe"
    ;;
  python)
    "$DIR/build.sh" python
    exec "$CACHE/clients-venv/bin/python" "$DIR/python/run.py"
    ;;
  jdbc)
    "$DIR/build.sh" jdbc
    # Serial GC and C1 only: a short-lived probe on a 2-core machine.
    exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$CACHE/jdbc/classes:$CACHE/jdbc/lib/*" airdig.clients.JdbcProbe
    ;;
  *)
    echo "usage: $0 go|python|jdbc   (with CH_HTTP, CH_NATIVE, CH_USER, CH_PASSWORD, CH_DATABASE set)" >&2
    exit 2
    ;;
esac
