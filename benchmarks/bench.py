"""ketamon benchmark — reports numbers, never passes or fails.

    make bench            (= QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench.py --json benchmarks/results.json)

What it measures (medians and 95th percentiles over repeated runs):
  entry.*      time from Enter in the vitals row of the real SessionChart to the
               value committed (durably) and drawn (plot repainted), for
               a 2-hour manual session and a 12-hour session with 1 Hz device data;
  floor.*      the same work done bare: one SQLite INSERT+COMMIT with the same
               durability settings (WAL, synchronous=FULL) plus one pyqtgraph
               setData of the same series and a repaint — and the ratio to it;
  startup.*    launch to the first shown main window, against a bare QMainWindow
               holding a PlotWidget (both as fresh processes);
  alerts.*     rule evaluation per entry on the 12-hour 1 Hz session, and how late
               an overdue alert fires while the window is busy redrawing.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stats(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    return {"median_ms": round(statistics.median(s), 2),
            "p95_ms": round(s[max(0, int(round(len(s) * 0.95)) - 1)], 2), "n": len(s)}


# ---------------------------------------------------------------- entry → committed and drawn


def _make_store(tmp: Path, name: str):
    from ketamon.core.clock import FakeClock
    from ketamon.core.store import Store

    clock = FakeClock(datetime.now(timezone.utc) - timedelta(hours=13))
    return Store(f"sqlite:///{tmp / name}", clock=clock), clock


def _nurse(store):
    from ketamon.core.models import User
    from ketamon.core.permissions import Actor

    with store.transaction() as db:
        u = User(username="bench", display_name="Bench Nurse", role="nurse", active=True, failed_attempts=0,
                 created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)


def _manual_session(store, clock, nurse, hours: float = 2.0) -> int:
    """A realistic manual session: a set every 5 minutes for `hours`."""
    from ketamon.core import ops

    pid = ops.create_patient(store, nurse, mrn="BENCH-M", family_name="Bench", given_name="Manual",
                             birth_date=date(1980, 1, 1), sex="female", weight_kg=70).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    for i in range(int(hours * 12)):
        ops.record_vitals(store, nurse, sid, systolic=120 + i % 20, diastolic=75 + i % 10, heart_rate=70 + i % 15,
                          spo2=97, resp_rate=14)
        clock.advance(minutes=5)
    return sid


def bench_entry(store, clock, nurse, sid: int, repeats: int) -> tuple[dict, int]:
    """Type a set into the real vitals row; time Enter → committed → plot repainted."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from ketamon.gui.app import make_application
    from ketamon.gui.chart_view import SessionChart
    from ketamon.gui.runner import OpRunner

    make_application()
    runner = OpRunner(store, nurse)
    chart = SessionChart(runner, sid)
    chart.resize(1440, 900)
    chart.show()
    QApplication.processEvents()
    row = chart.vitals_row
    samples = []
    for i in range(repeats):
        clock.advance(seconds=5)
        row.fields["systolic"].setText(str(130 + i % 10))
        row.fields["diastolic"].setText("80")
        row.fields["heart_rate"].setText(str(72 + i % 5))
        row.fields["spo2"].setText("98")
        t0 = time.perf_counter()
        QTest.keyClick(row.fields["spo2"], Qt.Key.Key_Return)  # saves synchronously, then refreshes
        chart.plot.repaint()  # drawn: the plot has painted the new data
        samples.append((time.perf_counter() - t0) * 1000)
        assert not row.fields["systolic"].text(), "the row did not save"
    n_points = len(chart.plot.series("heart_rate")[0])
    chart.close()
    chart.deleteLater()
    QApplication.processEvents()
    return stats(samples), n_points


