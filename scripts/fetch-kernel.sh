#!/usr/bin/env bash
# fetch-kernel.sh — put a Debian bookworm kernel in the project's cache, for
# `keel-image boot` and the boot tests. Never installs it: the package is
# downloaded (apt-get download) and unpacked (dpkg-deb -x) into
#
#   ${KEEL_KERNEL_CACHE:-build/kernel-cache}/<version>/
#       boot/vmlinuz-<version>, boot/config-<version>, lib/modules/<version>/...
#       boot/vmlinux-<version>   (made here: see below)
#
# and the host's /boot is left alone. Also installs qemu-system-x86 when
# qemu-system-x86_64 is missing. Idempotent: a version already unpacked is
# not fetched again. Prints the vmlinuz path on stdout (everything else goes
# to stderr), so `K=$(scripts/fetch-kernel.sh)` works.
#
#   scripts/fetch-kernel.sh [--cache DIR] [--version 6.1.0-NN-amd64] [--no-qemu] [--vmlinux]
#
# Also writes DIR/current -> <version> (a symlink) so tests find the kernel
# without knowing its version.
#
# boot/vmlinux-<version> is the uncompressed kernel taken out of vmlinuz (an
# xz stream in Debian's bzImage). QEMU boots it directly through its PVH
# entry (CONFIG_PVH=y), which skips the in-guest xz decompression: under
# software emulation that halves a boot (about 4 s instead of 9 s here).
# `--vmlinux` prints its path instead of vmlinuz's.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${KEEL_KERNEL_CACHE:-build/kernel-cache}
version=""
want_qemu=1
print_vmlinux=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --no-qemu) want_qemu=0; shift ;;
    --vmlinux) print_vmlinux=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch-kernel.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >/dev/null
  fi
}

if [ "$want_qemu" = 1 ] && ! command -v qemu-system-x86_64 >/dev/null; then
  echo "fetch-kernel.sh: installing qemu-system-x86 (apt-get)" >&2
  apt_install qemu-system-x86
fi

# linux-image-amd64 is the metapackage; its dependency names the real one.
resolve_version() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1
}
if [ -z "$version" ]; then
  version=$(resolve_version)
  if [ -z "$version" ]; then
    "${sudo[@]}" apt-get update -q >/dev/null
    version=$(resolve_version)
  fi
  # Offline with an index that lost the package: reuse what is cached.
  if [ -z "$version" ] && [ -L "$cache/current" ]; then
    version=$(readlink "$cache/current")
  fi
  [ -n "$version" ] || { echo "fetch-kernel.sh: cannot resolve linux-image-amd64's kernel version" >&2; exit 1; }
fi

dest="$cache/$version"
vmlinuz="$dest/boot/vmlinuz-$version"
if [ ! -f "$vmlinuz" ] || [ ! -d "$dest/lib/modules/$version" ]; then
  mkdir -p "$cache"
  tmp=$(cd "$(mktemp -d "$cache/.fetch.XXXXXX")" && pwd)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-kernel.sh: downloading linux-image-$version (apt-get download)" >&2
  # apt-get download writes into the current directory; run it as the
  # caller (apt drops to _apt for the download when it can, hence the chmod).
  chmod 777 "$tmp"
  if ! (cd "$tmp" && apt-get download -q "linux-image-$version" >/dev/null 2>"$tmp/err"); then
    "${sudo[@]}" apt-get update -q >/dev/null
    (cd "$tmp" && apt-get download -q "linux-image-$version" >/dev/null) ||
      { cat "$tmp/err" >&2; echo "fetch-kernel.sh: download failed" >&2; exit 1; }
  fi
  deb=$(ls "$tmp"/linux-image-"$version"_*.deb)
  echo "fetch-kernel.sh: unpacking $(basename "$deb") into $dest" >&2
  mkdir -p "$tmp/root"
  dpkg-deb -x "$deb" "$tmp/root"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rm -rf "$tmp"
  trap - EXIT
fi
[ -f "$vmlinuz" ] || { echo "fetch-kernel.sh: $vmlinuz missing after unpacking" >&2; exit 1; }

# The uncompressed kernel: try each xz magic in the bzImage until one
# decompresses to an ELF file (xz complains about the bytes after the stream:
# judge by the output, not by its status).
vmlinux="$dest/boot/vmlinux-$version"
if [ ! -s "$vmlinux" ]; then
  command -v xz >/dev/null || apt_install xz-utils
  for offset in $(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
    tail -c +"$((offset + 1))" "$vmlinuz" | xz -dc > "$vmlinux.tmp" 2>/dev/null || true
    if [ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]; then
      mv "$vmlinux.tmp" "$vmlinux"
      break
    fi
  done
  rm -f "$vmlinux.tmp"
  [ -s "$vmlinux" ] || echo "fetch-kernel.sh: no xz-compressed ELF kernel in $vmlinuz (vmlinux not made)" >&2
fi

ln -sfn "$version" "$cache/current"
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
if [ "$print_vmlinux" = 1 ] && [ -s "$vmlinux" ]; then
  absolute "$vmlinux"
else
  absolute "$vmlinuz"
fi
