#!/usr/bin/python3
"""keel's own sources compiled for aarch64 with Debian's cross compiler.

keel runs on embedded boards, most of them arm64, and parts of it are
written per architecture: the clone trampoline and the raw system calls
(src/core/spawn.cpp, src/core/raw_syscall.hpp), and system call numbers
that exist on x86_64 but not on arm64 (SYS_open, SYS_dup2, SYS_fork, ...)
would break there only. This recompiles every source under src/ that the
build compiles (src/image/ is keel-image, a host tool, and is left out)
with aarch64-linux-gnu-g++ and the build's own flags (-Werror included):
what does not compile for arm64 fails here, on an x86_64 machine.

What it does not prove: that the aarch64 code runs (nothing is linked or
booted: that needs arm64 libraries and an arm64 kernel in QEMU).

usage: compile_aarch64.py --build-dir DIR [--jobs N]
DIR's compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS) names the
sources and flags. Needs g++-aarch64-linux-gnu (dev.sh TEST_PACKAGES).
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

# Debian's cross compiler searches its own arm64 sysroot first, then
# /usr/include: toml++ (header-only) and zlib.h, which are the same on every
# architecture, come from the host's packages.
CROSS = "aarch64-linux-gnu-g++"
PER_SOURCE_TIMEOUT_S = 240
EM_AARCH64 = 183  # ELF e_machine


def cross_command(entry, out_dir):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    cross = [CROSS]
    skip = 0
    for a in args[1:]:
        if skip:
            skip -= 1
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = 1
            continue
        if a in ("-MD", "-MMD"):
            continue
        cross.append(a)
    name = os.path.relpath(entry["file"], "/").replace("/", "_") + ".o"
    return cross + ["-o", os.path.join(out_dir, name)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", required=True)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    if shutil.which(CROSS) is None:
        print("FAIL: %s is not installed (Debian: g++-aarch64-linux-gnu)" % CROSS)
        return 1
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(a.build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    src = os.path.join(root, "src") + os.sep
    image = os.path.join(root, "src", "image") + os.sep
    chosen = {}
    for e in entries:
        path = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if path.startswith(src) and not path.startswith(image):
            chosen.setdefault(path, e)  # keel and keel-cinit share sources: once each
    if not chosen:
        print("FAIL: no source under src/ in compile_commands.json")
        return 1
    with tempfile.TemporaryDirectory(prefix="keel-aarch64-") as out_dir:

        def compile_one(item):
            path, entry = item
            try:
                r = subprocess.run(cross_command(entry, out_dir), cwd=entry["directory"],
                                   capture_output=True, text=True, timeout=PER_SOURCE_TIMEOUT_S)
                return path, r.returncode, r.stderr
            except subprocess.TimeoutExpired:
                return path, -1, "timed out after %d s" % PER_SOURCE_TIMEOUT_S

        failed = []
        with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
            for path, rc, err in pool.map(compile_one, sorted(chosen.items())):
                if rc != 0:
                    failed.append(path)
                    print("FAIL: %s does not compile for aarch64:\n%s" % (os.path.relpath(path, root), err[-4000:]))
        # The trampoline must have been among them, as aarch64 code.
        spawn = [n for n in os.listdir(out_dir) if n.endswith("src_core_spawn.cpp.o")]
        if not failed and not spawn:
            print("FAIL: src/core/spawn.cpp was not compiled")
            return 1
        if spawn:
            with open(os.path.join(out_dir, spawn[0]), "rb") as obj:
                header = obj.read(20)
            machine = int.from_bytes(header[18:20], "little") if header[:4] == b"\x7fELF" else -1
            if machine != EM_AARCH64:
                print("FAIL: spawn.cpp.o is not an arm64 object (ELF machine %d)" % machine)
                return 1
    if failed:
        return 1
    print("ok: %d sources of keel compiled for aarch64" % len(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
