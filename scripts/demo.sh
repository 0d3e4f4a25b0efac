#!/usr/bin/env bash
# `make demo`: the main job on a Kubernetes cluster. Uses the cluster your kubeconfig points
# at when there is one; otherwise brings up the local test ground (testground/) first. Then:
# deploy, init, write sample keys, scale 3 -> 4 -> 3 masters, `status` after each step, and
# every key read back at the end. Runs in namespace $DEMO_NAMESPACE (default redis-demo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
plugin=${PLUGIN:-$here/target/debug/kubectl-redis_cluster}
ns=${DEMO_NAMESPACE:-redis-demo}
keys=${DEMO_KEYS:-2000}

if [ -z "${KUBECONFIG:-}" ] && [ ! -f "$HOME/.kube/config" ]; then
  echo "== no Kubernetes cluster configured: starting the local test ground (make cluster-up)"
  make -C "$here" --no-print-directory cluster-up >/dev/null
  export KUBECONFIG=$HOME/.cache/redis-cluster-testground/kubeconfig
fi
kubectl=$(command -v kubectl)
for k in "$HOME"/.cache/redis-cluster-testground/bin/*/kubectl; do [ -x "$k" ] && kubectl=$k; done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
rc() { "$plugin" -n "$ns" "$@"; }

step "namespace $ns"
"$kubectl" get namespace "$ns" >/dev/null 2>&1 || "$kubectl" create namespace "$ns" >/dev/null
step "deploy: StatefulSet, Services, ConfigMap, PodDisruptionBudget"
rc deploy
step "init: 3 masters, 1 replica each"
rc init --yes
rc status

step "write $keys sample keys with redis-cli -c (an independent cluster client)"
seed=$(rc status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["endpoint"])')
host=${seed%:*}; port=${seed##*:}
for i in $(seq 1 "$keys"); do echo "SET demo:$i v$i"; done | redis-cli -c -h "$host" -p "$port" >/dev/null

step "scale to 4 masters (StatefulSet 6 -> 8, new pods join, slots rebalance)"
rc scale --masters 4 --yes
rc status
step "scale back to 3 masters (slots drain off the leaving pods, StatefulSet 8 -> 6)"
rc scale --masters 3 --delete-pvcs --yes
rc status

step "read every key back"
seed=$(rc status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["endpoint"])')
host=${seed%:*}; port=${seed##*:}
bad=0
while read -r i v; do [ "$v" = "v$i" ] || bad=$((bad + 1)); done < <(
  for i in $(seq 1 "$keys"); do echo "GET demo:$i"; done | redis-cli -c -h "$host" -p "$port" |
    grep -v '^-> Redirected' | paste <(seq 1 "$keys") -)
if [ "$bad" -ne 0 ]; then echo "$bad keys lost or changed"; exit 1; fi
echo "all $keys keys read back"
step "done: clean up with  kubectl-redis_cluster -n $ns destroy --delete-pvcs --yes"
