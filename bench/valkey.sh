#!/usr/bin/env bash
# bench/valkey.sh: the Valkey 9 rebalance, side by side in one run (`make bench SCENARIO=valkey`).
# A fresh cluster per measured step: 3 Valkey 9.1.2 masters on loopback with KEYS random keys of
# 100 B (written by redis-benchmark --cluster, about 84% distinct), an empty fourth master
# added, then one 3 -> 4 rebalance by each of:
#   valkey_cli  valkey-cli 8.1.8 --cluster rebalance --cluster-use-empty-masters (MIGRATE)
#   keys        ours, --migration keys (MIGRATE)
#   atomic      ours, --migration atomic (CLUSTER MIGRATESLOTS)
#   floor       the same MIGRATESLOTS jobs as ours (from its --dry-run plan) sent by this script
#               to every source at once, polled with GETSLOTMIGRATIONS: no planning, no checks
# Each step is timed from its command to its end (ours and valkey-cli include their own
# observation and convergence waits); valkey-cli --cluster check must pass after each.
# Env: KEYS (200000), RUNS (3; valkey-cli runs once: ~35 s), PLUGIN (a release build by default).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/engines.sh
KEYS=${KEYS:-200000}; RUNS=${RUNS:-3}
S=$PWD/.deps/engines/valkey-9.1/bin/valkey-server; C=$PWD/.deps/engines/valkey-8.1/bin/valkey-cli
if [ -z "${PLUGIN:-}" ]; then
  cargo build --release --bin kubectl-redis_cluster >&2
  PLUGIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kubectl-redis_cluster
fi
command -v redis-benchmark >/dev/null || { echo "bench: redis-benchmark not found; run \`make deps\`" >&2; exit 1; }
H=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20)); PORTS=(7941 7942 7943 7944)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/valkey-bench.XXXXXX")
stop() { for p in "${PORTS[@]}"; do "$C" -h "$H" -p "$p" shutdown nosave >/dev/null 2>&1 || true; done; }
trap 'stop; rm -rf "$WORK"' EXIT

# fresh: a new cluster with the keys and an empty fourth master; prints nothing.
fresh() {
  stop; rm -rf "${WORK:?}"/n; mkdir -p "$WORK/n"
  for p in "${PORTS[@]}"; do
    mkdir -p "$WORK/n/$p"
    "$S" --port "$p" --bind "$H" --bind-source-addr "$H" --cluster-enabled yes \
      --cluster-node-timeout 5000 --save '' --appendonly no --daemonize yes \
      --logfile v.log --dir "$WORK/n/$p" >/dev/null
  done
  for p in "${PORTS[@]}"; do until "$C" -h "$H" -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
  "$PLUGIN" init --nodes "$H:7941,$H:7942,$H:7943" --replicas-per-master 0 --yes >/dev/null 2>&1
  redis-benchmark --cluster -h "$H" -p 7941 -t set -n "$KEYS" -r "$KEYS" -d 100 -P 50 -q >/dev/null 2>&1
  "$PLUGIN" --seed "$H:7941" add-node "$H:7944" --yes >/dev/null 2>&1
  sleep 0.5
}

# floor: the jobs of our plan, sent at once, polled until none is active.
floor() {
  "$PLUGIN" --seed "$H:7941" rebalance --use-empty-masters --migration atomic --dry-run -o json \
    2>/dev/null >"$WORK/plan.json"
  python3 - "$WORK/plan.json" >"$WORK/jobs" <<'PY'
import json, sys
by = {}
for m in json.load(open(sys.argv[1]))["moves"]:
    by.setdefault((m["from"], m["to"]), []).append(m["slot"])
for (f, t), slots in by.items():
    slots.sort(); ranges = []; s = e = slots[0]
    for x in slots[1:]:
        if x == e + 1: e = x
        else: ranges.append((s, e)); s = e = x
    ranges.append((s, e))
    print(f, t, " ".join(f"{a} {b}" for a, b in ranges))
PY
  declare -A at
  while read -r id addr _; do at[$id]=${addr%@*}; done < <("$C" -h "$H" -p 7941 cluster nodes)
  local t0; t0=$(date +%s.%N)
  while read -r f t ranges; do
    a=${at[$f]}
    # shellcheck disable=SC2086 # the ranges are words
    "$C" -h "${a%:*}" -p "${a#*:}" cluster migrateslots slotsrange $ranges node "$t" >/dev/null &
  done <"$WORK/jobs"
  wait
  while :; do
    active=0
    for p in 7941 7942 7943; do
      "$C" -h "$H" -p "$p" cluster getslotmigrations | grep -qvxE 'success|failed|cancelled|name|operation|slot_ranges|target_node|source_node|create_time|last_update_time|last_ack_time|state|message|cow_size|remaining_repl_size|EXPORT|IMPORT|[0-9a-f]{40}|[0-9 -]+|' && active=1
    done
    [ "$active" = 0 ] && break
    sleep 0.01
  done
  echo "$(date +%s.%N) - $t0" | bc
}

# step METHOD: one measured rebalance on a fresh cluster; prints its seconds.
step() {
  fresh
  if [ "$1" = floor ]; then floor; else
    local t0; t0=$(date +%s.%N)
    case $1 in
      valkey_cli) "$C" --cluster rebalance "$H:7941" --cluster-use-empty-masters >/dev/null 2>&1 ;;
      keys|atomic) "$PLUGIN" --seed "$H:7941" rebalance --use-empty-masters --migration "$1" --yes >/dev/null 2>&1 ;;
    esac
    echo "$(date +%s.%N) - $t0" | bc
  fi
  "$C" --cluster check "$H:7941" 2>&1 | grep -q "All 16384 slots covered" \
    && ! "$C" --cluster check "$H:7941" 2>&1 | grep -q "WARNING\|ERR" \
    || { echo "bench: valkey-cli --cluster check failed after $1" >&2; exit 1; }
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
declare -A med
for m in atomic floor keys; do
  med[$m]=$(for _ in $(seq "$RUNS"); do step "$m"; done | tee /dev/stderr | median)
  echo "$m: median ${med[$m]} s" >&2
done
med[valkey_cli]=$(step valkey_cli)
echo "valkey_cli: ${med[valkey_cli]} s" >&2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$KEYS" "${med[valkey_cli]}" "${med[keys]}" "${med[atomic]}" "${med[floor]}" <<'PY'
import sys
keys, cli, ours_keys, atomic, floor = sys.argv[1], *map(float, sys.argv[2:])
print(f"RESULT valkey-rebalance keys={keys} valkey_cli_s={cli:.3f} keys_s={ours_keys:.3f} "
      f"atomic_s={atomic:.3f} floor_s={floor:.3f} speedup={cli / atomic:.1f} "
      f"floor_ratio={atomic / floor:.2f} verified=yes")
PY
