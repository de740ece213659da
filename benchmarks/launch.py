"""Launch to the first shown window, against a bare window, in fresh processes.

    python benchmarks/launch.py [--repeats 7] [--db FILE] [--no-compile]

The app: `python -m ketamon --demo --db FILE` with KETAMON_BENCH_STARTUP=1. It prints
"shown <time>" on the event-loop turn after its window is first painted (the whole
window: Qt paints a window's widgets in one pass), and "chart <time>" on the turn
after the open session's plot is first painted (the app builds the chart after the
window is drawn: this second figure is where that time went), then quits. The floor,
in the same run: a bare QApplication + QMainWindow holding a pyqtgraph PlotWidget, with
SQLAlchemy imported, timed the same way (the turn after its first paint).

Both are warm starts: the demo database is seeded once beforehand (the clinic opens an
existing database every morning), and ketamon's bytecode is compiled first, as
installing the wheel does (the floor's packages come compiled; without this every
launch here compiles ketamon's modules from source when PYTHONDONTWRITEBYTECODE is
set: `--no-compile` with no __pycache__ in ketamon/ measures that). Prints medians and ratios; it reports, it does not
pass or fail.
"""
from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget
import pyqtgraph as pg
import sqlalchemy, sqlalchemy.orm
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setCentralWidget(pg.PlotWidget()); w.resize(1440, 900)

class FirstPaint(QObject):  # as ketamon.gui.first_paint: the turn after the window's first paint
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window() is w:
            app.removeEventFilter(self)
            QTimer.singleShot(0, lambda: (print("shown", time.time(), flush=True), app.quit()))
        return False

watch = FirstPaint(); app.installEventFilter(watch)
w.show()
app.exec()
"""


def compile_bytecode(root: Path = ROOT) -> None:
    """ketamon's .pyc files, as `pip install` of the wheel writes them."""
    compileall.compile_dir(str(root / "ketamon"), quiet=1)


def launch_times(cmd: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float | None]:
    """Milliseconds from spawning `cmd` to its "shown" line, and to its "chart" line (None
    when it prints none: the bare window)."""
    t0 = time.time()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd, timeout=300)
    times = {}
    for line in out.stdout.splitlines():
        word, _, value = line.partition(" ")
        if word in ("shown", "chart") and word not in times:
            times[word] = (float(value) - t0) * 1000
    if "shown" not in times:
        raise RuntimeError(f"no 'shown' line from {cmd}: {out.stdout[-500:]} {out.stderr[-2000:]}")
    return times["shown"], times.get("chart")


def seed_demo(db: Path, env: dict, tmp: Path, cwd: Path = ROOT) -> None:
    """Create and seed the demo database once, so launches open it warm."""
    subprocess.run([sys.executable, "-m", "ketamon", "--demo", "--db", str(db), "--screenshot", str(tmp / "s.png")],
                   env=env, check=True, capture_output=True, cwd=cwd, timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--db", help="an existing ketamon database to open (default: a seeded demo)")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave ketamon's bytecode as it is (none in a checkout run with PYTHONDONTWRITEBYTECODE)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ketamon-launch-"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp)}
    if not args.no_compile:
        compile_bytecode()
    db = Path(args.db) if args.db else tmp / "demo.sqlite3"
    if not args.db:
        seed_demo(db, env, tmp)
    app_cmd = [sys.executable, "-m", "ketamon", "--demo", "--db", str(db)]
    app_env = {**env, "KETAMON_BENCH_STARTUP": "1"}
    bare_cmd = [sys.executable, "-c", BARE]
    shown, chart, bare = [], [], []
    for _ in range(args.repeats):  # interleaved, so a busy machine weighs on both alike
        s, c = launch_times(app_cmd, app_env)
        shown.append(s)
        chart.append(c if c is not None else s)
        bare.append(launch_times(bare_cmd, env)[0])
    a, c, b = statistics.median(shown), statistics.median(chart), statistics.median(bare)
    print(f"launch, median of {args.repeats} fresh processes ({'bytecode as found' if args.no_compile else 'compiled'})")
    print(f"  ketamon --demo: window shown  {a:8.0f} ms   (min {min(shown):.0f}, max {max(shown):.0f})   {a / b:5.2f}x")
    print(f"  ketamon --demo: chart drawn   {c:8.0f} ms   (min {min(chart):.0f}, max {max(chart):.0f})   {c / b:5.2f}x")
    print(f"  bare window floor             {b:8.0f} ms   (min {min(bare):.0f}, max {max(bare):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
