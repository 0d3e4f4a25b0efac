#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# etcd, kwok, kwokctl) from the Go module proxy into a cache outside the repo, and copies kwok's
# stage YAMLs (kustomize/stage) beside them as kwok-stage/. Rebuilds only when
# testground/versions.env changes (the bin dir is keyed by the versions). Prints the bin dir on
# stdout. Concurrent runs wait for each other (flock).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
CACHE=${TESTGROUND_CACHE:-$HOME/.cache/redis-cluster-testground}
stamp="$KUBE_VERSION-$ETCD_VERSION-$KWOK_VERSION"
OUT=$CACHE/bin/$stamp
if [ -f "$OUT/.complete" ] && [ -d "$OUT/kwok-stage" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT" "$CACHE/src"
exec 9>"$CACHE/build.lock"
flock 9
if [ -f "$OUT/.complete" ] && [ -d "$OUT/kwok-stage" ]; then echo "$OUT"; exit 0; fi
export CGO_ENABLED=0 GOFLAGS=-trimpath
log() { echo "[build] $*" >&2; }
gomod_field() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }

build_kube() {
  local b missing=0
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$OUT/$b" ] || missing=1
  done
  [ "$missing" = 1 ] || return 0
  local dir=$CACHE/src/k8s-$KUBE_VERSION minor
  minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
  local staging=v0.${KUBE_VERSION#v1.}
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  go mod init local/k8sbins >/dev/null 2>&1
  local kgomod
  kgomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | gomod_field GoMod)
  # k8s.io/kubernetes replaces its staging modules with local paths; a dependent must pin them.
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kgomod"); do
    go mod edit -replace="$m=$m@$staging"
  done
  go mod edit -go="$(awk '$1=="go"{print $2}' "$kgomod")"
  local c=k8s.io/kubernetes/cmd
  go get -tool "$c/kube-apiserver@$KUBE_VERSION" "$c/kube-controller-manager@$KUBE_VERSION" \
    "$c/kube-scheduler@$KUBE_VERSION" "$c/kubectl@$KUBE_VERSION" >&2
  local ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$OUT/$b" ] && continue
    log "go build $b"
    go build -ldflags "-s -w $ld" -o "$OUT/$b" "$c/$b" >&2
  done
}

build_etcd() {
  [ -x "$OUT/etcd" ] && return
  local dir=$CACHE/src/etcd-$ETCD_VERSION
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  go mod init local/etcdbin >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  log "go build etcd"
  go build -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3 >&2
}

build_kwok() {
  [ -x "$OUT/kwok" ] && [ -x "$OUT/kwokctl" ] && return
  log "go install kwok, kwokctl"
  GOBIN=$OUT go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" >&2
}

copy_kwok_stages() {
  [ -d "$OUT/kwok-stage" ] && return
  local src
  src=$(cd "$CACHE/src" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | gomod_field Dir)
  rm -rf "$OUT/kwok-stage.tmp"
  cp -r "$src/kustomize/stage" "$OUT/kwok-stage.tmp"
  chmod -R u+w "$OUT/kwok-stage.tmp"
  mv "$OUT/kwok-stage.tmp" "$OUT/kwok-stage"
}

build_etcd
build_kwok
build_kube
copy_kwok_stages
touch "$OUT/.complete"
echo "$OUT"
