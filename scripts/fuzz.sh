#!/usr/bin/env bash
# fuzz.sh — build keel's libFuzzer targets with clang and run each briefly.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]
#
# Targets (tests/fuzz/NAME_fuzz.cpp): service protocol notify keelctl cinit loader;
# all of them when none is named. Each runs for N seconds (default 20) on a
# scratch copy of its seed corpus tests/fuzz/corpus/NAME (so a run never
# writes into the checkout). The build is $BUILD_DIR-fuzz (default
# build-fuzz), configured with clang++ and -DKEEL_FUZZ=ON. Exits non-zero
# if any target crashes, leaks, times out or breaks a property, printing
# the reproducer's path and how to replay it. Installs clang when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=20
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) SECONDS_PER_TARGET=${1#--seconds=}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
case "$SECONDS_PER_TARGET" in ''|*[!0-9]*) echo "fuzz.sh: --seconds wants a whole number" >&2; exit 2 ;; esac
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(service protocol notify keelctl cinit loader analyze)

# Longest input per target: about the largest real one (a service file of
# a few KiB, one notify datagram of 4 KiB, a request or two, a command line),
# except `service`: 256 KiB, so inputs nested far beyond keel's limit (32
# levels; toml++ alone overflows its stack at some thousands) are reachable,
# and the 100 KB deep-nesting seeds of corpus/service are read whole.
max_len() {
  case "$1" in
    service) echo 262144 ;;
    protocol) echo 4096 ;;
    notify) echo 4096 ;;
    keelctl|cinit) echo 1024 ;;
    loader) echo 16384 ;;
    analyze) echo 16384 ;;
    *) echo "fuzz.sh: no target '$1' (service protocol notify keelctl cinit loader analyze)" >&2; exit 2 ;;
  esac
}
for t in "${TARGETS[@]}"; do max_len "$t" >/dev/null; done

# need_packages PKG...: as dev.sh.
. "$(dirname "$0")/packages.sh"
# libFuzzer and the sanitizer runtimes are libclang-rt-dev (only a
# recommendation of clang's), llvm-symbolizer for file:line in the stacks is
# llvm's; the rest is what the keel libraries need to configure.
need_packages clang libclang-rt-dev llvm cmake ninja-build pkg-config zlib1g-dev libzstd-dev libtomlplusplus-dev

BUILD=${BUILD_DIR:-build}-fuzz
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DKEEL_FUZZ=ON -DKEEL_BUILD_TESTS=OFF -DKEEL_SANITIZE=OFF -DKEEL_WERROR=ON >/dev/null
fi
JOBS=$(nproc)
[ "$JOBS" -gt 2 ] || JOBS=2
cmake --build "$BUILD" --target keel_fuzzers -j "${FUZZ_JOBS:-$JOBS}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/keel-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
ARTIFACTS="$BUILD/fuzz-artifacts"
mkdir -p "$ARTIFACTS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${TARGETS[@]}"; do
  corpus="$SCRATCH/$t"
  mkdir -p "$corpus"
  cp -R tests/fuzz/corpus/"$t"/. "$corpus"/ 2>/dev/null || true
  log="$SCRATCH/$t.log"
  echo "fuzz.sh: $t for ${SECONDS_PER_TARGET}s (corpus $(ls "$corpus" | wc -l) inputs)"
  # Status of the fuzzer: 0 clean; anything else is a finding (the
  # reproducer is written under $ARTIFACTS as crash-/leak-/timeout-/oom-*).
  status=0
  "$BUILD/tests/fuzz/${t}_fuzz" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/${t}-" >"$log" 2>&1 || status=$?
  # libFuzzer prints its final stats twice after a crash: show each once.
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
    awk -v t="$t" '!seen[$1]++ { print "  " t " " $0 }' || true
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz.sh: $t FAILED (status $status); its output:" >&2
    tail -n 60 "$log" >&2
    repro=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //')
    if [ -n "$repro" ]; then
      echo "fuzz.sh: reproducer: $repro" >&2
      echo "fuzz.sh: replay: $BUILD/tests/fuzz/${t}_fuzz $repro" >&2
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${TARGETS[*]}: no crash in ${SECONDS_PER_TARGET}s each"
