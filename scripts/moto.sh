#!/usr/bin/env bash
# A local AWS API emulator (moto, from PyPI) for the `airdig scan aws` tests.
#
#   scripts/moto.sh fetch     install moto[server] into a virtualenv once (cached)
#   scripts/moto.sh path      print the moto_server executable
#
# Environment: AIRDIG_MOTO_VERSION (default 5.2.5), AIRDIG_MOTO_CACHE (default ~/.cache/airdig/moto-<version>).
set -euo pipefail

MOTO_VERSION="${AIRDIG_MOTO_VERSION:-5.2.5}"
CACHE="${AIRDIG_MOTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airdig/moto-$MOTO_VERSION}"

fetch() {
  if [ -x "$CACHE/bin/moto_server" ]; then return 0; fi
  command -v python3 >/dev/null || { echo "moto.sh: python3 is required" >&2; exit 1; }
  echo "moto.sh: installing moto[server]==$MOTO_VERSION from PyPI into $CACHE" >&2
  rm -rf "$CACHE"
  python3 -m venv "$CACHE"
  "$CACHE/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

case "${1:-}" in
  fetch) fetch ;;
  path) fetch; echo "$CACHE/bin/moto_server" ;;
  *) echo "usage: scripts/moto.sh fetch|path" >&2; exit 2 ;;
esac
