#!/bin/sh
# Shows keel as a container's init: run by `./dev.sh demo`.
#
# keel runs examples/demo-app.sh as PID 1 of a fresh PID namespace (as
# `docker run --init` would), we send SIGTERM to keel as `docker stop` does,
# and keel forwards it, reaps everything, and stops the daemon the app left
# behind (SIGTERM, a 2 s grace period, SIGKILL) before exiting with the
# app's status.
set -eu
KEEL=${1:-build/keel}
APP=$(dirname "$0")/demo-app.sh

if [ "$(id -u)" -eq 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
  echo "demo: starting: unshare --pid --fork --mount-proc $KEEL -vv --grace 2 -- $APP"
  unshare --pid --fork --mount-proc "$KEEL" -vv --grace 2 -- "$APP" &
else
  echo "demo: no PID namespace here (needs root): keel runs as a subreaper instead"
  "$KEEL" -v --subreaper --grace 2 -- "$APP" &
fi
runner=$!
sleep 2
# keel is the child of unshare (or the process itself without namespaces).
keel_pid=$(cat /proc/$runner/task/$runner/children 2>/dev/null | awk '{print $1}')
[ -n "$keel_pid" ] || keel_pid=$runner
echo "demo: sending SIGTERM to keel (pid $keel_pid), as 'docker stop' would"
kill -TERM "$keel_pid"
status=0
wait "$runner" || status=$?
echo "demo: keel exited with status $status (the app's own status: 3)"
[ "$status" -eq 3 ]
