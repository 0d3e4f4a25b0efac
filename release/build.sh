#!/usr/bin/env bash
# Builds the release archives of kubectl-redis_cluster that this machine can
# build and regenerates plugin.yaml (the krew manifest) from
# release/plugin.yaml.tmpl with their sha256 sums.
#
# Usage:
#   release/build.sh [PLATFORM...]     build PLATFORMs (default: every one this
#                                      host can build), then write plugin.yaml
#   release/build.sh --manifest-only   build nothing; write plugin.yaml from the
#                                      archives already in dist/
#   release/build.sh --list            show what this host can build, and why not
#
# PLATFORM is linux-amd64, linux-arm64, darwin-amd64 or darwin-arm64.
#
# Output, per built platform:
#   dist/kubectl-redis_cluster-<os>-<arch>.tar.gz  (kubectl-redis_cluster,
#                                                   LICENSE, README.md at its root)
#   dist/kubectl-redis_cluster-<os>-<arch>.tar.gz.sha256
#
# plugin.yaml takes each platform's sha256 from its archive in dist/, built
# now or earlier (archives built on another machine, e.g. a Mac, can be
# copied into dist/ before `--manifest-only`). A platform without an archive
# gets the placeholder sha256 of 64 zeros, marked "NOT BUILT" on its line:
# krew accepts its form, so the manifest still installs the built platforms,
# and tests/packaging.rs recognizes it as "not yet built". Publish a
# plugin.yaml only when no NOT BUILT line is left.
#
# Linux binaries are static (musl) where the toolchain allows:
#   rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#   apt-get install musl-tools gcc-aarch64-linux-gnu
# Without musl, linux-amd64 falls back to x86_64-unknown-linux-gnu (linked
# against this host's glibc) with a warning. darwin needs a macOS host.
#
# Needs bash, GNU tar (gtar on macOS) and sha256sum or shasum.
#
# Archives are reproducible for a given binary: sorted entries, fixed owner,
# and mtime from SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail

readonly BIN=kubectl-redis_cluster
readonly ALL_PLATFORMS=(linux-amd64 linux-arm64 darwin-amd64 darwin-arm64)
readonly PLACEHOLDER_SHA256=0000000000000000000000000000000000000000000000000000000000000000
# Platforms built by this run (the others' archives, if any, are older).
BUILT_NOW=()

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly DIST="$ROOT/dist"
readonly TEMPLATE="$ROOT/release/plugin.yaml.tmpl"
readonly MANIFEST="$ROOT/plugin.yaml"

# Scratch space for staging archives, removed on exit.
WORK=$(mktemp -d)
readonly WORK
trap 'rm -rf "$WORK"' EXIT

# Prints a message to stderr.
say() { printf '%s\n' "$*" >&2; }

# Prints a message to stderr and exits non-zero.
die() { say "release/build.sh: error: $*"; exit 1; }

# Upper-cases $1 (bash 3 on macOS has no ${var^^}).
upper() { tr '[:lower:]' '[:upper:]' <<< "$1"; }

# The lower-case hex sha256 of file $1.
sha256_of() {
  if command -v sha256sum > /dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# GNU tar, for reproducible archives (on macOS: brew install gnu-tar).
TAR=$(command -v gtar || command -v tar)
readonly TAR

# The package version from Cargo.toml's [package] table, with a "v" prefix.
package_version() {
  local v
  v=$(awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 }
           p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.toml")
  [[ -n "$v" ]] || die "no version in the [package] table of Cargo.toml"
  printf 'v%s\n' "$v"
}

# Whether rustup has the standard library for target $1.
have_target() {
  rustup target list --installed 2>/dev/null | grep -qx "$1"
}

# Prints the Rust target for platform $1 on this host, or prints why it
# cannot be built and returns 1.
rust_target() {
  local host_os
  host_os=$(uname -s)
  case "$1" in
    linux-amd64)
      if have_target x86_64-unknown-linux-musl && command -v musl-gcc >/dev/null; then
        echo x86_64-unknown-linux-musl
      elif [[ "$host_os" == Linux && "$(uname -m)" == x86_64 ]]; then
        say "warning: musl toolchain missing (rustup target add x86_64-unknown-linux-musl;" \
            "apt-get install musl-tools); linux-amd64 will link against this host's glibc"
        echo x86_64-unknown-linux-gnu
      else
        echo "needs x86_64-unknown-linux-musl and musl-gcc"; return 1
      fi ;;
    linux-arm64)
      if have_target aarch64-unknown-linux-musl && command -v aarch64-linux-gnu-gcc >/dev/null; then
        echo aarch64-unknown-linux-musl
      else
        echo "needs rustup target aarch64-unknown-linux-musl and aarch64-linux-gnu-gcc"; return 1
      fi ;;
    darwin-amd64 | darwin-arm64)
      local t=x86_64-apple-darwin
      [[ "$1" == darwin-arm64 ]] && t=aarch64-apple-darwin
      if [[ "$host_os" == Darwin ]] && have_target "$t"; then
        echo "$t"
      else
        echo "needs a macOS host with rustup target $t (Apple's SDK and linker)"; return 1
      fi ;;
    *) die "unknown platform '$1' (expected one of: ${ALL_PLATFORMS[*]})" ;;
  esac
}

