#!/usr/bin/python3
"""The boot chart rendered for real: `keelctl analyze plot` on event
fixtures, the SVG parsed as XML (a hostile service name must not break it
or inject markup), rendered by headless Chromium, and the screenshot checked
not blank: the bar colours and dark text pixels are there. Every service
name of the fixture must appear in the SVG's text, in its visible
(escaped) form.

usage: render_chart_test.py --keel KEEL --out DIR FIXTURE.events...
Needs Debian's chromium and python3-pil (dev.sh TEST_PACKAGES). Bounded:
each Chromium run by a timeout; ctest bounds the whole.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from PIL import Image

SVG_NS = "{http://www.w3.org/2000/svg}"
CHROMIUM_TIMEOUT_S = 110
MAX_NAME = 40

# Fill colours of boot_chart.cpp's classes (a rendered bar must show them).
RUNNING = (0x81, 0xC7, 0x84)
STARTUP = (0xFF, 0xD5, 0x4F)
KERNEL = (0x9E, 0x9E, 0x9E)


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def visible(name):
    """A name as the chart shows it: controls as \\xNN, cut at MAX_NAME."""
    out = []
    for i, ch in enumerate(name):
        if i == MAX_NAME:
            out.append("\u2026")
            break
        cp = ord(ch)
        if cp < 0x20 or 0x7F <= cp <= 0x9F:
            out.append("\\x%02x" % cp)
        else:
            out.append(ch)
    return "".join(out)


def fixture_names(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "starting" and event.get("service") not in names:
                names.append(event["service"])
    return names


def near(pixel, colour, tolerance=6):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def check(keel, fixture, out_dir, chromium):
    base = os.path.join(out_dir, os.path.basename(fixture).rsplit(".", 1)[0])
    run = subprocess.run([keel, "ctl", "analyze", "plot", "--input", fixture],
                         capture_output=True, timeout=60, check=False)
    if run.returncode != 0:
        fail("keelctl analyze plot exited %d: %s" % (run.returncode, run.stderr.decode(errors="replace")))
    svg_path = base + ".svg"
    with open(svg_path, "wb") as f:
        f.write(run.stdout)

    try:
        root = ET.fromstring(run.stdout)
    except ET.ParseError as e:
        fail("%s is not well-formed XML: %s" % (svg_path, e))
    if root.tag != SVG_NS + "svg":
        fail("the root element is %s, not svg" % root.tag)
    for el in root.iter():
        tag = el.tag.replace(SVG_NS, "")
        if tag in ("script", "foreignObject", "image", "use", "a"):
            fail("%s holds a <%s> element" % (svg_path, tag))
        for attr in el.attrib:
            if "href" in attr or attr.startswith("on"):
                fail("%s has an attribute %s" % (svg_path, attr))
    if b"url(" in run.stdout or b"@import" in run.stdout:
        fail("%s refers to something outside itself" % svg_path)
    texts = ["".join(el.itertext()) for el in root.iter(SVG_NS + "text")]
    for name in fixture_names(fixture):
        if visible(name) not in texts:
            fail("service %r (shown as %r) is not a text of %s" % (name, visible(name), svg_path))

    width = int(float(root.attrib["width"]))
    height = int(float(root.attrib["height"]))
    png = base + ".png"
    if os.path.exists(png):
        os.unlink(png)
    profile = base + "-chromium-profile"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--user-data-dir=" + profile,
           "--screenshot=" + png, "--window-size=%d,%d" % (width, height), "file://" + os.path.abspath(svg_path)]
    try:
        shot = subprocess.run(cmd, capture_output=True, timeout=CHROMIUM_TIMEOUT_S, check=False,
                              env=dict(os.environ, HOME=profile))
    except subprocess.TimeoutExpired:
        fail("chromium did not finish within %d s" % CHROMIUM_TIMEOUT_S)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not os.path.exists(png):
        fail("chromium wrote no screenshot (status %d): %s" % (shot.returncode, shot.stderr.decode(errors="replace")[-2000:]))

    image = Image.open(png).convert("RGB")
    pixels = list(image.getdata())
    total = len(pixels)
    non_white = sum(1 for p in pixels if p != (255, 255, 255))
    dark = sum(1 for p in pixels if sum(p) < 200)
    colours = len(set(pixels))
    running = sum(1 for p in pixels if near(p, RUNNING))
    startup = sum(1 for p in pixels if near(p, STARTUP))
    kernel = sum(1 for p in pixels if near(p, KERNEL))
    print("%s: %dx%d, %.1f%% not white, %d dark, %d colours, running %d, starting up %d, kernel %d px"
          % (png, image.width, image.height, 100.0 * non_white / total, dark, colours, running, startup, kernel))
    if non_white < total * 0.03:
        fail("%s is (nearly) blank" % png)
    if colours < 16:
        fail("%s has only %d colours" % (png, colours))
    if dark < 500:
        fail("%s shows (nearly) no text" % png)
    if running < 200 or startup < 50:
        fail("%s does not show the service bars' phases" % png)
    return kernel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keel", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--kernel-bar", action="append", default=[],
                        help="a fixture whose chart must show the kernel bar")
    parser.add_argument("fixtures", nargs="+")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        fail("chromium is not installed (Debian package chromium; dev.sh installs it)")
    os.makedirs(args.out, exist_ok=True)
    for fixture in args.fixtures:
        kernel = check(args.keel, fixture, args.out, chromium)
        if os.path.basename(fixture) in args.kernel_bar and kernel < 500:
            fail("%s: the kernel bar is not in the picture" % fixture)
    print("ok")


if __name__ == "__main__":
    main()
