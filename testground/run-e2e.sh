#!/usr/bin/env bash
# `make e2e`: brings the test ground up if it is not running, runs the e2e suite against it,
# and tears down what it started, even when the tests fail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
started=0
if ! { [ -f "$TG_KUBECONFIG" ] && tg_pid_alive "$TG_HARNESS_PID" &&
  KUBECONFIG=$TG_KUBECONFIG "$(ls -d "$TG_CACHE"/bin/*/ | head -n1)kubectl" get --raw /readyz >/dev/null 2>&1; }; then
  started=1
fi
cleanup() { if [ "$started" = 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then "$here/down.sh"; fi; }
trap cleanup EXIT
"$here/up.sh" >/dev/null
bindir=$(ls -d "$TG_CACHE"/bin/*/ | head -n1)
export TESTGROUND_KUBECONFIG=$TG_KUBECONFIG TESTGROUND_BIN=$bindir
t0=$(date +%s)
cargo test --test e2e -- --test-threads=1
echo "e2e: suite took $(( $(date +%s) - t0 ))s"
