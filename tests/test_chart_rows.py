"""The chart holds a session's vital signs as stored rows and makes a set's
event-log line only when it is shown (ketamon.core.chart). Whatever the path a
set took (a routine monitor reading, a manual set, a correction, a retraction, a
set saved after the chart was first read), it must be in the log exactly once,
the folded log must keep everything but the routine readings, and the sets in
force must be the chart's vitals."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from ketamon.core import ops
from ketamon.core.chart import describe_vitals, forget_chart_cache, load_chart
from ketamon.core.models import VitalSigns
from ketamon.core.store import Store
from tests.conftest import T0, add_user

DEVICE_SETS = 1200


def add_device_sets(store: Store, session_id: int, start, n: int, entered_by: int | None = None) -> None:
    """`n` monitor sets a second apart, written straight to the table (as many as a
    feed sends, without the seconds the operations would take)."""
    rows = [dict(session_id=session_id, measured_at=start + timedelta(seconds=i),
                 entered_at=start + timedelta(seconds=i), entered_by_id=entered_by, source="device",
                 heart_rate=60 + i % 40, spo2=90 + i % 10, resp_rate=12 + i % 6, mean_measured=False, late=False,
                 retracted=False) for i in range(n)]
    with store.transaction() as db:
        db.execute(insert(VitalSigns), rows)


def stored(store: Store, session_id: int) -> list[VitalSigns]:
    with store.read() as db:
        rows = list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == session_id)
                               .order_by(VitalSigns.id)))
        db.expunge_all()
        return rows


def check_complete(store: Store, session_id: int, whole: bool = True) -> None:
    """The chart's folded log and vitals, and (`whole`) its whole log, against the
    stored rows themselves. (The whole log's lines, once asked for, are kept and
    then followed set by set: without `whole`, what is kept stays folded.)"""
    chart = load_chart(store, session_id)
    rows = stored(store, session_id)
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    routine = {r.id for r in rows if r.source == "device" and r.supersedes_id is None and not r.retracted
               and r.id not in replaced}
    in_force = {r.id for r in rows if not r.retracted and r.id not in replaced}
    folded = [line.entity_id for line in chart.log_without_device_readings if line.kind == "vitals"]
    assert sorted(folded) == sorted({r.id for r in rows} - routine)
    assert chart.device_readings == len(routine)
    assert [v.id for v in chart.vitals] == [r.id for r in sorted((r for r in rows if r.id in in_force),
                                                                  key=lambda r: (r.measured_at, r.entered_at, r.id))]
    if not whole:
        return
    vital_lines = [line for line in chart.log if line.kind == "vitals"]
    assert sorted(line.entity_id for line in vital_lines) == sorted(r.id for r in rows)  # each set once
    by_id = {r.id: r for r in rows}
    for line in vital_lines:
        row = by_id[line.entity_id]
        assert line.superseded == (row.id in replaced) and line.device == (row.source == "device")
        if not row.retracted:
            assert line.text.startswith(describe_vitals(row))  # the text made late says what the row holds


def test_every_stored_set_is_in_the_log_once_and_the_folded_log_keeps_all_but_routine_readings(
        any_store, clock):
    store = any_store
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(store, nurse, mrn="R-1", family_name="Ng", given_name="Lan",
                             birth_date=T0.date().replace(year=1984), sex="female", weight_kg=60).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    start = clock.now()
    add_device_sets(store, sid, start, DEVICE_SETS, nurse.user_id)
    clock.advance(seconds=DEVICE_SETS + 5)
    typo = ops.record_vitals(store, nurse, sid, systolic=185, diastolic=80, heart_rate=70).result
    check_complete(store, sid, whole=False)  # every set read at once

    # then, one by one after the chart was read: a correction of a device set, a
    # retraction of the manual one, a manual set and more device sets
    device = stored(store, sid)[100]
    ops.record_vitals(store, nurse, sid, measured_at=device.measured_at, heart_rate=66, spo2=97, source="device",
                      supersedes_id=device.id, correction_reason="probe slipped")
    with store.read() as db:
        typo_at = db.get(VitalSigns, typo).measured_at
    ops.record_vitals(store, nurse, sid, measured_at=typo_at, supersedes_id=typo, retracted=True,
                      correction_reason="wrong chair")
    clock.advance(seconds=10)
    ops.record_vitals(store, nurse, sid, systolic=128, diastolic=82, heart_rate=71)
    add_device_sets(store, sid, clock.now() + timedelta(seconds=1), 30, nurse.user_id)
    clock.advance(seconds=40)
    check_complete(store, sid, whole=False)  # read set by set, the log folded
    check_complete(store, sid)
    ops.record_vitals(store, nurse, sid, systolic=131, diastolic=84, heart_rate=72)
    add_device_sets(store, sid, clock.now() + timedelta(seconds=1), 10, nurse.user_id)
    clock.advance(seconds=20)
    check_complete(store, sid)  # read set by set, the whole log kept

    forget_chart_cache(store, sid)  # and the same read from nothing
    check_complete(store, sid)


def test_a_chart_asked_for_its_whole_log_later_shows_the_sets_of_its_own_load(store, nurse, clock,
                                                                              esketamine_session):
    """The routine readings' lines are made when the log is first asked for whole;
    a chart asked after newer sets were read still shows what it loaded, and the
    lines kept afterwards follow every new set."""
    sid = esketamine_session
    add_device_sets(store, sid, clock.now(), 50, nurse.user_id)
    clock.advance(seconds=60)
    older = load_chart(store, sid)
    add_device_sets(store, sid, clock.now(), 5, nurse.user_id)
    clock.advance(seconds=10)
    newer = load_chart(store, sid)
    assert len([ln for ln in older.log if ln.kind == "vitals"]) == 50  # not the 5 read after it
    assert len([ln for ln in newer.log if ln.kind == "vitals"]) == 55
    add_device_sets(store, sid, clock.now(), 3, nurse.user_id)
    clock.advance(seconds=5)
    latest = load_chart(store, sid)  # the whole log was made once: now kept up to date, set by set
    assert [ln.entity_id for ln in latest.log if ln.kind == "vitals"] == \
           [v.id for v in stored(store, sid)]
    assert latest.device_readings == 58 and latest.log_without_device_readings == []
