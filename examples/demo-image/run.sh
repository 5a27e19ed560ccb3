#!/bin/sh
# Build the demo image and boot it: run by `./dev.sh demo` (which builds
# keel and keel-image and fetches the kernel first).
set -eu
BUILD=${1:-build}
HERE=$(dirname "$0")
IMAGE=$BUILD/demo.cpio.zst
echo "demo: $BUILD/keel-image build $HERE/demo.toml -o $IMAGE"
"$BUILD/keel-image" build "$HERE/demo.toml" -o "$IMAGE"
"$BUILD/keel-image" ls "$IMAGE" | head -n 12
echo "demo: ... ($("$BUILD/keel-image" ls "$IMAGE" | wc -l) entries)"
echo "demo: $BUILD/keel-image boot $IMAGE"
# The patterns are matched in order, so only causally ordered lines are
# listed: main's own lines, then (it waits for the sensor) the status and
# the ticker's log it prints, then the shutdown.
exec "$BUILD/keel-image" boot "$IMAGE" --timeout 120 \
  --expect 'keel: running as the system.s init' \
  --expect 'demo: hello from the main program' \
  --expect 'zombies left: 0' \
  --expect 'sensor +done' \
  --expect 'tick [0-9]+' \
  --expect 'keel: every service is stopped' \
  --expect 'power-off'
