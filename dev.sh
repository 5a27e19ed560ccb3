#!/usr/bin/env bash
# keel's one entry point for developers and CI.
#
#   ./dev.sh demo     build keel and a demo image (keel-image), boot it in QEMU: the console
#                     shows keel as PID 1 running the demo's main program, then powering off
#   ./dev.sh demo-container
#                     keel as a container's init: a demo app as PID 1 of a new PID namespace
#   ./dev.sh check    build everything (keel for arm64 too), run every test, clang-tidy, and
#                     the unit tests and the supervisor's system tests again under ASan+UBSan
#                     (what CI runs)
#   ./dev.sh build    configure and build only
#   ./dev.sh lint     clang-tidy over src/ with the committed .clang-tidy (part of check)
#   ./dev.sh bench    run the benchmarks against tini and dumb-init, then runit and s6 as
#                     supervisors (see docs/benchmarks.md)
#   ./dev.sh format   reformat the sources with clang-format
#
# Every command installs what it needs from Debian's packages when it is
# missing, so a fresh Debian 12 machine needs nothing but this checkout.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
BUILD_PACKAGES=(cmake ninja-build g++ lld pkg-config libgtest-dev binutils util-linux procps
                zlib1g-dev libzstd-dev liblzma-dev libtomlplusplus-dev libssl-dev cpio)
# Real peers: the drop-in personalities are tested side by side with them;
# QEMU and a static busybox for the boot tests (the kernel itself comes from
# scripts/fetch-kernel.sh into build/kernel-cache, never into /boot).
BOOT_PACKAGES=(qemu-system-x86 busybox-static xz-utils)
# systemd only for systemd-notify: a real sd_notify client for the readiness
# tests (it does not become the init: that is systemd-sysv, not installed).
# strace for the test that proves keel never blocks on the kernel's RNG;
# e2fsprogs for the power-cycle proof (e2fsck, debugfs).
# erofs-utils: mkfs.erofs for the disk-root tests (tests/unit/disk_root_test.cpp,
# tests/boot/disk_root_boot_test.cpp); e2fsprogs' e2fsck goes into their stage initramfs.
# python3-systemd: systemd.daemon.notify and listen_fds, real sd_notify and
# sd_listen_fds clients (watchdog, EXTEND_TIMEOUT_USEC, RELOADING, STOPPING,
# ERRNO, socket activation tests); gunicorn: a real socket-activated server.
# chromium and python3-pil: the boot chart (keelctl analyze plot) rendered
# headless and its screenshot checked (tests/analyze/render_chart_test.py).
# skopeo, umoci, runc and podman: the OCI outputs of keel-image checked with
# real tools (tests/unit/image_oci_test.cpp: inspect, copy, unpack as root and
# rootless, runc running the image with keel as its init, podman load).
TEST_PACKAGES=(tini dumb-init systemd strace e2fsprogs erofs-utils util-linux mount python3 gunicorn python3-systemd chromium python3-pil iproute2
               skopeo umoci runc podman "${BOOT_PACKAGES[@]}")
# keel-image's disk outputs (issue 14): mkfs.erofs, fakeroot for its owners
# and device nodes, sfdisk and fsck.erofs to read the images back.
TEST_PACKAGES+=(fakeroot fdisk)

# need_packages PKG...: apt-get install what is missing (scripts/packages.sh).
. "$(dirname "$0")/scripts/packages.sh"

# configure DIR [CMAKE ARGS...]: a Ninja build dir with warnings as errors
# (development and CI; a user's plain cmake build has them off). A build dir
# made before, or by hand without -Werror, is reconfigured to get it.
configure() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ] || ! grep -q '^KEEL_WERROR:BOOL=ON$' "$dir/CMakeCache.txt" 2>/dev/null; then
    cmake -S . -B "$dir" -G Ninja -DKEEL_WERROR=ON "$@" >/dev/null
  fi
}

build() {
  need_packages "${BUILD_PACKAGES[@]}"
  configure "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  if [ $# -gt 0 ]; then cmake --build "$BUILD_DIR" --target "$@"; else cmake --build "$BUILD_DIR"; fi
}

