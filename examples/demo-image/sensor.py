#!/usr/bin/python3 -I
"""The demo's Python service: what a small device program might do.

keel runs it as a service (services/sensor.toml) once the oneshot
"prepare" has written its calibration, like any other program.
"""
import json
import os
import sys
import time


def main() -> int:
    readings = [round(20.0 + (i * 7 % 5) / 10, 1) for i in range(5)]
    report = {
        "python": sys.version.split()[0],
        "pid": os.getpid(),
        "parent": os.getppid(),
        "readings": readings,
        "mean": round(sum(readings) / len(readings), 2),
        "uptime_s": float(open("/proc/uptime").read().split()[0]),
        "calibration": float(open("/run/demo/calibration").read()),
    }
    print("sensor:", json.dumps(report, sort_keys=True), flush=True)
    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
