"""Documents of a long session — reports numbers, never passes or fails.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/documents.py [--quick] [--repeats N]

On a 12-hour session with 1 Hz device data (43 200 vital-sign sets; `--quick`:
1 hour), in one process with the imports done, each document written the way
the command line writes it (audit and role check left out):

  summary   the printed session summary as a PDF (`documents.pdf`);
  csv       the CSV export (`exporting.write_export`);
  fhir      the FHIR R4 bundle (streamed), also its peak Python memory
            (tracemalloc) and file size.

Beside each, in the same run, a floor that reads and writes the same rows bare:
the session's vital-sign rows through the DB-API cursor (no ORM, no types), then
  summary   the same number of table rows drawn as text on the same number of
            PDF pages, plus the chart's points as a polyline;
  csv       every row written with csv.writer;
  fhir      every row written as a compact JSON object.
Medians over `--repeats` runs, each document run in turn with its floor (so
both see the same load); the ratio is median / floor median. The vital signs
are read from the database on every run (the chart cache is cleared), as in a
fresh process.
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _store(tmp: Path, hours: float):
    from ketamon.core.scenario import device_session
    from ketamon.core.clock import FakeClock
    from ketamon.core.models import User
    from ketamon.core.permissions import Actor
    from ketamon.core.store import Store

    clock = FakeClock(datetime.now(timezone.utc) - timedelta(hours=hours + 1))
    store = Store(f"sqlite:///{tmp / 'documents.sqlite3'}", clock=clock)
    with store.transaction() as db:
        u = User(username="bench", display_name="Bench Nurse", role="nurse", active=True, failed_attempts=0,
                 created_at=clock.now())
        db.add(u)
        db.flush()
        nurse = Actor(u.id, u.username, u.display_name, u.role)
    sid = device_session(store, nurse, hours=hours, hz=1)
    return store, sid


def _timed(fn, repeats: int) -> list[float]:
    from ketamon.core.chart import forget_chart_cache

    out = []
    for _ in range(repeats):
        forget_chart_cache()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _paired(doc, floor, repeats: int) -> tuple[list[float], list[float]]:
    """The document and its floor run in turns (document first, then floor first,
    …), so both see the same load: on a shared machine the load moves within
    seconds, and timing all the documents and then all the floors made the ratio
    move with it."""
    docs, floors = [], []
    for i in range(repeats):
        pair = ((doc, docs), (floor, floors)) if i % 2 == 0 else ((floor, floors), (doc, docs))
        for fn, out in pair:
            out += _timed(fn, 1)
    return docs, floors


def _raw_rows(store, sid: int) -> list[tuple]:
    conn = store.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT * FROM vital_signs WHERE session_id = ? ORDER BY measured_at, entered_at, id", (sid,))
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()
    finally:
        conn.close()


def floor_csv(store, sid: int, path: Path) -> None:
    names, rows = _raw_rows(store, sid)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(names)
        w.writerows(rows)


def floor_fhir(store, sid: int, path: Path) -> None:
    names, rows = _raw_rows(store, sid)
    encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"entry":[')
        for i, r in enumerate(rows):
            fh.write(("," if i else "") + encode(dict(zip(names, r))))
        fh.write("]}\n")


def floor_summary(store, sid: int, path: Path, table_rows: int, pages: int) -> None:
    """Read the rows, then draw `table_rows` lines of 12 cells over `pages` pages
    and the chart's points (one per printed row) as a polyline."""
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QFont, QPainter, QPdfWriter, QPolygonF

    from ketamon.documents.layout import setup_page

    names, rows = _raw_rows(store, sid)
    writer = QPdfWriter(str(path))
    writer.setResolution(600)
    setup_page(writer, "A4")
    p = QPainter(writer)
    font = QFont()
    font.setPointSizeF(8.5)
    p.setFont(font)
    step = max(1, len(rows) // max(table_rows, 1))
    shown = rows[::step][:table_rows]
    per_page = -(-len(shown) // pages)
    line_h = 8.5 * 600 / 72 * 1.4
    for n in range(pages):
        if n:
            writer.newPage()
        if n == 0:
            p.drawPolyline(QPolygonF([QPointF(i * 10.0, 500 + (r[9] or 0) * 5.0) for i, r in enumerate(shown)]))
        for k, r in enumerate(shown[n * per_page:(n + 1) * per_page]):
            for c in range(12):
                p.drawText(QRectF(c * 330, 2000 + k * line_h, 320, line_h), 0, str(r[c % len(r)]))
    p.end()


def _summary(store, sid: int, path: Path) -> int:
    from ketamon.core.report import build_report
    from ketamon.documents.pdf import write_pdf
    from ketamon.documents.summary import render_summary

    report = build_report(store, sid, printed_by="Bench")
    return write_pdf(path, "A4", "bench", lambda dev: render_summary(report, dev))


def _stats(samples: list[float]) -> dict:
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1), "n": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1-hour session and fewer repeats")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 5, --quick 3)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--db", help="measure on a copy of this SQLite file (e.g. bench.py's cached device "
                                     "session) instead of building one; with --session and --hours")
    parser.add_argument("--session", type=int, help="the session id in --db")
    parser.add_argument("--hours", type=float, help="how long that session is (for the table)")
    args = parser.parse_args()
    hours = args.hours or (1.0 if args.quick else 12.0)
    repeats = args.repeats or (3 if args.quick else 5)

    from ketamon.documents.pdf import ensure_app

    ensure_app()
    from ketamon.core.exporting import write_export
    from ketamon.core.report import build_report

    results: dict = {"hours": hours, "repeats": repeats,
                     "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["KETAMON_DATA_DIR"] = str(tmp)
        if args.db:  # a copy: documents record nothing, but the store opens it read-write
            import shutil

            from ketamon.core.store import Store

            shutil.copy(args.db, tmp / "documents.sqlite3")
            store, sid = Store(f"sqlite:///{tmp / 'documents.sqlite3'}"), args.session
        else:
            store, sid = _store(tmp, hours)
        report = build_report(store, sid)
        printed, _ = report.vitals_for_print()
        results["vital_sets"] = len(report.vitals)
        results["printed_rows"] = len(printed)
        del report
        pages = _summary(store, sid, tmp / "summary.pdf")  # warm-up, and the page count for the floor

        out = {}
        out["summary"] = _paired(lambda: _summary(store, sid, tmp / "summary.pdf"),
                                 lambda: floor_summary(store, sid, tmp / "floor.pdf", len(printed), pages), repeats)
        out["csv"] = _paired(lambda: write_export(store, sid, "csv", tmp / "v.csv"),
                             lambda: floor_csv(store, sid, tmp / "floor.csv"), repeats)
        out["fhir"] = _paired(lambda: write_export(store, sid, "fhir", tmp / "b.json"),
                              lambda: floor_fhir(store, sid, tmp / "floor.json"), max(1, repeats // 2))
        for key, (doc, floor) in out.items():
            d, f = _stats(doc), _stats(floor)
            results[key] = {**d, "floor": f, "ratio": round(d["median_ms"] / f["median_ms"], 1)}
        results["summary"]["pages"] = pages
        results["csv"]["bytes"] = (tmp / "v.csv").stat().st_size
        results["fhir"]["bytes"] = (tmp / "b.json").stat().st_size
        results["fhir"]["floor_bytes"] = (tmp / "floor.json").stat().st_size

        from ketamon.core.chart import forget_chart_cache

        forget_chart_cache()
        gc.collect()
        tracemalloc.start()
        write_export(store, sid, "fhir", tmp / "b.json")
        results["fhir"]["peak_python_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
        store.dispose()

    print(f"Documents of a {hours:g}-hour 1 Hz session: {results['vital_sets']} vital-sign sets, "
          f"{results['printed_rows']} printed in the summary's table ({repeats} runs, medians)")
    print(f"{'':10} {'median':>10} {'floor':>10} {'ratio':>7}")
    for key in ("summary", "csv", "fhir"):
        r = results[key]
        print(f"{key:10} {r['median_ms']:>8.0f}ms {r['floor']['median_ms']:>8.0f}ms {r['ratio']:>6.1f}×")
    print(f"summary: {results['summary']['pages']} pages; csv: {results['csv']['bytes'] / 2**20:.1f} MB; "
          f"fhir: {results['fhir']['bytes'] / 2**20:.1f} MB "
          f"(its floor {results['fhir']['floor_bytes'] / 2**20:.1f} MB), "
          f"peak Python memory while writing {results['fhir']['peak_python_mb']} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
