#!/usr/bin/env bash
# End-to-end check of a running test ground (`make testground-smoke`, after `make cluster-up`):
# applies k8s/smoke.yaml (namespace tg-smoke) and checks, through the real API server:
# pod IPs from 127.1.0.0/16, a redis-server per pod, kubectl port-forward + exec, kube-rs
# port-forward + exec (pod-harness check-*), node identity kept across pod recreation (PVC data
# dir), a scaled-down pod whose PVC is deleted coming back empty, and namespace deletion removing
# the data dirs. Deletes tg-smoke at the end. Ends with an "N passed, N failed" line.
set -uo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
BIN=$("$TG_HERE/build.sh") || exit 1
export PATH="$BIN:$PATH" KUBECONFIG=$TG_KUBECONFIG
NS=tg-smoke PASS=smoke-pass
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@" >/tmp/tg-smoke.out 2>&1; then ok "$what"; else bad "$what"; sed 's/^/       /' /tmp/tg-smoke.out; fi; }
kc() { kubectl -n "$NS" "$@"; }
ip_of() { kc get pod "$1" -o jsonpath='{.status.podIP}'; }
rcli() { redis-cli -h "$1" -a "$PASS" --no-auth-warning "${@:2}"; }
# Waits until pod $1 is Running with an IP and its redis answers PING (up to 30 s).
wait_redis() {
  local ip
  for _ in $(seq 150); do
    ip=$(ip_of "$1" 2>/dev/null)
    [ -n "$ip" ] && [ "$(rcli "$ip" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.2
  done
  return 1
}
myid() { rcli "$(ip_of "$1")" cluster myid; }

tg_pid_alive "$TG_HARNESS_PID" || { echo "test ground not up: run make cluster-up" >&2; exit 1; }
kc delete statefulset smoke --ignore-not-found >/dev/null 2>&1
kc delete pvc --all --ignore-not-found >/dev/null 2>&1
kubectl apply -f "$TG_HERE/k8s/smoke.yaml" >/dev/null
for p in smoke-0 smoke-1 smoke-2; do check "$p has a redis-server on its pod IP" wait_redis "$p"; done
check "pod IPs are in 127.1.0.0/16" bash -c "[ \"\$(kubectl -n $NS get pods -o jsonpath='{.items[*].status.podIP}' | tr ' ' '\n' | grep -vc '^127\.1\.')\" = 0 ]"

# kubectl port-forward through the API server and kwok
kubectl -n "$NS" port-forward pod/smoke-0 16379:6379 >/tmp/tg-pf.log 2>&1 & # not via kc(): $! must be kubectl
pf=$!
for _ in $(seq 50); do grep -q Forwarding /tmp/tg-pf.log && break; sleep 0.1; done
check "kubectl port-forward pod/smoke-0 16379:6379 + redis-cli ping" bash -c "[ \"\$(redis-cli -p 16379 -a $PASS --no-auth-warning ping)\" = PONG ]"
kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null
check "kubectl exec smoke-1 -- redis-cli ping" bash -c "[ \"\$(kubectl -n $NS exec smoke-1 -- redis-cli -a $PASS --no-auth-warning ping)\" = PONG ]"
check "kubectl exec sees the pod env (POD_IP, REDIS_PASSWORD)" bash -c \
  "[ \"\$(kubectl -n $NS exec smoke-1 -- sh -c 'redis-cli -a \"\$REDIS_PASSWORD\" --no-auth-warning -h \"\$POD_IP\" ping')\" = PONG ]"
check "kube-rs portforward PING (pod-harness check-portforward)" "$TG_HARNESS_BIN" check-portforward "$NS" smoke-2 --password "$PASS"
check "kube-rs exec (pod-harness check-exec)" "$TG_HARNESS_BIN" check-exec "$NS" smoke-2 -- redis-cli -a "$PASS" --no-auth-warning ping

# node identity follows the PVC across pod recreation
id0=$(myid smoke-0)
kc delete pod smoke-0 --wait=true >/dev/null
sleep 1
check "recreated smoke-0 is back" wait_redis smoke-0
check "recreated smoke-0 keeps its node id $id0" bash -c "[ \"$id0\" = \"\$(redis-cli -h \$(kubectl -n $NS get pod smoke-0 -o jsonpath='{.status.podIP}') -a $PASS --no-auth-warning cluster myid)\" ]"
check "PortForward smoke-0 is owned by the new pod" bash -c \
  "[ \"\$(kubectl -n $NS get portforward smoke-0 -o jsonpath='{.metadata.ownerReferences[0].uid}')\" = \"\$(kubectl -n $NS get pod smoke-0 -o jsonpath='{.metadata.uid}')\" ]"

# scale down, delete one PVC, scale up: kept PVC = same node, deleted PVC = new empty node
id1=$(myid smoke-1) id2=$(myid smoke-2)
kc scale statefulset smoke --replicas=1 >/dev/null
kc wait --for=delete pod/smoke-1 pod/smoke-2 --timeout=30s >/dev/null
kc delete pvc data-smoke-2 --wait=true >/dev/null
for _ in $(seq 50); do [ -d "$TG_CACHE/data/$NS/data-smoke-2" ] || break; sleep 0.2; done
check "deleting PVC data-smoke-2 removed its data dir" test ! -d "$TG_CACHE/data/$NS/data-smoke-2"
check "scaled-down smoke-1 kept its data dir" test -f "$TG_CACHE/data/$NS/data-smoke-1/nodes.conf"
kc scale statefulset smoke --replicas=3 >/dev/null
check "scaled-up smoke-1 is back" wait_redis smoke-1
check "scaled-up smoke-2 is back" wait_redis smoke-2
check "smoke-1 kept node id $id1 (PVC retained)" bash -c "[ \"$id1\" = \"\$(redis-cli -h \$(kubectl -n $NS get pod smoke-1 -o jsonpath='{.status.podIP}') -a $PASS --no-auth-warning cluster myid)\" ]"
check "smoke-2 is a new node (PVC was deleted; old id $id2)" bash -c "[ \"$id2\" != \"\$(redis-cli -h \$(kubectl -n $NS get pod smoke-2 -o jsonpath='{.status.podIP}') -a $PASS --no-auth-warning cluster myid)\" ]"

# deleting the namespace removes pods, PVCs and so the data dirs
kubectl delete namespace "$NS" --wait=true --timeout=60s >/dev/null
for _ in $(seq 100); do [ -z "$(ls -A "$TG_CACHE/data/$NS" 2>/dev/null)" ] && break; sleep 0.2; done
check "namespace deletion removed the data dirs" bash -c "[ -z \"\$(ls -A '$TG_CACHE/data/$NS' 2>/dev/null)\" ]"
check "no redis-server left for $NS" bash -c "! ls '$TG_CACHE'/harness/pids/${NS}_* >/dev/null 2>&1"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
