#!/usr/bin/env bash
# Installs the plugin the way a user would, with krew, from the linux-amd64
# archive in dist/ (release/build.sh makes it) and the plugin.yaml that build
# wrote, then runs it through kubectl's plugin discovery:
#
#   1. krew's own validator (validate-krew-manifest -skip-install) on
#      plugin.yaml, named redis-cluster.yaml as in the krew-index;
#   2. `krew install --manifest=plugin.yaml --archive=dist/...` into a
#      throwaway KREW_ROOT (nothing outside a temp dir is touched);
#   3. LICENSE installed next to the binary (the krew-index requires it);
#   4. `kubectl plugin list` finds kubectl-redis_cluster on PATH, and
#      `kubectl redis-cluster --help` runs it;
#   5. `krew uninstall redis-cluster` removes it again.
#
# Usage: release/krew-install-test.sh
#
# krew and validate-krew-manifest are built from the Go module proxy into
# ~/.cache/redis-cluster-tools/bin on first use (pinned to KREW_VERSION;
# needs Go). Override with KREW=/path/to/krew, VALIDATE_KREW_MANIFEST=...,
# and KUBECTL=/path/to/kubectl (default: the newest kubectl of the test
# ground, ~/.cache/redis-cluster-testground/bin/*/kubectl, else the one on
# PATH).
set -euo pipefail

readonly KREW_VERSION=v0.4.3
readonly PLATFORM=linux-amd64
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly TOOLS="$HOME/.cache/redis-cluster-tools/bin"
readonly ARCHIVE="$ROOT/dist/kubectl-redis_cluster-$PLATFORM.tar.gz"
# Scratch directory (the throwaway KREW_ROOT lives in it); global so that the
# EXIT trap can remove it.
tmp=

# Prints a step to stderr.
step() { printf '==> %s\n' "$*" >&2; }

# Prints an error and exits non-zero.
die() { printf 'release/krew-install-test.sh: error: %s\n' "$*" >&2; exit 1; }

# Prints the path of tool $1 (a krew command), building it into $TOOLS first
# if it is not there.
go_tool() {
  local name=$1
  if [[ ! -x "$TOOLS/$name" ]]; then
    command -v go > /dev/null || die "$name is not in $TOOLS and Go is not installed to build it"
    step "building $name $KREW_VERSION from the Go module proxy"
    GOBIN="$TOOLS" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/krew/cmd/$name@$KREW_VERSION" >&2
  fi
  printf '%s\n' "$TOOLS/$name"
}

# Prints the kubectl to use (see the header).
find_kubectl() {
  if [[ -n "${KUBECTL:-}" ]]; then
    printf '%s\n' "$KUBECTL"
    return
  fi
  local newest
  newest=$(find "$HOME/.cache/redis-cluster-testground/bin" -mindepth 2 -maxdepth 2 -name kubectl 2>/dev/null \
    | sort -V | tail -n 1 || true)
  if [[ -n "$newest" && -x "$newest" ]]; then
    printf '%s\n' "$newest"
  else
    command -v kubectl || die "no kubectl found; set KUBECTL"
  fi
}

main() {
  [[ -f "$ARCHIVE" ]] || die "$ARCHIVE is missing; run release/build.sh $PLATFORM first"
  local krew validator kubectl
  krew=${KREW:-$(go_tool krew)}
  validator=${VALIDATE_KREW_MANIFEST:-$(go_tool validate-krew-manifest)}
  kubectl=$(find_kubectl)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT

  step "validate-krew-manifest on plugin.yaml"
  cp "$ROOT/plugin.yaml" "$tmp/redis-cluster.yaml"
  "$validator" -manifest "$tmp/redis-cluster.yaml" -skip-install 2>&1 | sed 's/^/    /' >&2

  local sha_line
  sha_line=$(awk -v archive="$(basename "$ARCHIVE")" \
    'index($0, archive) { found = 1 } found && /sha256:/ { print; exit }' "$ROOT/plugin.yaml")
  if [[ -z "$sha_line" || "$sha_line" == *"NOT BUILT"* ]]; then
    die "plugin.yaml has no sha256 for $PLATFORM; run release/build.sh (or --manifest-only) first"
  fi

  step "krew install --manifest=plugin.yaml --archive=${ARCHIVE#"$ROOT/"}"
  export KREW_ROOT="$tmp/krew" KREW_OS=linux KREW_ARCH=amd64
  "$krew" install --manifest="$ROOT/plugin.yaml" --archive="$ARCHIVE" < /dev/null 2>&1 | sed 's/^/    /' >&2

  step "LICENSE installed"
  find "$KREW_ROOT/store/redis-cluster" -type f -name LICENSE | grep -q . \
    || die "LICENSE is not in $KREW_ROOT/store/redis-cluster"

  step "kubectl plugin discovery ($kubectl)"
  PATH="$KREW_ROOT/bin:$PATH" "$kubectl" plugin list 2>/dev/null | grep -q "$KREW_ROOT/bin/kubectl-redis_cluster" \
    || die "kubectl plugin list does not show $KREW_ROOT/bin/kubectl-redis_cluster"
  local help
  help=$(PATH="$KREW_ROOT/bin:$PATH" "$kubectl" redis-cluster --help) \
    || die "kubectl redis-cluster --help failed"
  [[ -n "$help" ]] || die "kubectl redis-cluster --help printed nothing"
  printf '%s\n' "$help" | head -n 5 | sed 's/^/    /' >&2

  step "krew uninstall redis-cluster"
  # uninstall insists on an initialized plugin index (a git clone under
  # index/); an empty local repository stands in for the krew-index, which
  # this offline test never fetches.
  git init -q "$KREW_ROOT/index/default"
  "$krew" uninstall redis-cluster 2>&1 | sed 's/^/    /' >&2
  [[ ! -e "$KREW_ROOT/bin/kubectl-redis_cluster" ]] || die "uninstall left the plugin link behind"

  step "krew install through kubectl: OK"
}

main "$@"
