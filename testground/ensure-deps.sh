#!/usr/bin/env bash
# Installs the Debian packages the test ground needs, only if something is missing (then runs
# `apt-get update` once first). Quiet and idempotent. Go (>= 1.26, for Kubernetes 1.36 and kwok
# 0.8) and Rust come with the machine image and are only checked here.
set -euo pipefail
declare -A pkg_of=(
  [redis-server]=redis-server [redis-cli]=redis-tools
  [flock]=util-linux [setsid]=util-linux
  [python3]=python3 [sha256sum]=coreutils
  [openssl]=openssl
)
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
[ -x /usr/bin/redis-cli ] || missing+=(redis-tools) # the exec wrapper calls /usr/bin/redis-cli
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "[testground] installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "[testground] ERROR: go not found (need >= 1.26)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "[testground] ERROR: cargo not found" >&2; exit 1; }
# redis-server may be started by the Debian package as a service on 127.0.0.1:6379; that does not
# collide with pod IPs (127.1.0.0/16), so it is left alone.
