#!/usr/bin/env bash
# bench/valkey.sh [rebalance|live|drain|million|curve]...: Valkey 9 slot moves, side by side in
# one run (`make bench SCENARIO=valkey`, every scenario; `bench/valkey.sh live` for one).
# A fresh cluster per measured step: Valkey 9.1.2 masters on loopback holding KEYS distinct keys
# of 100 B spread over every slot (bench/load_keys.py), empty masters added; as in the shipped
# redis.conf, an emptied master stays a master (cluster-allow-replica-migration no).
#   rebalance  3 -> 4 masters: valkey-cli 8.1.8 --cluster rebalance --cluster-use-empty-masters
#              (MIGRATE); ours --migration keys; ours --migration atomic; the floor: the same
#              MIGRATESLOTS jobs as ours (from its --dry-run plan) sent by this script to every
#              source at once and polled with GETSLOTMIGRATIONS (no planning, no checks)
#   live       the same rebalance, ours both ways, while redis-benchmark --cluster writes with
#              8 clients the whole time (SETs, each client's keys under one hash tag: the
#              writes land in the few slots of those tags, moved or not); compared with idle
#   drain      4 masters (the fourth already holding its share) -> 3: ours `del-node --drain`
#              both ways; valkey-cli `rebalance --cluster-weight ID=0` then `del-node`
#   million    the rebalance with 1,000,000 keys, ours both ways and the floor (valkey-cli
#              would take ~3 min: left out)
#   curve      10 -> 12 and 30 -> 40 masters, ours both ways and the floor
# Each step is timed from its command to its end (ours and valkey-cli include their own
# observation and convergence waits); valkey-cli --cluster check must pass after each.
# Env: KEYS (200000), RUNS (3; valkey-cli, million and curve run once), PLUGIN (a release
# build by default).
set -euo pipefail
shopt -s inherit_errexit # a failed step inside $(...) stops the bench too
cd "$(dirname "$0")/.."
scripts/engines.sh
KEYS=${KEYS:-200000}; RUNS=${RUNS:-3}
S=$PWD/.deps/engines/valkey-9.1/bin/valkey-server; C=$PWD/.deps/engines/valkey-8.1/bin/valkey-cli
if [ -z "${PLUGIN:-}" ]; then
  cargo build --release --bin kubectl-redis_cluster >&2
  PLUGIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kubectl-redis_cluster
fi
command -v redis-benchmark >/dev/null || { echo "bench: redis-benchmark not found; run \`make deps\`" >&2; exit 1; }
H=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20)); BASE=7941; MAX_NODES=40
PORTS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/valkey-bench.XXXXXX")
# stop: every node this bench may have started (steps run in subshells: PORTS is theirs).
stop() {
  [ -f "$WORK/writer.pid" ] && { kill "$(cat "$WORK/writer.pid")" 2>/dev/null || true; rm -f "$WORK/writer.pid"; }
  for p in $(seq "$BASE" $((BASE + MAX_NODES - 1))); do
    [ -e "$WORK/n/$p" ] && { "$C" -h "$H" -p "$p" shutdown nosave >/dev/null 2>&1 || true; }
  done
  return 0
}
trap 'stop; rm -rf "$WORK"' EXIT

# fresh MASTERS ADDED KEYS: a new cluster of MASTERS masters with KEYS keys and ADDED empty
# masters added; prints nothing.
fresh() {
  local masters=$1 added=$2 keys=$3 seeds=()
  stop; rm -rf "${WORK:?}"/n; mkdir -p "$WORK/n"
  PORTS=(); for i in $(seq 0 $((masters + added - 1))); do PORTS+=($((BASE + i))); done
  for p in "${PORTS[@]}"; do
    mkdir -p "$WORK/n/$p"
    "$S" --port "$p" --bind "$H" --bind-source-addr "$H" --cluster-enabled yes \
      --cluster-node-timeout 5000 --cluster-allow-replica-migration no \
      --save '' --appendonly no --daemonize yes \
      --logfile v.log --dir "$WORK/n/$p" >/dev/null
  done
  for p in "${PORTS[@]}"; do until "$C" -h "$H" -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
  for p in "${PORTS[@]:0:$masters}"; do seeds+=("$H:$p"); done
  "$PLUGIN" init --nodes "$(IFS=,; echo "${seeds[*]}")" --replicas-per-master 0 --yes >/dev/null 2>&1
  python3 bench/load_keys.py "$C" "$H" "$BASE" "$keys" >/dev/null
  for p in "${PORTS[@]:$masters}"; do
    "$PLUGIN" --seed "$H:$BASE" add-node "$H:$p" --yes >/dev/null 2>&1
  done
  sleep 0.5
}

