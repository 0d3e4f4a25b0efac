#!/usr/bin/env bash
# bench/portforward.sh: `scale --masters 4` with 100k keys on the local test ground, through
# port-forward (the default from a workstation) and with --direct, alternately; prints each
# time and the port-forward overhead ratio as the last line:
#   RESULT portforward keys=<n> portforward_s=<median> direct_s=<median> overhead=<ratio>
# Needs the test ground (`make cluster-up`); starts it if it is not running. Env: KEYS
# (100000), RUNS (2 per mode), PLUGIN (a prebuilt plugin binary).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
keys=${KEYS:-100000}
runs=${RUNS:-2}
make --no-print-directory cluster-up >/dev/null
export KUBECONFIG=$HOME/.cache/redis-cluster-testground/kubeconfig
kubectl=$(ls "$HOME"/.cache/redis-cluster-testground/bin/*/kubectl | head -n1)
if [ -z "${PLUGIN:-}" ]; then
  cargo build --release --bin kubectl-redis_cluster >&2
  PLUGIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kubectl-redis_cluster
fi

# Loads $keys keys of 100 bytes, spread over every slot: each master gets its share as a
# RESP stream through `redis-cli --pipe` (independent of our code), owners from CLUSTER NODES.
load() {
  python3 - "$1" "$2" "$keys" <<'PY'
import subprocess, sys
host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
nodes = subprocess.run(["redis-cli", "-h", host, "-p", port, "cluster", "nodes"], capture_output=True, text=True, check=True).stdout
owner = {}
for line in nodes.splitlines():
    fields = line.split()
    if "master" not in fields[2]:
        continue
    ip, p = fields[1].split("@")[0].rsplit(":", 1)
    for r in fields[8:]:
        if r.startswith("["):
            continue
        start, _, end = r.partition("-")
        for s in range(int(start), int(end or start) + 1):
            owner[s] = (ip, p)
streams = {}
for k in range(count):
    key = b"key:%d" % k
    value = (key + b"|") * (100 // (len(key) + 1) + 1)
    value = value[:100]
    streams.setdefault(owner[crc16(key) % 16384], []).append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(key), key, value))
for (ip, p), cmds in streams.items():
    subprocess.run(["redis-cli", "-h", ip, "-p", p, "--pipe"], input=b"".join(cmds), capture_output=True, check=True)
PY
}

# One timed scale in a fresh namespace; prints seconds.
one() {
  local mode=$1 ns=bench-pf-$$-$RANDOM flags=()
  [ "$mode" = direct ] && flags=(--direct)
  "$kubectl" create namespace "$ns" >/dev/null
  trap '"$PLUGIN" -n "'"$ns"'" destroy --delete-pvcs --yes >/dev/null 2>&1; "$kubectl" delete namespace "'"$ns"'" --wait=false >/dev/null 2>&1' RETURN
  "$PLUGIN" -n "$ns" deploy >/dev/null 2>&1
  "$PLUGIN" -n "$ns" --direct init --yes >/dev/null 2>&1
  local seed
  seed=$("$PLUGIN" -n "$ns" --direct status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["endpoint"])')
  load "${seed%:*}" "${seed##*:}"
  local t0 t1
  t0=$(date +%s.%N)
  "$PLUGIN" -n "$ns" "${flags[@]}" scale --masters 4 --yes >/dev/null 2>&1 || { echo "bench: scale failed ($mode)" >&2; exit 1; }
  t1=$(date +%s.%N)
  "$PLUGIN" -n "$ns" --direct status -o json | python3 -c '
import json, sys
s = json.load(sys.stdin)
masters = [n for n in s["nodes"] if n["role"] == "master"]
total = sum(n["keys"] for n in masters)
ok = s["healthy"] and len(masters) == 4 and all(n["keys"] > 0 for n in masters) and total == int(sys.argv[1])
sys.exit(0 if ok else "bench: after scale: healthy=%s masters=%d keys=%d" % (s["healthy"], len(masters), total))' "$keys" >&2 || exit 1
  echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pf=(); direct=()
for _ in $(seq "$runs"); do
  pf+=("$(one portforward)"); echo "portforward: ${pf[-1]} s" >&2
  direct+=("$(one direct)"); echo "direct:      ${direct[-1]} s" >&2
done
pf_m=$(printf '%s\n' "${pf[@]}" | median)
direct_m=$(printf '%s\n' "${direct[@]}" | median)
printf 'RESULT portforward keys=%s portforward_s=%.3f direct_s=%.3f overhead=%.2f\n' \
  "$keys" "$pf_m" "$direct_m" "$(echo "$pf_m / $direct_m" | bc -l)"
