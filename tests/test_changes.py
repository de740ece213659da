"""Typed change notices: a misspelt kind cannot be written, a notice survives the
trip to another workstation, and each operation sets the flags the screens
refresh from (a screen that misses its flag shows stale data)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketamon.core import ops
from ketamon.core.changes import CHART_FLAGS, FLAGS, OpChanges, this_workstation
from ketamon.core.ops.base import Changes


def test_a_misspelt_kind_raises_where_it_is_written():
    changes = OpChanges()
    with pytest.raises(TypeError, match="vital"):
        changes.mark(vital=True, session_id=1)
    with pytest.raises(TypeError):
        changes.any_of("dose")
    with pytest.raises(AttributeError):  # the loose-string spelling is gone
        changes.touch("vitals")
    assert not changes and changes.sessions == set()


def test_the_old_name_still_imports():
    assert Changes is OpChanges
    c = Changes().mark(side_effects=True, exports=True, session_id=4)
    assert c.side_effects and c.exports and c.sessions == {4}


def test_merge_and_truth():
    a = OpChanges().mark(vitals=True, session_id=1)
    b = OpChanges(message="Alerts updated").mark(alerts=True, session_id=2, patient_id=7)
    a.merge(b)
    assert a.flags == {"vitals", "alerts"} and a.sessions == {1, 2} and a.patient_ids == {7}
    assert a.message == "Alerts updated" and a.any_of("alerts", "doses") and not a.any_of("users")
    assert not OpChanges() and bool(OpChanges().mark(settings=True))


ids = st.sets(st.integers(min_value=1, max_value=2**53))


@given(flags=st.sets(st.sampled_from(FLAGS)), sessions=ids, patients=ids, message=st.text(),
       origin=st.text(min_size=1))
def test_a_notice_survives_the_trip_to_another_workstation(flags, sessions, patients, message, origin):
    sent = OpChanges(message=message, origin=origin, result=object(), initiator=object())
    sent.mark(**{f: True for f in flags})
    sent.sessions, sent.patient_ids = set(sessions), set(patients)
    got = OpChanges.from_json(sent.to_json())
    assert got.flags == frozenset(flags) and got.sessions == sessions and got.patient_ids == patients
    assert got.message == message and got.origin == origin
    assert got.result is None and got.initiator is None  # only meaningful where it ran


def test_a_notice_with_an_unknown_flag_is_refused():
    with pytest.raises(ValueError):
        OpChanges.from_json('{"flags": ["vital"], "sessions": [1]}')


def test_a_notice_says_which_workstation_made_it(store, nurse, esketamine_session):
    changes = ops.set_lot_number(store, nurse, esketamine_session, "LOT-2")
    assert changes.origin == this_workstation() and changes.is_from_here()
    assert not OpChanges.from_json(changes.to_json().replace(this_workstation(), "desk-2:1")).is_from_here()


def test_charting_sets_the_flags_the_chart_and_list_refresh_from(store, nurse, patient_id, esketamine_session,
                                                                 infusion_session, ready_for_dose):
    sid = infusion_session
    c = ops.record_vitals(store, nurse, sid, systolic=186, diastolic=92)
    assert c.vitals and c.alerts and c.sessions == {sid}
    assert not c.any_of("doses", "users", "settings", "exports")

    c = ops.acknowledge_alert(store, nurse, session_id=sid)
    assert c.alerts and c.sessions == {sid} and not c.vitals

    c = ops.add_note(store, nurse, sid, "Patient calm")
    assert c.notes and c.sessions == {sid}

    ready_for_dose(esketamine_session)
    c = ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    assert c.doses and c.lifecycle and c.sessions == {esketamine_session}  # pre-dose → dosing

    c = ops.record_side_effect(store, nurse, esketamine_session, "nausea", score=3)
    assert c.side_effects and c.sessions == {esketamine_session}

    c = ops.set_lot_number(store, nurse, esketamine_session, "LOT-9", correction_reason="box misread")
    assert c.session_details and c.doses and not c.lifecycle  # the device given is corrected too


def test_registering_sets_patient_and_session_flags(store, nurse, patient_id):
    c = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5")
    assert c.lifecycle and c.sessions == {c.result} and c.patient_ids == {patient_id}
    c = ops.update_patient(store, nurse, patient_id, weight_kg=62.0)
    assert c.patients and c.patient_ids == {patient_id} and not c.sessions


def test_limits_reach_the_patients_live_sessions(store, actors, patient_id, infusion_session):
    c = ops.set_patient_limits(store, actors["physician"], patient_id, "systolic", "abnormal", low=90, high=170,
                               reason="Known hypertension")
    assert c.limits and c.patient_ids == {patient_id} and infusion_session in c.sessions


def test_a_print_changes_nothing_a_chart_shows(store, nurse, esketamine_session):
    c = ops.record_print(store, nurse, esketamine_session, "summary")
    assert c.exports and c.sessions == {esketamine_session}
    assert not c.any_of(*CHART_FLAGS)


def test_accounts_and_clinic_settings(store, actors):
    admin = actors["admin"]
    c = ops.add_user(store, admin, username="lan", display_name="Lan Tran RN", role="nurse",
                     password="Lan-pass-2026")
    assert c.users and c.flags == {"users"}
    c = ops.set_alarm_sound(store, admin, False, reason="quiet room")
    assert c.settings and c.flags == {"settings"}
