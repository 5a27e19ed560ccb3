#!/bin/sh
# The demo image's main program (/etc/keel/main): keel runs it as the
# service "main" beside the ones in /etc/keel/services, and powers the
# machine off when it exits.
bb=/bin/busybox
echo "demo: hello from the main program, pid $$; PID 1 is $($bb cat /proc/1/comm)"
echo "demo: kernel $($bb uname -r), $($bb grep -c ^processor /proc/cpuinfo) CPU(s), hostname $($bb cat /etc/hostname)"
echo "demo: mounted by keel:"
$bb awk '$2 ~ "^/(proc|sys|dev|run)$" { print "demo:   " $3 " on " $2 }' /proc/mounts
# Orphans: each short-lived grandchild re-parents to keel, which reaps it.
for i in 1 2 3 4 5; do $bb sh -c "$bb sleep 0.1 & exit 0"; done
$bb sleep 0.3
zombies=$($bb awk '$3 == "Z"' /proc/[0-9]*/stat 2>/dev/null | $bb wc -l)
echo "demo: 5 orphans later, zombies left: $zombies"
# The services: wait for the Python one to finish, then show them all.
keelctl wait sensor --ready --timeout 60
echo "demo: keelctl status:"
keelctl status
echo "demo: the ticker's log, last 2 lines:"
keelctl log ticker -n 2
echo "demo: done; keel stops the services and powers off when this program exits"
