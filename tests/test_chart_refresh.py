"""A chart refreshed after a notice (ketamon.core.chart.refresh_chart) shows
exactly what a load from scratch shows. A notice of vital signs only keeps the
rest of the chart and reads the new sets: a set saved at another workstation
appears, a correction of an old set replaces its value, an entry in error takes
it out, an alert raised by the set is read; any other notice reloads everything."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketamon.core import ops
from ketamon.core.changes import OpChanges
from ketamon.core.chart import forget_chart_cache, load_chart, refresh_chart
from ketamon.core.clock import FakeClock
from ketamon.core.store import Store
from tests.conftest import T0, add_user
from tests.test_chart_cache import SCORABLE, from_scratch, shown


def heard(changes: OpChanges) -> OpChanges:
    """A notice as another workstation hears it (through JSON, as the live listener carries it)."""
    return OpChanges.from_json(changes.to_json())


@pytest.fixture
def chair_two(any_store, clock):
    """The other workstation: its own store on the same database."""
    other = Store(any_store.url, clock=clock, run_migrations=False)
    yield other
    forget_chart_cache(other)
    other.dispose()


@pytest.fixture
def session(any_store):
    nurse = add_user(any_store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(any_store, nurse, mrn="R-1", family_name="Ng", given_name="Lan",
                             birth_date=T0.date().replace(year=1984), sex="female", weight_kg=60).result
    sid = ops.create_session(any_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    return nurse, sid


def test_a_set_from_another_workstation_appears_and_the_rest_is_kept(any_store, chair_two, session, clock):
    nurse, sid = session
    ops.add_note(any_store, nurse, sid, "Calm, talking")
    ops.record_vitals(any_store, nurse, sid, systolic=122, diastolic=78, heart_rate=70)
    before = load_chart(any_store, sid)
    clock.advance(minutes=1)
    changes = ops.record_vitals(chair_two, nurse, sid, heart_rate=91, source="device")
    after = refresh_chart(any_store, before, heard(changes))
    assert [v.heart_rate for v in after.vitals] == [70, 91]
    assert after.notes is before.notes and after.session is before.session  # kept, not read again
    assert [ln.text for ln in after.log] == ["BP 122/78 (93), HR 70", "Note: Calm, talking", "HR 91 [device]"]
    assert shown(after) == shown(from_scratch(any_store, sid))


def test_a_correction_of_an_old_set_arriving_as_a_notice_replaces_its_value(any_store, chair_two, session, clock):
    nurse, sid = session
    old = ops.record_vitals(any_store, nurse, sid, systolic=185, diastolic=90).result
    for minute in range(3):
        clock.advance(minutes=1)
        ops.record_vitals(any_store, nurse, sid, systolic=130 + minute, diastolic=80)
    before = load_chart(any_store, sid)
    assert before.vitals[0].systolic == 185
    changes = ops.record_vitals(chair_two, nurse, sid, systolic=135, diastolic=90, supersedes_id=old,
                                measured_at=before.vitals[0].measured_at, correction_reason="typed 185 for 135")
    after = refresh_chart(any_store, before, heard(changes))
    assert [v.systolic for v in after.vitals] == [135, 130, 131, 132]
    struck = [ln for ln in after.log if ln.entity_id == old]
    assert struck and struck[0].superseded
    assert shown(after) == shown(from_scratch(any_store, sid))


def test_an_entry_in_error_arriving_as_a_notice_takes_the_set_out(any_store, chair_two, session, clock):
    nurse, sid = session
    wrong = ops.record_vitals(any_store, nurse, sid, heart_rate=140).result
    before = load_chart(any_store, sid)
    changes = ops.record_vitals(chair_two, nurse, sid, measured_at=clock.now(), supersedes_id=wrong,
                                correction_reason="wrong patient", retracted=True)
    after = refresh_chart(any_store, before, heard(changes))
    assert after.vitals == [] and shown(after) == shown(from_scratch(any_store, sid))


def test_an_alert_the_set_raised_is_read_with_it(any_store, chair_two, session, clock):
    nurse, sid = session
    before = load_chart(any_store, sid)
    changes = ops.record_vitals(chair_two, nurse, sid, systolic=186, diastolic=92)
    assert changes.alerts
    after = refresh_chart(any_store, before, heard(changes))
    assert [a.id for a in after.alerts] == [a.id for a in from_scratch(any_store, sid).alerts] != []


def test_a_set_entered_by_someone_new_says_who(any_store, chair_two, session, clock):
    nurse, sid = session
    before = load_chart(any_store, sid)
    newcomer = add_user(chair_two, "ada", "nurse", "Ada Lovelace RN")  # an account made after the chart was loaded
    changes = ops.record_vitals(chair_two, newcomer, sid, heart_rate=80)
    after = refresh_chart(any_store, before, heard(changes))
    assert [ln.who for ln in after.log] == ["Ada Lovelace RN"]
    assert shown(after) == shown(from_scratch(any_store, sid))


def test_a_notice_of_anything_else_reloads_the_whole_chart(any_store, chair_two, session, clock):
    nurse, sid = session
    before = load_chart(any_store, sid)
    changes = ops.add_note(chair_two, nurse, sid, "Nauseous")
    after = refresh_chart(any_store, before, heard(changes))
    assert [n.text for n in after.notes] == ["Nauseous"]
    assert shown(after) == shown(from_scratch(any_store, sid))
    # and without a notice (anything may have changed) too
    ops.add_note(chair_two, nurse, sid, "Better")
    assert [n.text for n in refresh_chart(any_store, after).notes] == ["Nauseous", "Better"]


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 70), st.booleans(), st.booleans()),
    st.tuples(st.just("correct"), st.integers(0, 50)),
    st.tuples(st.just("retract"), st.integers(0, 50)),
    st.tuples(st.just("verdict"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("note"),),
    st.tuples(st.just("wait"), st.integers(1, 40)),
    st.tuples(st.just("refresh"),),
), min_size=1, max_size=14)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_refreshing_after_each_notice_shows_what_a_fresh_load_shows(sqlite_template, tmp_path_factory, actions):
    """Entries saved at another workstation, their notices gathered as the window
    gathers them (merged), the chart refreshed at random moments."""
    path = tmp_path_factory.mktemp("refresh") / "k.sqlite3"
    shutil.copy(sqlite_template, path)
    clock = FakeClock(T0)
    store = Store(f"sqlite:///{path}", clock=clock, run_migrations=False)
    other = Store(f"sqlite:///{path}", clock=clock, run_migrations=False)
    try:
        nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
        pid = ops.create_patient(store, nurse, mrn="Q-1", family_name="Q", given_name="R",
                                 birth_date=T0.date().replace(year=1980), sex="female", weight_kg=70).result
        sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
        clock.advance(hours=2)
        chart = load_chart(store, sid)
        pending: OpChanges | None = None
        for action in actions + [("refresh",)]:
            changes = None
            if action[0] == "set":
                _, minutes_back, scorable, device = action
                values = dict(SCORABLE, temperature=36.8) if scorable else dict(heart_rate=60 + minutes_back)
                when = clock.now() - timedelta(minutes=minutes_back)
                changes = ops.record_vitals(other, nurse, sid, measured_at=when,
                                            source="device" if device else "manual", **values)
            elif action[0] in ("correct", "retract"):
                in_force = from_scratch(store, sid).vitals
                if not in_force:
                    continue
                old = in_force[action[1] % len(in_force)]
                extra = dict(retracted=True) if action[0] == "retract" else dict(heart_rate=99, source=old.source)
                changes = ops.record_vitals(other, nurse, sid, measured_at=old.measured_at, supersedes_id=old.id,
                                            correction_reason="wrong", **extra)
            elif action[0] == "verdict":  # the nurse's artefact (out of force) or validation (back in)
                fresh = from_scratch(store, sid)
                device = [v for v in fresh.vitals if v.source == "device"] + sorted(
                    fresh.artefact_sets.values(), key=lambda v: v.id)
                if not device:
                    continue
                vid = device[action[1] % len(device)].id
                changes = (ops.mark_device_artefact(other, nurse, vid, "patient moving") if action[2]
                           else ops.validate_device_set(other, nurse, vid))
            elif action[0] == "note":
                changes = ops.add_note(other, nurse, sid, "A note")
            elif action[0] == "wait":
                clock.advance(minutes=action[1])
            else:
                chart = refresh_chart(store, chart, pending) if pending is not None else chart
                pending = None
                assert shown(chart) == shown(from_scratch(store, sid))
            if changes is not None:
                pending = heard(changes) if pending is None else pending.merge(heard(changes))
    finally:
        forget_chart_cache(store)
        forget_chart_cache(other)
        store.dispose()
        other.dispose()
