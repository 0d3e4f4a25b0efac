#!/usr/bin/env bash
# Tears down the local test ground (`make cluster-down`): stops the pod harness and every
# redis-server it started, deletes the kwokctl cluster, and removes the data dirs standing in for
# the cluster's PVCs (KEEP_DATA=1 keeps them). Safe to run when nothing is up.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"

tg_stop_harness
tg_delete_cluster
rm -f "$TG_KUBECONFIG" "$TG_STAMP"
if [ "${KEEP_DATA:-0}" != 1 ]; then
  rm -rf "$TG_CACHE/data"
fi
tg_log "test ground down"
