#!/usr/bin/env bash
# cross-aarch64.sh — keel for arm64, and what it takes to boot it in QEMU,
# on an x86_64 Debian 12 machine:
#
#   - keel and keel-cinit cross-built with Debian's aarch64 compiler
#     (cmake/aarch64-linux-gnu.cmake) into BUILD (default build-aarch64),
#     with the build's -Werror;
#   - Debian's arm64 kernel and static BusyBox, downloaded (apt-get
#     download) and unpacked into CACHE/arm64/<kernel version>/ (default
#     build/kernel-cache), with CACHE/arm64/current -> <kernel version>:
#         boot/vmlinuz-<version>   (an uncompressed arm64 Image)
#         bin/busybox              (static, arm64)
#     Nothing is installed from them: the host's /boot and /bin stay.
#
#   scripts/cross-aarch64.sh [--cache DIR] [--build DIR]
#
# Installs what it needs: g++-aarch64-linux-gnu, qemu-system-arm and
# zlib's arm64 static archive (zlib1g-dev:arm64), for which it adds arm64
# to dpkg's foreign architectures (dpkg --add-architecture arm64, then
# apt-get update): Debian's way to cross-build against its own libraries.
# Idempotent. Prints keel's arm64 binary on stdout, the rest on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh

cache=${KEEL_KERNEL_CACHE:-build/kernel-cache}
build=build-aarch64
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cross-aarch64.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "cross-aarch64.sh: adding arm64 to dpkg's architectures (for zlib1g-dev:arm64)" >&2
  "${sudo[@]}" dpkg --add-architecture arm64
  "${sudo[@]}" apt-get update -q >/dev/null
fi
need_packages cmake ninja-build g++-aarch64-linux-gnu qemu-system-arm zlib1g-dev:arm64 libtomlplusplus-dev

# The kernel and BusyBox: the versions Debian's arm64 metapackages name.
resolve_kernel() {
  apt-cache depends linux-image-arm64:arm64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\).*$/\1/p' | head -n1
}
package=$(resolve_kernel)
if [ -z "$package" ]; then
  "${sudo[@]}" apt-get update -q >/dev/null
  package=$(resolve_kernel)
fi
arm=$cache/arm64
if [ -z "$package" ] && [ -L "$arm/current" ]; then
  version=$(readlink "$arm/current")  # offline with an index that lost it: what is cached
else
  [ -n "$package" ] || { echo "cross-aarch64.sh: cannot resolve linux-image-arm64's kernel" >&2; exit 1; }
  version=${package#linux-image-}
fi
dest=$arm/$version
if [ ! -f "$dest/boot/vmlinuz-$version" ] || [ ! -x "$dest/bin/busybox" ]; then
  mkdir -p "$arm"
  tmp=$(mktemp -d "$arm/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "cross-aarch64.sh: downloading $package and busybox-static for arm64 (apt-get download)" >&2
  # apt-get download writes into the current directory, as the _apt user
  # when it can: a directory it may write to.
  chmod 0777 "$tmp"
  (cd "$tmp" && apt-get download -q "$package:arm64" busybox-static:arm64 >/dev/null 2>&1) ||
    { echo "cross-aarch64.sh: apt-get download failed" >&2; exit 1; }
  mkdir -p "$tmp/unpacked"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/unpacked"; done
  mkdir -p "$tmp/$version/boot" "$tmp/$version/bin"
  mv "$tmp/unpacked/boot/vmlinuz-$version" "$tmp/$version/boot/"
  mv "$tmp/unpacked/bin/busybox" "$tmp/$version/bin/"
  rm -rf "$dest"
  mv "$tmp/$version" "$dest"
fi
ln -sfn "$version" "$arm/current"

# keel itself. KEEL_WERROR as dev.sh builds; keel-image and the tests are
# host tools, not cross-built.
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DKEEL_HOST_TOOLS=OFF \
    -DKEEL_BUILD_TESTS=OFF -DKEEL_WERROR=ON >/dev/null
fi
cmake --build "$build" --target keel keel-cinit >&2
echo "$build/keel"
