#!/usr/bin/env python3
"""Runs the examples of docs/guide.md, so the guide cannot rot.

    guide_test.py --source-dir DIR --build-dir DIR EXAMPLE

EXAMPLE is one of: container-init, multi-service, device.

Every fenced block of the guide whose info string has `file=PATH` is
written to a scratch directory under that PATH, exactly as the guide shows
it; a block with `output=NAME` is the output the guide promises, checked
line by line ("..." in a line matches anything). The example is then run as
the guide tells a reader to run it, with two stand-ins, said here once:

- Docker. A Dockerfile is run the way Docker runs one, without Docker (it
  does not run in this test environment): its COPY lines are laid over the
  host's root on an overlay (the host is Debian 12, standing in for the
  FROM image: debian:12-slim, python:3.11-slim-bookworm), ENV, WORKDIR,
  ENTRYPOINT and CMD are applied, and the command is PID 1 of new PID,
  mount, network (loopback only) and UTS namespaces, with a fresh /proc,
  a tmpfs /tmp and /run (bound from the scratch directory, so the test can
  reach keel's control socket as `docker exec` would). Only the
  instructions the guide uses are accepted: anything else fails the test,
  so the guide cannot use an instruction this stand-in ignores.
- `docker stop` is SIGTERM to the container's PID 1; `docker exec X keel
  ctl ...` is keelctl on the control socket.

The checks are behaviour: the promised lines, exit statuses, states. Each
wait is bounded; nothing is timed.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

FENCE = re.compile(r"^```(\S*)(.*)$")


def fail(msg):
    print(f"guide_test: FAIL: {msg}", flush=True)
    sys.exit(1)


def parse_guide(path):
    """-> (files {rel: text}, outputs {name: [lines]}) from the guide."""
    files, outputs = {}, {}
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        attrs = dict(a.split("=", 1) for a in m.group(2).split() if "=" in a)
        body = []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        i += 1
        text = "\n".join(body) + "\n"
        if "file" in attrs:
            if attrs["file"] in files:
                fail(f"{path}: file={attrs['file']} shown twice")
            files[attrs["file"]] = text
        if "output" in attrs:
            outputs[attrs["output"]] = body
    return files, outputs


def write_files(root, files, prefix):
    written = []
    for rel, text in files.items():
        if not rel.startswith(prefix + "/"):
            continue
        dst = os.path.join(root, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(rel)
    if not written:
        fail(f"the guide shows no file for the example '{prefix}'")
    return written


def line_matches(pattern, line):
    """`...` matches anything; a run of spaces matches any run of spaces
    (column padding is the program's to choose)."""
    parts = [r"\s+".join(re.escape(w) for w in p.split(" ")) for p in pattern.strip().split("...")]
    parts = [re.sub(r"(\\s\+)+", r"\\s+", p) for p in parts]
    return re.fullmatch(r"\s*" + ".*".join(parts) + r"\s*", line) is not None


def check_output(promised, got_lines, ordered, what):
    """Each promised line appears in the output (in order when `ordered`)."""
    at = 0
    for p in promised:
        if not p.strip():
            continue
        found = None
        for j in range(at if ordered else 0, len(got_lines)):
            if line_matches(p, got_lines[j]):
                found = j
                break
        if found is None:
            fail(f"{what}: the guide promises the line {p!r}; the output was:\n" + "\n".join(got_lines))
        if ordered:
            at = found + 1


class Dockerfile:
    ALLOWED = {"FROM", "COPY", "ENV", "ENTRYPOINT", "CMD", "WORKDIR", "USER"}

    def __init__(self, path):
        self.copies, self.env, self.entrypoint, self.cmd = [], {}, [], []
        self.workdir, self.user = "/", None
        for raw in open(path, encoding="utf-8").read().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word not in self.ALLOWED:
                fail(f"{path}: the stand-in for Docker does not run '{word}': use it in the guide and teach this test")
            if word == "COPY":
                args = shlex.split(rest)
                self.copies.append((args[:-1], args[-1]))
            elif word == "ENV":
                k, _, v = rest.partition("=")
                self.env[k.strip()] = v.strip()
            elif word in ("ENTRYPOINT", "CMD"):
                setattr(self, word.lower(), json.loads(rest))
            elif word == "WORKDIR":
                self.workdir = rest.strip()
            elif word == "USER":
                self.user = rest.strip()


class Container:
    """A Dockerfile's container, run as described in this file's header."""

    def __init__(self, context, scratch, extra_env=None):
        self.df = Dockerfile(os.path.join(context, "Dockerfile"))
        self.scratch = scratch
        self.upper = os.path.join(scratch, "upper")
        self.run = os.path.join(scratch, "run")
        os.makedirs(self.run, exist_ok=True)
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(scratch, d), exist_ok=True)
        for sources, dst in self.df.copies:
            for src in sources:
                self._copy(os.path.join(context, src), dst, src.endswith("/"))
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": "guide"}
        env.update(self.df.env)
        env.update(extra_env or {})
        self.env = env
        self.lines, self.err_lines = [], []
        self.proc = None

    def _copy(self, src, dst, contents):
        target = os.path.join(self.upper, dst.lstrip("/"))
        if os.path.isdir(src):
            shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True)
        else:
            if dst.endswith("/"):
                target = os.path.join(target, os.path.basename(src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(src, target)

    def start(self):
        merged = os.path.join(self.scratch, "merged")
        argv = self.df.entrypoint + self.df.cmd
        user = ""
        if self.df.user:
            user = f"--userspec={self.df.user}:{self.df.user}"
        env_words = " ".join(shlex.quote(f"{k}={v}") for k, v in self.env.items())
        script = f"""
set -e
mount -t overlay overlay -o lowerdir=/,upperdir={self.upper},workdir={self.scratch}/work {merged}
mount -t proc proc {merged}/proc
mount -t tmpfs tmpfs {merged}/tmp
mount --bind {self.run} {merged}/run
ip link set lo up
hostname guide
cd {merged}{shlex.quote(self.df.workdir)}
exec chroot {user} {merged} /usr/bin/env -i {env_words} sh -c 'cd {shlex.quote(self.df.workdir)} && exec "$@"' sh {" ".join(shlex.quote(a) for a in argv)}
"""
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--mount", "--net", "--uts", "--fork", "--kill-child", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        for stream, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err_lines)):
            threading.Thread(target=self._pump, args=(stream, into), daemon=True).start()

    @staticmethod
    def _pump(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def init_pid(self):
        """The container's PID 1, seen from the host: unshare's child."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.05)
        fail("the container's PID 1 did not appear")

    def wait_line(self, pattern, what, timeout=30, stderr=False):
        into = self.err_lines if stderr else self.lines
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line_matches(pattern, l) for l in list(into)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        fail(f"{what}: no line {pattern!r} within {timeout} s; stdout:\n" + "\n".join(self.lines) +
             "\nstderr:\n" + "\n".join(self.err_lines))

    def stop(self):
        os.kill(self.init_pid(), signal.SIGTERM)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"the container did not exit within {timeout} s; stdout:\n" + "\n".join(self.lines) +
                 "\nstderr:\n" + "\n".join(self.err_lines))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def keelctl(keel, sock, *args, timeout=20):
    r = subprocess.run([keel, "ctl", "--socket", sock, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def example_container_init(src, build, files, outputs, scratch):
    write_files(scratch, files, "container-init")
    ctx = os.path.join(scratch, "container-init")
    shutil.copy2(os.path.join(build, "keel"), ctx)        # cp build/keel container-init/
    os.chmod(os.path.join(ctx, "app.sh"), 0o755)           # chmod +x container-init/app.sh
    c = Container(ctx, os.path.join(scratch, "c1"))
    try:
        c.start()
        c.wait_line("app: started, helper is pid ...", "container-init")
        c.stop()                                            # docker stop
        rc = c.wait_exit()
        if rc != 0:
            fail(f"container-init: exit status {rc}, the guide promises 0; stderr:\n" + "\n".join(c.err_lines))
        check_output(outputs["container-init"], c.lines, True, "container-init")
    finally:
        c.cleanup()


def example_multi_service(src, build, files, outputs, scratch):
    write_files(scratch, files, "multi-service")
    ctx = os.path.join(scratch, "multi-service")
    shutil.copy2(os.path.join(build, "keel"), ctx)        # cp build/keel multi-service/
    c = Container(ctx, os.path.join(scratch, "c2"))
    keel = os.path.join(build, "keel")
    sock = os.path.join(c.run, "keel", "control.sock")
    try:
        c.start()
        for line in outputs["multi-service"]:
            c.wait_line(line, "multi-service")
        # docker exec multi keel ctl status: every service in the state shown.
        deadline = time.monotonic() + 30
        while True:
            rc, out, err = keelctl(keel, sock, "status")
            got = out.splitlines()
            try:
                check_output(outputs["multi-service-status"], got, True, "keel ctl status")
                break
            except SystemExit:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # web's own stderr (http.server logs each request there) reached the
        # container's stderr with its prefix: the readiness probe's GETs.
        c.wait_line('web     | 127.0.0.1 - - [...] "GET / HTTP/1.0" 200 -', "web's stderr", stderr=True)
        rc, out, err = keelctl(keel, sock, "status", "web", "--json")
        if rc != 0:
            fail(f"keel ctl status web --json: {rc} {err}")
        pid = json.loads(out)[0]["pid"]
        # docker exec multi pkill -KILL -f http.server: pid is in the
        # container's PID namespace; find it on the host through its ns pid.
        host_pid = None
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    for l in f:
                        if l.startswith("NSpid:"):
                            ids = l.split()[1:]
                            if len(ids) >= 2 and ids[-1] == str(pid) and "http.server" in open(f"/proc/{entry}/cmdline").read():
                                host_pid = int(entry)
            except OSError:
                continue
        if host_pid is None:
            fail(f"web's process (pid {pid} in the container) not found on the host")
        os.kill(host_pid, signal.SIGKILL)
        rc = c.wait_exit()
        if rc != 137:
            fail(f"multi-service: exit status {rc} after web was killed; the guide promises 137\n" + "\n".join(c.err_lines))
    finally:
        c.cleanup()


def example_device(src, build, files, outputs, scratch):
    write_files(scratch, files, "device")
    ctx = os.path.join(scratch, "device")
    shutil.copy2(os.path.join(build, "keel"), ctx)        # cp build/keel device/
    image = os.path.join(build, "keel-image")
    r = subprocess.run([image, "build", os.path.join(ctx, "image.toml")], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"keel-image build: {r.returncode}\n{r.stdout}{r.stderr}")
    chart = os.path.join(scratch, "boot.svg")
    r = subprocess.run([image, "boot", os.path.join(ctx, "device.cpio.zst"), "--chart", chart],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    console = (r.stdout + r.stderr).splitlines()
    if r.returncode != 0:
        fail(f"keel-image boot: exit {r.returncode}\n" + "\n".join(console))
    # Each service's lines come when it runs: their order across services is not promised.
    check_output(outputs["device"], [l.split("] ", 1)[-1] if l.startswith("[ ") else l for l in console],
                 False, "the device's console")
    svg = open(chart, encoding="utf-8").read()
    for name in ("sensor", "uplink"):
        if f">{name}<" not in svg:
            fail(f"boot.svg: no text '{name}' in the chart")


EXAMPLES = {
    "container-init": example_container_init,
    "multi-service": example_multi_service,
    "device": example_device,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("example", choices=sorted(EXAMPLES))
    a = ap.parse_args()
    files, outputs = parse_guide(os.path.join(a.source_dir, "docs", "guide.md"))
    scratch = tempfile.mkdtemp(prefix=f"keel-guide-{a.example}-", dir="/dev/shm")
    try:
        EXAMPLES[a.example](a.source_dir, a.build_dir, files, outputs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"guide_test: {a.example}: 1 passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
