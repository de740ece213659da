"""Launch to the first shown window, against a bare window, in fresh processes.

    python benchmarks/launch.py [--repeats 7] [--db FILE]

The app: `python -m ketamon --demo --db FILE` with KETAMON_BENCH_STARTUP=1 (it prints
"shown <time>" on the first event-loop turn after show() and quits). The floor, in
the same run: a bare QApplication + QMainWindow holding a pyqtgraph PlotWidget,
with SQLAlchemy imported, shown the same way. The demo database is seeded once
beforehand (a warm start: the clinic opens an existing database every morning).
Prints medians and the ratio; it reports, it does not pass or fail.
"""
from __future__ import annotations

import argparse
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
from PySide6.QtWidgets import QApplication, QMainWindow
from PySide6.QtCore import QTimer
import pyqtgraph as pg
import sqlalchemy
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setCentralWidget(pg.PlotWidget()); w.resize(1440, 900); w.show()
QTimer.singleShot(0, lambda: (print("shown", time.time(), flush=True), app.quit()))
app.exec()
"""


def shown_after(cmd: list[str], env: dict) -> float:
    """Milliseconds from spawning `cmd` to its "shown" line."""
    t0 = time.time()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("shown "):
            return (float(line.split()[1]) - t0) * 1000
    raise RuntimeError(f"no 'shown' line from {cmd}: {out.stdout} {out.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--db", help="an existing ketamon database to open (default: a seeded demo)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ketamon-launch-"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp)}
    db = args.db or str(tmp / "demo.sqlite3")
    if not args.db:  # seed once, so launch measures opening the demo, not creating it
        subprocess.run([sys.executable, "-m", "ketamon", "--demo", "--db", db, "--screenshot", str(tmp / "s.png")],
                       env=env, check=True, capture_output=True, cwd=ROOT)
    app_cmd = [sys.executable, "-m", "ketamon", "--demo", "--db", db]
    app_env = {**env, "KETAMON_BENCH_STARTUP": "1"}
    bare_cmd = [sys.executable, "-c", BARE]
    app_ms, bare_ms = [], []
    for _ in range(args.repeats):  # interleaved, so a busy machine weighs on both alike
        app_ms.append(shown_after(app_cmd, app_env))
        bare_ms.append(shown_after(bare_cmd, env))
    a, b = statistics.median(app_ms), statistics.median(bare_ms)
    print(f"launch to the first shown window, median of {args.repeats} fresh processes")
    print(f"  ketamon --demo     {a:8.0f} ms   (min {min(app_ms):.0f}, max {max(app_ms):.0f})")
    print(f"  bare window floor  {b:8.0f} ms   (min {min(bare_ms):.0f}, max {max(bare_ms):.0f})")
    print(f"  ratio              {a / b:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