def bench_floor(tmp: Path, n_points: int, repeats: int) -> dict:
    """Bare SQLite insert+commit (WAL, FULL) plus a bare pyqtgraph setData+repaint."""
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    con = sqlite3.connect(tmp / f"floor-{n_points}.sqlite3", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, t REAL, sys INT, dia INT, hr INT, spo2 INT)")
    w = pg.PlotWidget()
    w.resize(1000, 500)
    w.show()
    curve = w.plot()
    xs = np.arange(n_points, dtype=float)
    ys = 70 + (xs % 9)
    QApplication.processEvents()
    db_ms, draw_ms, both = [], [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO v (t, sys, dia, hr, spo2) VALUES (?, 130, 80, 72, 98)", (time.time(),))
        con.execute("COMMIT")
        t1 = time.perf_counter()
        ys[-1] = 70 + i % 9
        curve.setData(xs, ys)
        w.repaint()
        t2 = time.perf_counter()
        db_ms.append((t1 - t0) * 1000)
        draw_ms.append((t2 - t1) * 1000)
        both.append((t2 - t0) * 1000)
    con.close()
    w.close()
    w.deleteLater()
    return {"sqlite_commit": stats(db_ms), "pyqtgraph_setdata": stats(draw_ms), "total": stats(both)}


# ---------------------------------------------------------------- start-up

BARE = """
import sys, time
from PySide6.QtWidgets import QApplication, QMainWindow
from PySide6.QtCore import QTimer
import pyqtgraph as pg
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setCentralWidget(pg.PlotWidget()); w.resize(1440, 900); w.show()
QTimer.singleShot(0, lambda: (print("shown", time.time(), flush=True), app.quit()))
app.exec()
"""


def bench_startup(tmp: Path, repeats: int) -> dict:
    """Fresh processes; time from spawn to the first event-loop turn after show()."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp / "startup")}
    demo_db = tmp / "startup-demo.sqlite3"
    # seed the demo once, so start-up measures opening it, not creating it
    subprocess.run([sys.executable, "-m", "ketamon", "--demo", "--db", str(demo_db), "--screenshot",
                    str(tmp / "s.png")], env=env, check=True, capture_output=True, cwd=ROOT)

    def one(cmd: list[str], extra_env: dict) -> float:
        t0 = time.time()
        out = subprocess.run(cmd, env={**env, **extra_env}, capture_output=True, text=True, cwd=ROOT, timeout=120)
        for line in out.stdout.splitlines():
            if line.startswith("shown "):
                return (float(line.split()[1]) - t0) * 1000
        raise RuntimeError(f"no 'shown' line: {out.stdout} {out.stderr[-2000:]}")

    app_ms = [one([sys.executable, "-m", "ketamon", "--demo", "--db", str(demo_db)],
                  {"KETAMON_BENCH_STARTUP": "1"}) for _ in range(repeats)]
    bare_ms = [one([sys.executable, "-c", BARE], {}) for _ in range(repeats)]
    a, b = stats(app_ms), stats(bare_ms)
    return {"ketamon": a, "bare_qmainwindow_plotwidget": b, "ratio_median": round(a["median_ms"] / b["median_ms"], 2)}


# ---------------------------------------------------------------- alerts


def bench_alerts(store, nurse, device_sid: int, repeats: int) -> dict:
    from ketamon.core import alerts

    result = {"evaluation_per_entry_12h_1hz": alerts.time_evaluation(store, device_sid, repeats=repeats)}
    result["overdue_lateness_while_redrawing"] = bench_overdue_lateness(store, nurse)
    return result


def bench_overdue_lateness(store, nurse) -> dict:
    """Let a vitals check fall due while the chart redraws continuously, on the real
    clock; report how long after the due time the overdue alert exists."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ketamon.core import ops, schedule
    from ketamon.core.chart import load_chart
    from ketamon.core.clock import SystemClock
    from ketamon.core.models import Alert
    from ketamon.gui.app import build_window

    real = SystemClock()
    store.clock = real
    pid = ops.create_patient(store, nurse, mrn="BENCH-O", family_name="Overdue", given_name="Test",
                             birth_date=date(1980, 1, 1), sex="male", weight_kg=80).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    from ketamon.core.demo_record import predose_checks

    predose_checks(store, nurse, sid, [0] * 9)
    protocol = store.protocols.get("iv-ketamine-0.5")
    every, grace = protocol.schedule.during_infusion_every, protocol.schedule.grace_minutes
    # start the infusion so that the first in-infusion set becomes overdue ~3 s from now
    start = real.now() - timedelta(minutes=every + grace) + timedelta(seconds=3)
    ops.record_vitals(store, nurse, sid, systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=14,
                      measured_at=start - timedelta(minutes=1))
    ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=50, at=start)
    item = schedule.next_due_item(load_chart(store, sid))
    overdue_at = item.overdue_at if item else None
    window = build_window(store, nurse, sid)
    window.resize(1440, 900)
    window.show()
    chart = window.current_chart()
    busy = QTimer()
    busy.timeout.connect(chart.refresh)  # keep the GUI thread busy redrawing
    busy.start(0)
    deadline = time.time() + 40
    fired_at = None
    while time.time() < deadline and fired_at is None:
        QApplication.processEvents()
        with store.read() as db:
            a = db.query(Alert).filter(Alert.session_id == sid, Alert.condition_key.like("overdue%")).first()
            if a is not None:
                fired_at = a.raised_at  # when the GUI's timer-driven check raised it
    busy.stop()
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    if fired_at is None or overdue_at is None:
        return {"fired": False}
    return {"fired": True, "overdue_at": overdue_at.isoformat(),
            "late_by_ms": round((fired_at - overdue_at).total_seconds() * 1000, 1)}


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 1-hour device session")
    args = parser.parse_args()
    repeats = 10 if args.quick else 30
    device_hours = 1.0 if args.quick else 12.0
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                     "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["KETAMON_DATA_DIR"] = str(tmp)
        from ketamon.core import alerts

        store, clock = _make_store(tmp, "manual.sqlite3")
        nurse = _nurse(store)
        sid = _manual_session(store, clock, nurse)
        manual, n_manual = bench_entry(store, clock, nurse, sid, repeats)
        floor_manual = bench_floor(tmp, n_manual, repeats)
        results["entry_2h_manual"] = {**manual, "points": n_manual, "floor": floor_manual["total"],
                                      "ratio_median": round(manual["median_ms"] /
                                                            floor_manual["total"]["median_ms"], 1),
                                      "floor_parts": floor_manual}
        store.dispose()

        store, clock = _make_store(tmp, "device.sqlite3")
        nurse = _nurse(store)
        t0 = time.perf_counter()
        dsid = alerts.build_device_session(store, nurse, hours=device_hours, hz=1)
        results["device_session_build_s"] = round(time.perf_counter() - t0, 1)
        device, n_device = bench_entry(store, clock, nurse, dsid, max(5, repeats // 3))
        floor_device = bench_floor(tmp, n_device, repeats)
        results[f"entry_{device_hours:g}h_1hz_device"] = {
            **device, "points": n_device, "floor": floor_device["total"],
            "ratio_median": round(device["median_ms"] / floor_device["total"]["median_ms"], 1),
            "floor_parts": floor_device}
        results["alerts"] = bench_alerts(store, nurse, dsid, repeats)
        store.dispose()
        results["startup"] = bench_startup(tmp, 3 if args.quick else 7)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten: {args.json}")


def print_table(r: dict) -> None:
    print(f"\nketamon benchmark  ({r['machine']['cpus']} CPUs, Python {r['machine']['python']})\n")
    print(f"{'measure':<52}{'median ms':>11}{'p95 ms':>10}{'floor ms':>10}{'ratio':>8}")
    print("-" * 91)
    for key in [k for k in r if k.startswith("entry_")]:
        e = r[key]
        label = f"Enter → saved+drawn, {key.removeprefix('entry_').replace('_', ' ')} ({e['points']} pts)"
        print(f"{label:<52}{e['median_ms']:>11}{e['p95_ms']:>10}{e['floor']['median_ms']:>10}"
              f"{e['ratio_median']:>8}")
    ev = r["alerts"]["evaluation_per_entry_12h_1hz"]
    print(f"{'alert rules per entry, device session':<52}{ev['median_ms']:>11.2f}{ev['p95_ms']:>10.2f}"
          f"{'':>10}{'':>8}")
    s = r["startup"]
    print(f"{'launch → main window shown':<52}{s['ketamon']['median_ms']:>11}{s['ketamon']['p95_ms']:>10}"
          f"{s['bare_qmainwindow_plotwidget']['median_ms']:>10}{s['ratio_median']:>8}")
    o = r["alerts"]["overdue_lateness_while_redrawing"]
    print(f"{'overdue alert lateness while redrawing':<52}{o.get('late_by_ms', 'not fired')!s:>11}")
    print("\nfloor = bare SQLite INSERT+COMMIT (WAL, synchronous=FULL) + bare pyqtgraph setData+repaint;\n"
          "startup floor = bare QMainWindow with a PlotWidget. Ratios are median / floor median.")


if __name__ == "__main__":
    main()
