"""The central station's read model (ketamon.core.station): every chair of the day
in a fixed number of statements however many sessions and entries the clinic
holds, and each tile's figures as the chart itself has them."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from clinic_data import fill_clinic
from ketamon.core import ops
from ketamon.core.alert_views import next_due_for_sessions
from ketamon.core.chart import sessions_on
from ketamon.core.station import station_tiles


def statements(store, fn) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith("BEGIN"):  # transaction control is not a query
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_station_reads_in_the_same_few_statements_however_big_the_clinic(store, actors):
    fill_clinic(store, sessions=20, today=3, seed=11)
    small = statements(store, lambda: station_tiles(store))
    fill_clinic(store, sessions=300, today=25, seed=12)
    tiles = station_tiles(store)
    assert len(tiles) == len(sessions_on(store)) == 28
    assert statements(store, lambda: station_tiles(store)) == small == 4  # the tiles, then next-due's three


def test_a_tile_shows_the_newest_values_the_highest_alert_and_the_next_due(store, nurse, clock, infusion_session,
                                                                           ready_for_dose):
    ready_for_dose(infusion_session)
    clock.advance(minutes=2)
    ops.record_vitals(store, nurse, infusion_session, spo2=91)
    ops.record_vitals(store, nurse, infusion_session, systolic=186, diastolic=92)
    (tile,) = station_tiles(store)
    assert (tile.bp.text, tile.hr.text, tile.spo2.text) == ("186/92", "72", "91%")
    assert tile.hr.at == clock.now() - timedelta(minutes=2)  # HR from the baseline set
    assert tile.alert_priority == "high" and tile.alert_mark == "***" and not tile.alert_acknowledged
    assert tile.due == next_due_for_sessions(store, [infusion_session])[infusion_session]
    assert tile.chair is None and tile.first_dose_at is None
