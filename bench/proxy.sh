#!/usr/bin/env bash
# bench/proxy.sh: what `proxy` costs a client, on the local test ground. One master pod,
# reached three ways, each measured with redis-benchmark (SET then GET of 100-byte values on
# keys of one hash tag that pod owns, so no request is redirected):
#   proxy        through the plugin's listener for that pod (kube-rs port-forward + relay)
#   portforward  through `kubectl port-forward pod/NAME` to the same pod (the tunnel alone)
#   direct       to the pod IP (no tunnel: the floor; pod IPs are on this machine's loopback)
# Runs alternate (proxy, portforward, direct) RUNS times; medians. Last line:
#   RESULT proxy requests=<n> clients=<c> proxy_rps=<> portforward_rps=<> direct_rps=<>
#          proxy_p99_ms=<> portforward_p99_ms=<> direct_p99_ms=<> rps_vs_portforward=<ratio>
# Needs the test ground (`make cluster-up`); starts it if it is not running. Env: REQUESTS
# (50000), CLIENTS (50), RUNS (3), PLUGIN (a prebuilt plugin binary).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
requests=${REQUESTS:-50000}
clients=${CLIENTS:-50}
runs=${RUNS:-3}
make --no-print-directory cluster-up >/dev/null
export KUBECONFIG=$HOME/.cache/redis-cluster-testground/kubeconfig
kubectl=$(ls "$HOME"/.cache/redis-cluster-testground/bin/*/kubectl | head -n1)
if [ -z "${PLUGIN:-}" ]; then
  cargo build --release --bin kubectl-redis_cluster >&2
  PLUGIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/kubectl-redis_cluster
fi

ns=bench-proxy-$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$PLUGIN" -n "$ns" destroy --delete-pvcs --yes >/dev/null 2>&1 || true
  "$kubectl" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$kubectl" create namespace "$ns" >/dev/null
"$PLUGIN" -n "$ns" deploy >/dev/null 2>&1
"$PLUGIN" -n "$ns" --direct init --yes >/dev/null 2>&1
read -r pod endpoint < <("$PLUGIN" -n "$ns" --direct status -o json | python3 -c '
import json, sys
m = next(n for n in json.load(sys.stdin)["nodes"] if n["role"] == "master")
print(m["pod"], m["endpoint"])')
ip=${endpoint%:*}
# A hash tag whose slot this master owns: a SET there is answered, not redirected.
tag=""
for i in $(seq 0 200); do
  if [ "$(redis-cli -h "$ip" -p 6379 set "{t$i}probe" 1)" = OK ]; then tag="{t$i}"; break; fi
done
[ -n "$tag" ] || { echo "bench: no hash tag found on $pod" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pf_port=$(free_port)
"$kubectl" -n "$ns" port-forward "pod/$pod" "$pf_port:6379" >/dev/null 2>&1 &
pids+=($!)
proxy_out=$(mktemp)
first=$(( $(free_port) % 20000 + 30000 ))
"$PLUGIN" -n "$ns" proxy --local-port "$first" -o json >"$proxy_out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$pf_port" ping >/dev/null 2>&1 && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$proxy_out" 2>/dev/null && break
  sleep 0.2
done
proxy_port=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(next(l["local"] for l in r["listeners"] if l["pod"] == sys.argv[2]).rsplit(":", 1)[1])' "$proxy_out" "$pod")
value=$(printf 'v%.0s' $(seq 100))

# One redis-benchmark run of SET then GET against host:port; prints "rps p99_ms" (the worse
# of the two tests' p99, their summed time over their summed requests).
one() {
  redis-benchmark -h "$1" -p "$2" -n "$requests" -c "$clients" -r 100000 --csv \
      SET "${tag}k:__rand_int__" "$value" > "$proxy_out.set"
  redis-benchmark -h "$1" -p "$2" -n "$requests" -c "$clients" -r 100000 --csv \
      GET "${tag}k:__rand_int__" > "$proxy_out.get"
  python3 - "$proxy_out.set" "$proxy_out.get" <<'PY'
import csv, sys
rows = [list(csv.DictReader(open(f)))[0] for f in sys.argv[1:]]
rps = len(rows) / sum(1 / float(r["rps"]) for r in rows)
print("%.0f %.3f" % (rps, max(float(r["p99_latency_ms"]) for r in rows)))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A rps p99
for _ in $(seq "$runs"); do
  for mode in proxy portforward direct; do
    case $mode in
      proxy) read -r r p < <(one 127.0.0.1 "$proxy_port") ;;
      portforward) read -r r p < <(one 127.0.0.1 "$pf_port") ;;
      direct) read -r r p < <(one "$ip" 6379) ;;
    esac
    echo "$mode: $r requests/s, p99 $p ms" >&2
    rps[$mode]+="$r "; p99[$mode]+="$p "
  done
done
m() { tr ' ' '\n' | grep . | median; }
pr=$(m <<<"${rps[proxy]}"); fr=$(m <<<"${rps[portforward]}"); dr=$(m <<<"${rps[direct]}")
pp=$(m <<<"${p99[proxy]}"); fp=$(m <<<"${p99[portforward]}"); dp=$(m <<<"${p99[direct]}")
printf 'RESULT proxy requests=%s clients=%s proxy_rps=%.0f portforward_rps=%.0f direct_rps=%.0f proxy_p99_ms=%.3f portforward_p99_ms=%.3f direct_p99_ms=%.3f rps_vs_portforward=%.2f\n' \
  "$requests" "$clients" "$pr" "$fr" "$dr" "$pp" "$fp" "$dp" "$(echo "$pr / $fr" | bc -l)"
