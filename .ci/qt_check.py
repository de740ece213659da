"""Before `make run`: can Qt open a window here? If not, say in one sentence
what is missing (the display, or the system libraries of Qt's xcb plugin and
the Debian packages that hold them) instead of Qt's abort and core dump.

Usage: python .ci/qt_check.py   (exit 0: Qt starts; 1: it cannot, and why)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PACKAGES = Path(__file__).with_name("debian-packages.txt")
PROBE = "import sys; from PySide6.QtGui import QGuiApplication; QGuiApplication(sys.argv[:1])"


def package_for(soname: str) -> str:
    """The Debian package of a library, by Debian's naming: libxcb-icccm.so.4 →
    libxcb-icccm4, libxkbcommon-x11.so.0 → libxkbcommon-x11-0, libGL.so.1 → libgl1."""
    m = re.match(r"(lib[\w.+-]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, version = m.group(1).lower(), m.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries() -> list[str]:
    """Libraries the xcb platform plugin links that are not installed (ldd)."""
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return []
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def main() -> int:
    env = dict(os.environ)
    if env.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"):
        return 0
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        print("ketamon: there is no display here (DISPLAY is not set): run it from a desktop session, "
              "or under a virtual display with `xvfb-run make run`.", file=sys.stderr)
        return 1
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return 0
    missing = missing_libraries()
    if missing:
        listed = set(line.strip() for line in PACKAGES.read_text().splitlines() if line and line[0] != "#")
        packages = sorted({package_for(lib) for lib in missing})
        unlisted = [p for p in packages if p not in listed]
        print(f"ketamon: Qt cannot open a window: {', '.join(missing)} "
              f"{'is' if len(missing) == 1 else 'are'} not installed; install "
              f"`sudo apt-get install {' '.join(packages)}`"
              + (f" (not in .ci/debian-packages.txt: {', '.join(unlisted)})" if unlisted else "") + ".",
              file=sys.stderr)
    else:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"ketamon: Qt cannot open a window on display {env.get('DISPLAY') or env.get('WAYLAND_DISPLAY')}: "
              f"{last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
