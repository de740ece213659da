"""Today's list across midnight: a session begun before midnight stays on the list
(and its chair watched) until it ends; one that never began does not follow into
the next day, and nothing older than the day before comes back."""
from __future__ import annotations

from datetime import datetime, timedelta

from ketamon.core import ops
from ketamon.core.chart import sessions_on


def test_a_session_in_progress_at_midnight_stays_on_todays_list(store, nurse, patient_id, actors, clock,
                                                                 ready_for_dose):
    late = clock.now().astimezone()
    midnight = datetime.combine(late.date() + timedelta(days=1), datetime.min.time()).astimezone()
    clock.set(midnight - timedelta(minutes=40))
    begun = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                               lot_number="LOT-1", physician_id=actors["physician"].user_id).result
    ready_for_dose(begun)
    ops.record_dose(store, nurse, begun, "nasal_device")
    never_begun = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                                     physician_id=actors["physician"].user_id).result
    assert {r.session_id for r in sessions_on(store)} == {begun, never_begun}

    clock.set(midnight + timedelta(minutes=20))
    assert [r.session_id for r in sessions_on(store)] == [begun]  # still dosing: still the nurse's

    clock.set(midnight + timedelta(days=1, minutes=20))
    assert sessions_on(store) == []  # the day before yesterday's is not today's


def test_the_demo_made_late_in_the_evening_lists_all_of_its_day(tmp_path):
    from ketamon.core import demo
    from ketamon.core.clock import FakeClock
    from ketamon.core.store import Store

    evening = datetime.combine(datetime(2026, 11, 20).date(), datetime.min.time()).astimezone() \
        + timedelta(hours=23, minutes=40)
    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite3'}", clock=FakeClock(evening))
    try:
        demo.seed(store)
        assert len(sessions_on(store)) == 4  # two in progress, the IM later tonight, the esketamine planned
        store.clock.set(evening + timedelta(minutes=30))  # past midnight: the two begun are still on
        assert len(sessions_on(store)) == 2
    finally:
        store.dispose()


def test_the_central_station_lists_the_same_sessions_across_midnight(store, nurse, patient_id, actors, clock,
                                                                     ready_for_dose):
    from ketamon.core.station import station_tiles

    midnight = datetime.combine(clock.now().astimezone().date() + timedelta(days=1),
                                datetime.min.time()).astimezone()
    clock.set(midnight - timedelta(minutes=40))
    begun = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                               lot_number="LOT-1", physician_id=actors["physician"].user_id).result
    ready_for_dose(begun)
    ops.record_dose(store, nurse, begun, "nasal_device")
    ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                       physician_id=actors["physician"].user_id)
    clock.set(midnight + timedelta(minutes=20))
    assert [t.session_id for t in station_tiles(store)] == [r.session_id for r in sessions_on(store)] == [begun]
