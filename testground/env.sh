# Shared settings of the test ground scripts (sourced by up.sh, down.sh, smoke.sh).
# Everything lives outside the repo, under $TESTGROUND_CACHE.
# shellcheck shell=bash
TG_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TG_REPO=$(cd "$TG_HERE/.." && pwd)
# shellcheck source=versions.env
. "$TG_HERE/versions.env"
TG_CACHE=${TESTGROUND_CACHE:-$HOME/.cache/redis-cluster-testground}
TG_NAME=${TESTGROUND_CLUSTER:-rc-e2e}
TG_KUBECONFIG=$TG_CACHE/kubeconfig
TG_HARNESS_BIN=$TG_CACHE/harness/pod-harness
TG_HARNESS_PID=$TG_CACHE/harness/pod-harness.pid
TG_HARNESS_LOG=$TG_CACHE/harness/pod-harness.log
TG_STAMP=$TG_CACHE/cluster.stamp
export KWOK_WORKDIR=$TG_CACHE/kwok
TG_CLUSTER_DIR=$KWOK_WORKDIR/clusters/$TG_NAME

tg_log() { echo "[testground] $*" >&2; }
tg_die() { echo "[testground] ERROR: $*" >&2; exit 1; }

# True if the pid in file $1 is alive.
tg_pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops redis-servers recorded in the harness pid dir (SIGTERM, then SIGKILL after 10 s).
tg_kill_recorded_redis() {
  local f pid pids=()
  for f in "$TG_CACHE"/harness/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); rm -f "$f"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  tg_log "stopping ${#pids[@]} redis-server(s) left behind: ${pids[*]}"
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do [ -e "/proc/$pid" ] && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Stops the harness (it stops its redis-servers on SIGTERM), then any recorded leftovers.
tg_stop_harness() {
  if tg_pid_alive "$TG_HARNESS_PID"; then
    local pid; pid=$(cat "$TG_HARNESS_PID")
    tg_log "stopping pod harness (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$TG_HARNESS_PID"
  tg_kill_recorded_redis
}

# Deletes the kwokctl cluster (if any), making sure none of its processes survive.
tg_delete_cluster() {
  [ -d "$TG_CLUSTER_DIR" ] || return 0
  local kwokctl f pid pids=()
  kwokctl=$(ls -d "$TG_CACHE"/bin/*/kwokctl 2>/dev/null | head -n1 || true)
  [ -x "$TG_CLUSTER_DIR/bin/kwokctl" ] && kwokctl=$TG_CLUSTER_DIR/bin/kwokctl
  if [ -n "$kwokctl" ]; then
    tg_log "deleting cluster $TG_NAME"
    # --kubeconfig "" is refused by delete ("empty path"): point it at a scratch file instead.
    "$kwokctl" delete cluster --name "$TG_NAME" --kubeconfig "$KWOK_WORKDIR/scratch-kubeconfig.yaml" \
      >"$KWOK_WORKDIR/kwokctl-delete-$TG_NAME.log" 2>&1 ||
      tg_log "kwokctl delete cluster failed (see $KWOK_WORKDIR/kwokctl-delete-$TG_NAME.log); stopping its processes by pid"
  fi
  for f in "$TG_CLUSTER_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # only processes of this cluster (their command lines name the cluster dir)
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$TG_CLUSTER_DIR"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    for _ in $(seq 150); do
      local alive=0
      for pid in "${pids[@]}"; do [ -e "/proc/$pid" ] && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$TG_CLUSTER_DIR" "$KWOK_WORKDIR/scratch-kubeconfig.yaml"
}
