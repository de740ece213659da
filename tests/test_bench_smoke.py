"""The benchmark's pieces at a tiny size, so `make bench` cannot rot unnoticed:
"drawn" must mean the plot's viewport really painted, the SQL counter must see
the save, the generated clinic must be one the screens can read and whose audit
chain holds, and the chairs' stall probe must run. Seconds, not minutes; the
figures themselves are not judged here (the benchmark reports, never asserts)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench  # noqa: E402
import clinic_db  # noqa: E402

from ketamon.core import audit  # noqa: E402
from ketamon.core.store import Store  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "CACHE_DIR", tmp_path / "cache")
    return tmp_path


def test_each_enter_is_timed_until_the_plot_viewport_has_painted(qapp, cache, monkeypatch):
    monkeypatch.setattr(bench, "ENTRY_PAUSE_S", 0.05)  # the event loop runs between two Enters (1.1 s in the bench)
    path, meta, cached = bench.cached_sqlite("manual", lambda p: bench.build_manual(p, 0.25))
    assert not cached and path.exists()
    report = bench.Report()
    bench.measure_entry(report, cache, "tiny manual", path, meta, repeats=2)
    entry, burst, heap, db_floor, draw_floor = report.rows
    # the heap freeze's leak is counted: settles were made, and what they froze is known
    # (not more after than before: frozen objects still die by reference counting)
    assert heap["rounds"] >= 3 and heap["frozen_after"] > 0 and heap["frozen_before"] > 0 and heap["garbage"] >= 0
    assert entry["n"] == 2 and burst["n"] == 2, entry["notes"]  # both Enters were saved and drawn, paced and not
    assert entry["paints_per_save"] >= 1
    assert entry["sql_per_save"] > 0 and entry["transactions_per_save"] >= 1
    assert entry["floor_ms"] > 0 and entry["ratio"] is not None
    assert entry["floor_parts"]["paints_min"] >= 1  # the floor's repaint paints too
    assert db_floor["n"] >= 10 and draw_floor["n"] >= 10
    assert "tiny manual" in report.table()


def test_the_generated_clinic_is_read_by_the_screens_and_its_audit_chain_holds(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    try:
        counts = clinic_db.generate(store, 60, seed=1)
        assert counts["sessions"] == 60 and counts["vital_signs"] > 60 * 5 and counts["alerts"] > 0
        with store.read() as db:
            result = audit.verify(db)
        assert result.ok and result.rows == counts["audit_log"], result.problem
        now = store.clock.now()
        assert bench.screen_today_list(store, now)  # a few sessions are today
        bench.screen_alert_tick(store, now)
        bench.screen_review_queue(store, now)
        bench.screen_records_search(store, now, text="")
        # arbitrary sessions opened in the assembled window, each drawn; the chart the
        # window builds ahead after each draw (its plot, then its other widgets: two turns)
        # and the full collection after charts are closed are timed too
        report = bench.Report()
        sql = bench.SqlCounter(store.engine)
        bench.measure_open_any(report, store, sql, "tiny", 3)
        sql.close()
        opened, *turns, collection = report.rows
        assert opened["n"] == 3 and [turn["n"] for turn in turns] == [5, 5], opened["notes"]
        assert all(turn["median_ms"] > 0 for turn in turns)
        assert collection["n"] == 3 and collection["median_ms"] > 0 and "charts kept" in collection["notes"]
    finally:
        store.dispose()


def test_the_stall_probe_runs_with_chairs_fed_through_the_operations(qapp, cache):
    report = bench.Report()
    bench.measure_chairs(report, cache, chairs=1, minutes=0.1, seconds=1.5)
    (row,) = report.rows
    assert row["longest_stall_ms"] is not None and row["n"] > 10, row["notes"]
    assert "sets saved" in row["notes"] and not row["notes"].startswith("not measured")
    # the sets reached the open chart through the database, as the listener process's do
    assert row["sets_saved"] >= 1 and row["drawn_in_open_chart"] == row["sets_saved"]


def test_opening_the_long_session_is_timed_first_and_with_its_sets_read_before(qapp, cache):
    path, meta, _ = bench.cached_sqlite("device", lambda p: bench.build_device(p, 60 / 3600))
    report = bench.Report()
    bench.measure_open(report, cache, "tiny device", path, meta, repeats=1)
    warm, first = report.rows
    assert "sets read before" in warm["measure"] and "first open" in first["measure"]
    assert warm["n"] == 1 and first["n"] == 1, (warm["notes"], first["notes"])  # both drawn
    assert "SQL" in first["notes"] and not first["notes"].startswith("not measured")
