#!/bin/sh
# A small "container application" for the demo: it leaves the kind of mess
# real programs leave — orphaned zombies, and a daemon that double-forks
# away and ignores SIGTERM — and shuts down cleanly on SIGTERM itself.
echo "app: running as pid $$; pid 1 is: $(cat /proc/1/comm)"

# Ten short-lived orphans: their parent exits first, so they re-parent to
# keel, which must reap them or they stay zombies.
for i in 1 2 3 4 5 6 7 8 9 10; do
  sh -c 'sleep 0.1 & exit 0'
done

# A stubborn daemon: double-forked (not our child any more), ignores SIGTERM.
sh -c 'sh -c "trap \"\" TERM; exec sleep 600" & exit 0'
sleep 0.5
echo "app: processes now (no zombies: keel reaped the orphans):"
ps -o pid,ppid,stat,args -p 1 -s $$ | sed 's/^/app:   /'

trap 'echo "app: got SIGTERM, exiting with status 3"; exit 3' TERM
echo "app: waiting for SIGTERM"
while :; do sleep 0.2; done