lint() {
  need_packages clang-tidy
  echo "dev.sh: clang-tidy on src/" >&2
  find src -name '*.cpp' -print0 | xargs -0 -P "$(nproc)" -n 4 clang-tidy --quiet -p "$BUILD_DIR" 2>/dev/null
}

# The comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

cmd=${1:-}
case "$cmd" in
  build)
    build
    ;;
  lint)
    build
    lint
    ;;
  check)
    need_packages "${TEST_PACKAGES[@]}"
    build
    lint
    export KEEL_KERNEL_CACHE="$PWD/$BUILD_DIR/kernel-cache"
    scripts/fetch-kernel.sh --cache "$KEEL_KERNEL_CACHE" >/dev/null
    # keel cross-built for arm64, with Debian's arm64 kernel and BusyBox, for
    # tests/boot/aarch64_boot_test.cpp (it installs its own packages).
    scripts/cross-aarch64.sh --cache "$KEEL_KERNEL_CACHE" --build "$BUILD_DIR-aarch64" >/dev/null
    # A skipped test fails here unless tests/skip-allowlist.txt names it
    # with its reason: this machine has everything the tests need installed.
    export KEEL_FAIL_ON_SKIP=1
    # Tests that need a PID namespace (unshare) or to adopt orphans run as root.
    ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 180 -j "$(nproc)"
    # Users and packagers build Release, where GCC 12 warns differently at
    # -O3: keel-image (built at -O3 there) must build with warnings as errors.
    # keel's own code is -Os -DNDEBUG in Release and RelWithDebInfo alike, so
    # the build above already covers it. A few minutes on 2 cores.
    configure "$BUILD_DIR-release" -DCMAKE_BUILD_TYPE=Release -DKEEL_BUILD_TESTS=OFF
    cmake --build "$BUILD_DIR-release" --target keel-image
    # The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer
    # (with keel_fault_tests: allocations of PID 1's paths failed one at a time).
    configure "$BUILD_DIR-asan" -DCMAKE_BUILD_TYPE=Debug -DKEEL_SANITIZE=ON
    cmake --build "$BUILD_DIR-asan" --target keel_unit_tests keel_fault_tests keel_system_tests
    ctest --test-dir "$BUILD_DIR-asan" --output-on-failure --timeout 180 -j "$(nproc)" -L unit
    # The supervisor's system tests with the sanitized keel: PID 1 code
    # driven by real services, where a memory error would abort keel.
    ctest --test-dir "$BUILD_DIR-asan" --output-on-failure --timeout 180 -j "$(nproc)" -R 'SupervisorTest|SystemRole'
    # The untrusted-input parsers under libFuzzer (tests/fuzz/README.md).
    BUILD_DIR="$BUILD_DIR" scripts/fuzz.sh --seconds 20
    ;;
  demo)
    need_packages "${BOOT_PACKAGES[@]}"
    build keel keel-image
    export KEEL_KERNEL_CACHE="$PWD/$BUILD_DIR/kernel-cache"
    scripts/fetch-kernel.sh --cache "$KEEL_KERNEL_CACHE" >/dev/null
    exec examples/demo-image/run.sh "$BUILD_DIR"
    ;;
  demo-container)
    build keel
    exec examples/container-demo.sh "$BUILD_DIR/keel"
    ;;
  bench)
    build
    shift
    bench/run "$@"
    # Then the supervision benchmark (keel vs runit and s6); --quick carries over.
    need_packages python3
    quick=(); for a in "$@"; do [ "$a" = --quick ] && quick=(--quick); done
    exec bench/supervise --build-dir "$BUILD_DIR" "${quick[@]}"
    ;;
  format)
    need_packages clang-format
    find src tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i
    ;;
  ""|-h|--help|help)
    usage
    ;;
  *)
    echo "dev.sh: unknown command '$cmd'" >&2
    usage >&2
    exit 2
    ;;
esac
