# cmake/aarch64-linux-gnu.cmake — keel for arm64, cross-built on Debian:
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DKEEL_HOST_TOOLS=OFF -DKEEL_BUILD_TESTS=OFF
#   cmake --build build-aarch64 --target keel
#
# Needs g++-aarch64-linux-gnu and zlib's static archive for arm64
# (dpkg --add-architecture arm64; apt-get install zlib1g-dev:arm64):
# scripts/cross-aarch64.sh installs both. keel-image and the tests are
# host tools and are not cross-built (KEEL_HOST_TOOLS=OFF).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Debian's multiarch layout: arm64 libraries in /usr/lib/aarch64-linux-gnu,
# architecture-independent headers (toml++, zlib.h) in /usr/include, which
# the cross compiler searches after its own sysroot.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# lld's measured function order (tools/keel-hot.order) is x86_64's, and
# GCC's cross driver does not find ld.lld: GNU ld links keel for arm64.
set(KEEL_ORDER_FUNCTIONS OFF CACHE BOOL "Link keel with lld in the measured function order" FORCE)