# floor: the jobs of our rebalance plan, sent at once, polled until none is active.
floor() {
  "$PLUGIN" --seed "$H:$BASE" rebalance --use-empty-masters --migration atomic --dry-run -o json \
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
  while read -r id addr _; do at[$id]=${addr%@*}; done < <("$C" -h "$H" -p "$BASE" cluster nodes)
  local t0 end; t0=$(date +%s.%N); end=$((SECONDS + 120))
  while read -r f t ranges; do
    a=${at[$f]}
    # shellcheck disable=SC2086 # the ranges are words
    "$C" -h "${a%:*}" -p "${a#*:}" cluster migrateslots slotsrange $ranges node "$t" >/dev/null &
  done <"$WORK/jobs"
  wait
  while :; do
    active=0
    for p in "${PORTS[@]}"; do
      "$C" -h "$H" -p "$p" cluster getslotmigrations | grep -qvxE 'success|failed|cancelled|name|operation|slot_ranges|target_node|source_node|create_time|last_update_time|last_ack_time|state|message|cow_size|remaining_repl_size|EXPORT|IMPORT|[0-9a-f]{40}|[0-9 -]+|' && active=1
    done
    [ "$active" = 0 ] && break
    [ "$SECONDS" -lt "$end" ] || { echo "bench: floor jobs still active after 120 s" >&2; exit 1; }
    sleep 0.01
  done
  echo "$(date +%s.%N) - $t0" | bc
}

# timed CMD...: runs CMD quietly; prints its seconds.
timed() {
  local t0; t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$WORK/last.err" || { echo "bench: $* failed:" >&2; cat "$WORK/last.err" >&2; exit 1; }
  echo "$(date +%s.%N) - $t0" | bc
}

# check: valkey-cli --cluster check passes, and no master is left without slots (a refused
# job would leave its target empty and still look like a fast, clean run).
check() {
  local out; out=$("$C" --cluster check "$H:$BASE" 2>&1)
  grep -q "All 16384 slots covered" <<<"$out" && ! grep -q "WARNING\|ERR\|(0 slots) master" <<<"$out" \
    || { echo "bench: valkey-cli --cluster check failed after $1:" >&2; echo "$out" >&2; exit 1; }
}

# rebalance HOW: one rebalance onto the empty masters of the current cluster; prints seconds.
rebalance() {
  case $1 in
    floor) floor ;;
    valkey_cli) timed "$C" --cluster rebalance "$H:$BASE" --cluster-use-empty-masters ;;
    *) timed "$PLUGIN" --seed "$H:$BASE" rebalance --use-empty-masters --migration "$1" --yes ;;
  esac
  check "$1"
}

# writer: redis-benchmark --cluster writing with 8 clients until stopped (its pid in $WORK/writer.pid).
writer() {
  redis-benchmark --cluster -h "$H" -p "$BASE" -t set -n 100000000 -r "$KEYS" -d 100 -c 8 -q \
    >/dev/null 2>&1 &
  echo $! >"$WORK/writer.pid" # steps run in subshells: stop() finds it here
  sleep 1
}

# drain HOW: the fourth master (holding its share) emptied and removed; prints seconds.
drain() {
  local id; id=$("$C" -h "$H" -p "$((BASE + 3))" cluster myid)
  case $1 in
    valkey_cli)
      local t0; t0=$(date +%s.%N)
      "$C" --cluster rebalance "$H:$BASE" --cluster-weight "$id=0" >/dev/null 2>&1
      "$C" --cluster del-node "$H:$BASE" "$id" >/dev/null 2>&1
      echo "$(date +%s.%N) - $t0" | bc ;;
    *) timed "$PLUGIN" --seed "$H:$BASE" del-node "$H:$((BASE + 3))" --drain --migration "$1" --yes ;;
  esac
  check "drain $1"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# runs N CMD...: CMD N times (each on a fresh cluster it makes itself); prints the median.