# Environment for cross C compilers and linkers of target $1 (for ring).
target_env() {
  case "$1" in
    x86_64-unknown-linux-musl)
      echo CC_x86_64_unknown_linux_musl=musl-gcc ;;
    aarch64-unknown-linux-musl)
      echo CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc \
           CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc ;;
  esac
}

# The archive path for platform $1.
archive_for() { printf '%s/%s-%s.tar.gz\n' "$DIST" "$BIN" "$1"; }

# Builds the binary for platform $1 with Rust target $2 and packs its archive.
build_platform() {
  local platform=$1 target=$2 stage binary archive
  say "==> $platform ($target)"
  # shellcheck disable=SC2046 # target_env prints VAR=value words on purpose
  (cd "$ROOT" && env $(target_env "$target") \
     cargo build --release --locked --bin "$BIN" --target "$target")
  binary="${CARGO_TARGET_DIR:-$ROOT/target}/$target/release/$BIN"
  [[ -x "$binary" ]] || die "cargo did not produce $binary"
  smoke_test "$platform" "$binary"

  stage="$WORK/$platform"
  mkdir -p "$stage"
  install -m 0755 "$binary" "$stage/$BIN"
  install -m 0644 "$ROOT/LICENSE" "$ROOT/README.md" "$stage/"
  archive=$(archive_for "$platform")
  mkdir -p "$DIST"
  "$TAR" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$stage" -cf - "$BIN" LICENSE README.md | gzip -9 -n > "$archive.tmp"
  mv "$archive.tmp" "$archive"
  printf '%s  %s\n' "$(sha256_of "$archive")" "$(basename "$archive")" > "$archive.sha256"
  say "    $(cut -d' ' -f1 < "$archive.sha256")  ${archive#"$ROOT/"}"
}

# Runs the binary for platform $1 at $2 when this host can execute it
# (natively, or linux-arm64 under qemu-aarch64 from Debian's qemu-user), and
# reports whether it is statically linked.
smoke_test() {
  local platform=$1 binary=$2
  if [[ "$platform" == linux-amd64 && "$(uname -s)-$(uname -m)" == Linux-x86_64 ]]; then
    "$binary" --help > /dev/null || die "$binary --help failed"
  elif [[ "$platform" == linux-arm64 ]] && command -v qemu-aarch64 > /dev/null; then
    qemu-aarch64 "$binary" --help > /dev/null || die "qemu-aarch64 $binary --help failed"
  fi
  if command -v file > /dev/null; then
    say "    $(file -b "$binary" | cut -d, -f1-5)"
  fi
}

# Writes plugin.yaml from the template, the package version, and the
# archives in dist/.
write_manifest() {
  local version text platform os arch token archive sha
  version=$(package_version)
  text=$(<"$TEMPLATE")
  text=${text//@VERSION@/$version}
  for platform in "${ALL_PLATFORMS[@]}"; do
    os=${platform%-*} arch=${platform#*-}
    token="\"@SHA256_$(upper "$os")_$(upper "$arch")@\""
    archive=$(archive_for "$platform")
    if [[ -f "$archive" ]]; then
      sha=$(sha256_of "$archive")
      if [[ " ${BUILT_NOW[*]-} " != *" $platform "* ]]; then
        say "    $platform: using ${archive#"$ROOT/"} from an earlier build"
      fi
      text=${text//$token/\"$sha\"}
    else
      text=${text//$token/\"$PLACEHOLDER_SHA256\" # NOT BUILT: no archive for $platform yet (release/build.sh)}
      say "    $platform: NOT BUILT (placeholder sha256 in plugin.yaml)"
    fi
  done
  if grep -qE '@[A-Z0-9_]+@' <<< "$text"; then
    die "unfilled tokens in $TEMPLATE: $(grep -oE '@[A-Z0-9_]+@' <<< "$text" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$text" > "$MANIFEST.tmp"
  mv "$MANIFEST.tmp" "$MANIFEST"
  say "==> wrote plugin.yaml ($version)"
}

# Prints, per platform, the target this host would build or why it cannot.
list_platforms() {
  local platform result
  for platform in "${ALL_PLATFORMS[@]}"; do
    if result=$(rust_target "$platform" 2>/dev/null); then
      printf '%-13s %s\n' "$platform" "$result"
    else
      printf '%-13s cannot build here: %s\n' "$platform" "$result"
    fi
  done
}

main() {
  case "${1:-}" in
    --list) list_platforms; return ;;
    --manifest-only) write_manifest; return ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return ;;
  esac
  [[ -f "$ROOT/README.md" ]] || die "README.md is missing; the archives ship it next to LICENSE"
  [[ -f "$ROOT/LICENSE" ]] || die "LICENSE is missing"
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
  export SOURCE_DATE_EPOCH

  local requested=("$@") platform target built=0
  if [[ ${#requested[@]} -eq 0 ]]; then
    for platform in "${ALL_PLATFORMS[@]}"; do
      if target=$(rust_target "$platform" 2>/dev/null); then
        requested+=("$platform")
      else
        say "==> $platform: skipped, $target"
      fi
    done
  fi
  for platform in ${requested[@]+"${requested[@]}"}; do
    target=$(rust_target "$platform") || die "cannot build $platform here: $target"
    build_platform "$platform" "$target"
    BUILT_NOW+=("$platform")
    built=$((built + 1))
  done
  [[ $built -gt 0 ]] || die "nothing could be built on this host (see release/build.sh --list)"
  write_manifest
}

main "$@"
