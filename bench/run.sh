#!/usr/bin/env bash
# bench/run.sh [SCENARIO...]: the `make bench` entry point (see bench/README.md). Builds the
# plugin and the bench in release mode, runs the bench in a fresh work dir and, however it ends
# (error, Ctrl-C), kills every redis-server it started (by the pid files in that dir) and
# removes the dir. Env: PLUGIN (use this binary instead of building one), KEYS, RUNS, BIG_KEYS,
# BIG_VALUE_BYTES, CEILING_KEYS.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Valkey 9 rebalance (valkey-cli, ours key by key, ours atomic, the bare-jobs floor).
if [ "${1:-}" = valkey ]; then shift; exec bench/valkey.sh "$@"; fi
# The proxy against kubectl port-forward and the pod IP, on the test ground.
if [ "${1:-}" = proxy ]; then shift; exec bench/proxy.sh "$@"; fi

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found; run \`make deps\`" >&2; exit 1; }
done
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release
if [ -z "${PLUGIN:-}" ]; then
  cargo build --release --bin kubectl-redis_cluster
  PLUGIN=$target/kubectl-redis_cluster
fi
cargo build --release -p redis-cluster-bench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-cluster-bench.XXXXXX")
status=1
cleanup() {
  # Each node writes <WORK>/<host>/<n>/redis.pid and runs in that dir: kill only a process
  # whose working dir is that node's dir (a stale pid file cannot hit another process).
  for pidfile in "$WORK"/*/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(dirname "$pidfile")" ]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" = 0 ] || [ "$status" = 130 ]; then
    rm -rf "$WORK"
  else
    echo "bench: failed; tool logs kept in $WORK" >&2
  fi
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

status=0
"$target/redis-cluster-bench" --plugin "$PLUGIN" --work "$WORK" "$@" || status=$?
exit "$status"