runs() {
  local n=$1 all; shift
  all=$(for _ in $(seq "$n"); do "$@"; done)
  echo "$*:" $all >&2
  median <<<"$all"
}

r_idle() { fresh 3 1 "$KEYS"; rebalance "$1"; }
r_live() { fresh 3 1 "$KEYS"; writer; rebalance "$1"; stop_writer; }
stop_writer() { kill "$(cat "$WORK/writer.pid")" 2>/dev/null || true; rm -f "$WORK/writer.pid"; }
d_idle() { fresh 3 1 "$KEYS"; "$PLUGIN" --seed "$H:$BASE" rebalance --use-empty-masters --yes >/dev/null 2>&1; drain "$1"; }
m_idle() { fresh 3 1 1000000; rebalance "$1"; }
c_idle() { fresh "$2" "$3" "$KEYS"; rebalance "$1"; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
SCENARIOS=("$@"); [ ${#SCENARIOS[@]} = 0 ] && SCENARIOS=(rebalance live drain million curve)
declare -A med
for s in "${SCENARIOS[@]}"; do
  case $s in
    rebalance)
      for m in atomic floor keys; do med[$m]=$(runs "$RUNS" r_idle "$m"); echo "rebalance $m: median ${med[$m]} s" >&2; done
      med[valkey_cli]=$(runs 1 r_idle valkey_cli)
      python3 - "$KEYS" "${med[valkey_cli]}" "${med[keys]}" "${med[atomic]}" "${med[floor]}" <<'PY'
import sys
keys, cli, ours_keys, atomic, floor = sys.argv[1], *map(float, sys.argv[2:])
print(f"RESULT valkey-rebalance keys={keys} valkey_cli_s={cli:.3f} keys_s={ours_keys:.3f} "
      f"atomic_s={atomic:.3f} floor_s={floor:.3f} speedup={cli / atomic:.1f} "
      f"floor_ratio={atomic / floor:.2f} verified=yes")
PY
      ;;
    live)
      for m in atomic keys; do
        idle=${med[$m]:-$(runs "$RUNS" r_idle "$m")}
        live=$(runs "$RUNS" r_live "$m")
        echo "RESULT valkey-rebalance-live keys=$KEYS method=$m idle_s=$idle live_s=$live writers=8 live_ratio=$(echo "scale=2; $live / $idle" | bc) verified=yes"
      done ;;
    drain)
      a=$(runs "$RUNS" d_idle atomic); k=$(runs "$RUNS" d_idle keys); v=$(runs 1 d_idle valkey_cli)
      echo "RESULT valkey-drain keys=$KEYS valkey_cli_s=$v keys_s=$k atomic_s=$a speedup=$(echo "scale=1; $v / $a" | bc) verified=yes" ;;
    million)
      a=$(runs 1 m_idle atomic); f=$(runs 1 m_idle floor); k=$(runs 1 m_idle keys)
      echo "RESULT valkey-rebalance keys=1000000 keys_s=$k atomic_s=$a floor_s=$f floor_ratio=$(echo "scale=2; $a / $f" | bc) verified=yes" ;;
    curve)
      for size in "10 2" "30 10"; do
        set -- $size
        a=$(runs 1 c_idle atomic "$1" "$2"); f=$(runs 1 c_idle floor "$1" "$2"); k=$(runs 1 c_idle keys "$1" "$2")
        echo "RESULT valkey-scale masters=$1->$(($1 + $2)) keys=$KEYS keys_s=$k atomic_s=$a floor_s=$f floor_ratio=$(echo "scale=2; $a / $f" | bc) verified=yes"
      done ;;
    *) echo "bench: unknown Valkey scenario $s (rebalance, live, drain, million, curve)" >&2; exit 2 ;;
  esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
