"""The chart keeps a session's vital signs between loads and reads only new rows
(ketamon.core.chart._SessionVitals). These tests check that what it shows is
exactly what a load from scratch shows: corrections and retractions arriving
after the sets were read, late entries moving NEWS2, sets saved at another
workstation, rows that commit out of id order (PostgreSQL), and stores that must
never share what they keep."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from ketamon.core import chart as chart_module
from ketamon.core import ops
from ketamon.core.chart import forget_chart_cache, load_chart
from ketamon.core.clock import FakeClock
from ketamon.core.models import VitalSigns
from ketamon.core.news2 import score_series
from ketamon.core.rules import rules_for
from ketamon.core.store import Store
from tests.conftest import T0, add_user

#: a set NEWS2 can score once it has a temperature (its own or one carried from earlier)
SCORABLE = dict(systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=16, on_oxygen=False,
                consciousness="A")


def shown(chart) -> list[tuple]:
    """What a nurse can tell apart in the log and the plot: every line, in order, plus the sets in force."""
    lines = [(ln.kind, ln.entity_id, ln.text, ln.who, ln.superseded, ln.correction, ln.retracted, ln.late, ln.at,
              ln.artefact) for ln in chart.log]
    folded = [(ln.entity, ln.entity_id, ln.superseded) for ln in chart.log_without_device_readings]
    return [lines, folded, chart.device_readings, [v.id for v in chart.vitals], sorted(chart.artefact_sets)]


def from_scratch(store: Store, session_id: int):
    """The chart as a brand-new workstation would load it (its own store, nothing kept)."""
    other = Store(store.url, clock=store.clock, run_migrations=False)
    try:
        return load_chart(other, session_id, store.clock.now(), fresh=True)
    finally:
        forget_chart_cache(other)
        other.dispose()


def vitals_lines(chart) -> list[str]:
    return [ln.text for ln in chart.log if ln.kind == "vitals"]


# ---------------------------------------------------------------- corrections after the sets were read


def test_correction_after_load_strikes_the_original_and_puts_the_new_value_in_force(any_store, clock):
    store = any_store
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(store, nurse, mrn="C-1", family_name="Ng", given_name="Lan",
                             birth_date=T0.date().replace(year=1984), sex="female", weight_kg=60).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
    first = ops.record_vitals(store, nurse, sid, systolic=128, diastolic=80, heart_rate=72).result
    clock.advance(minutes=5)
    typo = ops.record_vitals(store, nurse, sid, systolic=185, diastolic=90, heart_rate=74).result
    assert [v.systolic for v in load_chart(store, sid).vitals] == [128, 185]  # the sets are now kept

    clock.advance(minutes=1)
    fixed = ops.record_vitals(store, nurse, sid, systolic=135, diastolic=90, heart_rate=74, supersedes_id=typo,
                              correction_reason="typed 185 for 135").result
    chart = load_chart(store, sid)
    assert [v.id for v in chart.vitals] == [first, fixed]
    assert [v.systolic for v in chart.vitals] == [128, 135]
    by_id = {ln.entity_id: ln for ln in chart.log if ln.kind == "vitals"}
    assert by_id[typo].superseded and "BP 185/90" in by_id[typo].text
    assert by_id[fixed].correction and by_id[fixed].reason == "typed 185 for 135" and not by_id[fixed].superseded
    assert not by_id[first].superseded
    assert shown(chart) == shown(from_scratch(store, sid))


def test_retraction_after_load_takes_the_set_out_of_force(store, nurse, esketamine_session, clock):
    wrong = ops.record_vitals(store, nurse, esketamine_session, systolic=150, diastolic=95).result
    load_chart(store, esketamine_session)
    ops.record_vitals(store, nurse, esketamine_session, measured_at=clock.now(), supersedes_id=wrong,
                      correction_reason="wrong patient", retracted=True)
    chart = load_chart(store, esketamine_session)
    assert chart.vitals == []
    texts = [(ln.text, ln.superseded, ln.retracted) for ln in chart.log if ln.kind == "vitals"]
    assert texts == [("BP 150/95 (113)", True, False), ("Entered in error", False, True)]
    assert shown(chart) == shown(from_scratch(store, esketamine_session))


# ---------------------------------------------------------------- NEWS2 depends on neighbours


def test_late_temperature_gives_the_later_set_its_news2(store, nurse, infusion_session, clock):
    sid = infusion_session
    ops.record_vitals(store, nurse, sid, **SCORABLE)
    assert vitals_lines(load_chart(store, sid)) == ["BP 120/80 (93), HR 70, SpO2 98%, RR 16, ACVPU A"]
    # the temperature taken ten minutes before is typed in afterwards
    ops.record_vitals(store, nurse, sid, temperature=36.9, measured_at=clock.now() - timedelta(minutes=10))
    chart = load_chart(store, sid)
    assert vitals_lines(chart) == ["T 36.9°C",
                                   "BP 120/80 (93), HR 70, SpO2 98%, RR 16, ACVPU A · NEWS2 0 "
                                   "(temperature from earlier set)"]
    assert shown(chart) == shown(from_scratch(store, sid))


def test_retracting_the_temperature_takes_the_carried_news2_away(store, nurse, infusion_session, clock):
    sid = infusion_session
    temp = ops.record_vitals(store, nurse, sid, temperature=38.6).result
    clock.advance(minutes=15)
    ops.record_vitals(store, nurse, sid, **SCORABLE)
    assert "NEWS2 1 (temperature from earlier set)" in vitals_lines(load_chart(store, sid))[1]
    ops.record_vitals(store, nurse, sid, measured_at=clock.now() - timedelta(minutes=15), supersedes_id=temp,
                      correction_reason="thermometer in the wrong patient", retracted=True)
    chart = load_chart(store, sid)
    assert vitals_lines(chart) == ["T 38.6°C", "Entered in error", "BP 120/80 (93), HR 70, SpO2 98%, RR 16, ACVPU A"]
    assert shown(chart) == shown(from_scratch(store, sid))


# ---------------------------------------------------------------- other workstations


def test_set_saved_at_another_workstation_shows_on_the_next_load(any_store, clock):
    store = any_store
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(store, nurse, mrn="W-1", family_name="Ng", given_name="Lan",
                             birth_date=T0.date().replace(year=1984), sex="female", weight_kg=60).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
    ops.record_vitals(store, nurse, sid, heart_rate=70)
    assert [v.heart_rate for v in load_chart(store, sid).vitals] == [70]

    chair_two = Store(store.url, clock=clock, run_migrations=False)  # the second workstation
    try:
        clock.advance(minutes=2)
        ops.record_vitals(chair_two, nurse, sid, heart_rate=88, comment="from chair two")
    finally:
        chair_two.dispose()
    chart = load_chart(store, sid)
    assert [v.heart_rate for v in chart.vitals] == [70, 88]
    assert vitals_lines(chart)[-1] == "HR 88 — from chair two"


def _direct_row(store: Store, session_id: int, row_id: int, heart_rate: int, at) -> None:
    """A set whose transaction committed late: its id is lower than ones already read."""
    with store.transaction() as db:
        db.execute(insert(VitalSigns), [dict(
            id=row_id, session_id=session_id, measured_at=at, entered_at=at, source="device",
            heart_rate=heart_rate, mean_measured=False, late=False, retracted=False)])


def test_row_committed_out_of_id_order_is_found(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    _direct_row(store, sid, 100, 70, clock.now())
    _direct_row(store, sid, 120, 71, clock.now() + timedelta(seconds=1))
    assert [v.heart_rate for v in load_chart(store, sid).vitals] == [70, 71]
    _direct_row(store, sid, 110, 99, clock.now() + timedelta(seconds=2))  # id 110 commits after 120
    assert [v.heart_rate for v in load_chart(store, sid).vitals] == [70, 71, 99]


@pytest.mark.postgres
def test_set_committed_after_a_newer_one_is_found_on_postgresql(pg_store, clock):
    """Chair one's transaction takes its id first but commits after chair two's."""
    store = pg_store
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(store, nurse, mrn="P-1", family_name="Ng", given_name="Lan",
                             birth_date=T0.date().replace(year=1984), sex="female", weight_kg=60).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
    chair_one = Store(store.url, clock=clock, run_migrations=False)
    try:
        with chair_one.transaction() as db:
            slow = VitalSigns(session_id=sid, measured_at=clock.now(), entered_at=clock.now(), source="manual",
                              heart_rate=64, mean_measured=False, late=False, retracted=False)
            db.add(slow)
            db.flush()  # the id is taken now ...
            clock.advance(seconds=5)
            newer = ops.record_vitals(store, nurse, sid, heart_rate=90).result
            assert newer > slow.id
            assert [v.heart_rate for v in load_chart(store, sid).vitals] == [90]
        # ... and the row becomes visible only here
    finally:
        chair_one.dispose()
    assert [v.heart_rate for v in load_chart(store, sid).vitals] == [64, 90]


def test_the_whole_session_is_checked_again_from_time_to_time(store, nurse, esketamine_session, clock,
                                                               monkeypatch):
    sid = esketamine_session
    _direct_row(store, sid, 5000, 70, clock.now())
    load_chart(store, sid)
    far_below = 5000 - chart_module.RECHECK_IDS - 100
    _direct_row(store, sid, far_below, 101, clock.now() + timedelta(seconds=1))
    monkeypatch.setattr(chart_module, "FULL_RECHECK_S", -1.0)  # the periodic full check is due
    assert [v.heart_rate for v in load_chart(store, sid).vitals] == [70, 101]


def test_stores_never_share_what_they_keep(sqlite_template, tmp_path):
    """Two databases whose sessions have the same id: each store shows its own."""
    heart_rates = []
    for name, hr in (("a.sqlite3", 61), ("b.sqlite3", 99)):
        shutil.copy(sqlite_template, tmp_path / name)
        s = Store(f"sqlite:///{tmp_path / name}", clock=FakeClock(T0), run_migrations=False)
        nurse = add_user(s, "nurse", "nurse")
        pid = ops.create_patient(s, nurse, mrn="S-1", family_name="A", given_name="B",
                                 birth_date=T0.date().replace(year=1980), sex="male", weight_kg=80).result
        sid = ops.create_session(s, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
        ops.record_vitals(s, nurse, sid, heart_rate=hr)
        heart_rates.append([v.heart_rate for v in load_chart(s, sid).vitals])
        s.dispose()
    assert heart_rates == [[61], [99]]


# ---------------------------------------------------------------- device readings


def test_routine_device_readings_are_counted_and_folded(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    ids = []
    for hr in (70, 71, 150):
        ids.append(ops.record_vitals(store, nurse, sid, heart_rate=hr, source="device").result)
        clock.advance(seconds=1)
    ops.record_vitals(store, nurse, sid, systolic=124, diastolic=80)
    chart = load_chart(store, sid)
    assert chart.device_readings == 3
    assert [ln.text for ln in chart.log_without_device_readings] == ["BP 124/80 (95)"]
    # a corrected device reading and its correction are never folded away
    ops.record_vitals(store, nurse, sid, heart_rate=75, source="device", supersedes_id=ids[2],
                      measured_at=chart.vitals[2].measured_at, correction_reason="probe moved")
    chart = load_chart(store, sid)
    assert chart.device_readings == 2
    assert [(ln.text, ln.superseded) for ln in chart.log_without_device_readings] == [
        ("HR 150 [device]", True), ("HR 75 [device]", False), ("BP 124/80 (95)", False)]
    assert shown(chart) == shown(from_scratch(store, sid))


def test_a_verdict_after_load_moves_the_set_out_of_force_and_back(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    hot = ops.record_vitals(store, nurse, sid, temperature=39.4, heart_rate=90, source="device",
                            measured_at=clock.now() - timedelta(minutes=3)).result
    typed = ops.record_vitals(store, nurse, sid, **SCORABLE).result
    chart = load_chart(store, sid)
    assert chart.news2[typed].carried and chart.device_readings == 1
    ops.mark_device_artefact(store, nurse, hot, "probe in the air")
    chart = load_chart(store, sid)  # the kept sets, adjusted (not read again)
    assert shown(chart) == shown(from_scratch(store, sid))
    assert [v.id for v in chart.vitals] == [typed] and typed not in chart.news2  # nothing to carry now
    assert chart.device_readings == 0  # an artefact is never folded away
    assert [ln.artefact for ln in chart.log_without_device_readings] == [True, False]
    ops.validate_device_set(store, nurse, hot)
    chart = load_chart(store, sid)
    assert shown(chart) == shown(from_scratch(store, sid)) and chart.news2[typed].carried


# ---------------------------------------------------------------- any sequence of entries

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 70), st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("correct"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("retract"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.integers(1, 40)),
    st.tuples(st.just("verdict"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("load"),),
), min_size=1, max_size=14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_any_sequence_of_entries_shows_what_a_fresh_load_shows(sqlite_template, tmp_path_factory, actions):
    path = tmp_path_factory.mktemp("seq") / "k.sqlite3"
    shutil.copy(sqlite_template, path)
    clock = FakeClock(T0)
    store = Store(f"sqlite:///{path}", clock=clock, run_migrations=False)
    try:
        nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
        pid = ops.create_patient(store, nurse, mrn="Q-1", family_name="Q", given_name="R",
                                 birth_date=T0.date().replace(year=1980), sex="female", weight_kg=70).result
        sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
        carry = rules_for(from_scratch(store, sid).protocol)["news2"]["temperature_carry_minutes"]
        clock.advance(hours=2)
        for action in actions + [("load",)]:
            if action[0] == "set":
                _, minutes_back, scorable, with_temp, device = action
                values = dict(SCORABLE) if scorable else dict(heart_rate=60 + minutes_back)
                if with_temp:
                    values["temperature"] = 36.0 + minutes_back / 20
                ops.record_vitals(store, nurse, sid, measured_at=clock.now() - timedelta(minutes=minutes_back),
                                  source="device" if device else "manual", **values)
            elif action[0] in ("correct", "retract"):
                in_force = from_scratch(store, sid).vitals  # (leaves this store's kept sets alone)
                if not in_force:
                    continue
                old = in_force[action[1] % len(in_force)]
                if action[0] == "retract":
                    ops.record_vitals(store, nurse, sid, measured_at=old.measured_at, supersedes_id=old.id,
                                      correction_reason="wrong", retracted=True)
                else:
                    values = dict(SCORABLE, temperature=37.0) if action[2] else dict(heart_rate=99)
                    ops.record_vitals(store, nurse, sid, measured_at=old.measured_at, supersedes_id=old.id,
                                      correction_reason="typo", source=old.source, **values)
            elif action[0] == "verdict":  # a nurse's verdict on a device set: artefact, or validated again
                scratch = from_scratch(store, sid)
                devices = sorted([v for v in scratch.vitals if v.source == "device"]
                                 + list(scratch.artefact_sets.values()), key=lambda v: v.id)
                if not devices:
                    continue
                target = devices[action[1] % len(devices)].id
                if action[2]:
                    ops.mark_device_artefact(store, nurse, target, "probe off")
                else:
                    ops.validate_device_set(store, nurse, target)
            elif action[0] == "wait":
                clock.advance(minutes=action[1])
            else:
                chart = load_chart(store, sid)
                assert shown(chart) == shown(from_scratch(store, sid))
                # NEWS2 beside each set is what news2.score_series gives for the sets in force
                scores = score_series(chart.vitals, carry)
                for line in chart.log:
                    if line.kind == "vitals" and not line.superseded and not line.retracted:
                        assert ("NEWS2" in line.text) == (line.entity_id in scores)
                        if line.entity_id in scores:
                            assert line.text.endswith(scores[line.entity_id].text())
    finally:
        forget_chart_cache(store)
        store.dispose()
