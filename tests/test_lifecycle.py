"""The session lifecycle through the operations layer: which steps are allowed,
what the first dose and the discharge need, and exactly what the nurse is told is
missing. Time is driven by the FakeClock."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from ketamon.core import lifecycle, ops
from ketamon.core.errors import InvalidTransition, PermissionDenied, ValidationError
from ketamon.core.models import SESSION_STATES, DoseEvent, Patient, Session, StateChange
from ketamon.core.ops.base import Op
from ketamon.core.record import RecordIncomplete, load_record, local_hm

ALL_ZERO = {str(i): 0 for i in range(1, 10)}
FULL_ALDRETE = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2}
FULL_PADSS = {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "bleeding": 2}

#: written out by hand from the issue, not copied from lifecycle.TRANSITIONS
ALLOWED = {
    ("planned", "pre_dose"), ("planned", "cancelled"),
    ("pre_dose", "dosing"), ("pre_dose", "cancelled"),
    ("dosing", "monitoring"), ("dosing", "stopped"),
    ("monitoring", "recovery"), ("monitoring", "stopped"),
    ("recovery", "discharged"), ("recovery", "stopped"),
    ("discharged", "signed"), ("stopped", "signed"), ("cancelled", "signed"),
}


def set_state(store, session_id, state):
    """Test set-up only: put a session in a state without walking there."""
    with store.transaction() as db:
        db.execute(update(Session).where(Session.id == session_id).values(state=state))


def count(store, model):
    with store.read() as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("to_state", SESSION_STATES)
@pytest.mark.parametrize("from_state", SESSION_STATES)
def test_transition_table(store, nurse, esketamine_session, from_state, to_state):
    set_state(store, esketamine_session, from_state)
    with store.transaction() as db:
        op = Op(db=db, store=store, actor=nurse, now=store.clock.now())
        s = db.get(Session, esketamine_session)
        if (from_state, to_state) in ALLOWED:
            lifecycle.transition(op, s, to_state, reason="patient unwell")
            assert s.state == to_state
        else:
            with pytest.raises(InvalidTransition) as err:
                lifecycle.transition(op, s, to_state, reason="patient unwell")
            assert lifecycle.STATE_LABELS[from_state].lower() in str(err.value)
            assert s.state == from_state


@pytest.mark.parametrize("operation, state, expected", [
    (ops.cancel_session, "planned", "cancelled"),
    (ops.cancel_session, "pre_dose", "cancelled"),
    (ops.stop_early, "dosing", "stopped"),
    (ops.stop_early, "monitoring", "stopped"),
    (ops.stop_early, "recovery", "stopped"),
])
def test_ending_early_needs_a_reason_and_is_kept_in_the_history(store, nurse, esketamine_session, operation,
                                                                 state, expected):
    set_state(store, esketamine_session, state)
    with pytest.raises(ValidationError, match="Say why"):
        operation(store, nurse, esketamine_session, "  ")
    operation(store, nurse, esketamine_session, "Patient felt faint")
    record = load_record(store, esketamine_session)
    assert record.state == expected and record.session.state_reason == "Patient felt faint"
    change = record.state_changes[-1]
    assert (change.from_state, change.to_state, change.reason, change.by_id) == (
        state, expected, "Patient felt faint", nurse.user_id)


def test_cancel_after_dosing_and_stop_before_dosing_are_refused(store, nurse, esketamine_session):
    with pytest.raises(ValidationError, match="No dose has been given: cancel"):
        ops.stop_early(store, nurse, esketamine_session, "changed mind")
    set_state(store, esketamine_session, "dosing")
    with pytest.raises(ValidationError, match="Dosing has started: stop the session early"):
        ops.cancel_session(store, nurse, esketamine_session, "changed mind")


# ---------------------------------------------------------------- the first dose


def test_first_dose_is_refused_with_everything_missing_and_nothing_stored(store, nurse, esketamine_session):
    with pytest.raises(RecordIncomplete) as err:
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    assert err.value.missing == [
        "Consent to treatment not confirmed",
        "Fasting not confirmed (no food for 2 h, no liquids for 30 min)",
        "Contraindications not reviewed",
        "Concomitant medicines not reviewed",
        "PHQ-9 not recorded",
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)",
    ]
    assert str(err.value).startswith("Dosing cannot start yet. Still to record:\n• Consent to treatment")
    assert count(store, DoseEvent) == 0
    assert load_record(store, esketamine_session).state == "planned"


def test_checklist_and_phq9_start_the_pre_dose_checks_and_shrink_the_list(store, nurse, esketamine_session):
    ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, medications_reviewed=True)
    record = load_record(store, esketamine_session)
    assert record.state == "pre_dose"
    assert record.missing("dose") == [
        "Fasting not confirmed (no food for 2 h, no liquids for 30 min)",
        "Contraindications not reviewed",
        "PHQ-9 not recorded",
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)",
    ]
    ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, medications_reviewed=True,
                                 fasting=True, contraindications_reviewed=True)
    ops.record_phq9(store, nurse, esketamine_session, {**ALL_ZERO, "1": 2, "2": 3})
    ops.record_vitals(store, nurse, esketamine_session, systolic=124, diastolic=80)
    assert load_record(store, esketamine_session).missing("dose") == [
        "Baseline vital signs incomplete: heart rate and SpO2 not recorded"]
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70, spo2=98)
    assert load_record(store, esketamine_session).missing("dose") == []
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    record = load_record(store, esketamine_session)
    assert record.state == "dosing"
    assert [c.to_state for c in record.state_changes] == ["pre_dose", "dosing"]


def test_unticking_a_confirmed_item_needs_a_reason_and_keeps_the_old_checklist(store, nurse, esketamine_session):
    first = ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, fasting=True).result
    with pytest.raises(ValidationError, match="changes what was already confirmed: give a reason"):
        ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, fasting=False)
    ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, fasting=False,
                                 correction_reason="Patient had coffee 10 min ago")
    record = load_record(store, esketamine_session)
    checklist = record.predose_checklist
    assert checklist.supersedes_id == first and checklist.correction_reason == "Patient had coffee 10 min ago"
    assert checklist.items["fasting"] is False
    assert [a.id for a in record.all_assessments if a.kind == "predose_checklist"][0] == first


def test_phq9_item9_needs_a_recorded_follow_up_before_dosing(store, nurse, esketamine_session, ready_for_dose):
    ops.record_predose_checklist(store, nurse, esketamine_session, consent=True, fasting=True,
                                 contraindications_reviewed=True, medications_reviewed=True)
    changes = ops.record_phq9(store, nurse, esketamine_session, {**ALL_ZERO, "2": 3, "9": 2})
    assert changes.message == "PHQ-9 saved: 5 (mild) — item 9 needs follow-up"
    ops.record_vitals(store, nurse, esketamine_session, systolic=124, diastolic=80, heart_rate=70, spo2=98)
    with pytest.raises(RecordIncomplete) as err:
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    assert err.value.missing == ["PHQ-9 item 9 (self-harm) answered 2: follow-up not recorded"]
    with pytest.raises(ValidationError, match="Describe the follow-up"):
        ops.record_phq9_followup(store, nurse, esketamine_session, " ")
    ops.record_phq9_followup(store, nurse, esketamine_session,
                             "Seen by Dr Shah: passive thoughts, no plan; safety plan reviewed; proceed.")
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    assert load_record(store, esketamine_session).state == "dosing"


def test_a_second_phq9_is_a_correction_with_a_reason(store, nurse, esketamine_session):
    first = ops.record_phq9(store, nurse, esketamine_session, {**ALL_ZERO, "1": 1}).result
    with pytest.raises(ValidationError, match="already recorded for this session; correct it"):
        ops.record_phq9(store, nurse, esketamine_session, ALL_ZERO)
    with pytest.raises(ValidationError, match="needs a reason"):
        ops.record_phq9(store, nurse, esketamine_session, ALL_ZERO, supersedes_id=first)
    ops.record_phq9(store, nurse, esketamine_session, {**ALL_ZERO, "1": 2}, supersedes_id=first,
                    correction_reason="item 1 misread")
    record = load_record(store, esketamine_session)
    assert record.phq9.total == 2 and record.phq9.supersedes_id == first and record.phq9_band == "minimal"


def test_contraindication_review_is_a_physicians_decision_with_a_reason(store, actors, esketamine_session):
    nurse, doctor = actors["nurse"], actors["physician"]
    with store.transaction() as db:  # set-up: the patient has a contraindication on file
        db.execute(update(Patient).values(contraindications=["arteriovenous_malformation"]))
    with pytest.raises(PermissionDenied, match="may not confirm treatment despite a contraindication "
                                               r"\(Arteriovenous malformation\)"):
        ops.record_predose_checklist(store, nurse, esketamine_session, contraindications_reviewed=True)
    with pytest.raises(ValidationError, match="write the decision and its reason"):
        ops.record_predose_checklist(store, doctor, esketamine_session, contraindications_reviewed=True)
    ops.record_predose_checklist(store, doctor, esketamine_session, contraindications_reviewed=True,
                                 comment="Neurology: AVM treated 2019, cleared for esketamine")
    checklist = load_record(store, esketamine_session).predose_checklist
    assert checklist.items["contraindications"] == ["arteriovenous_malformation"]
    assert checklist.entered_by_id == doctor.user_id


# ---------------------------------------------------------------- discharge


def dose_esketamine(store, nurse, sid, clock, ready_for_dose):
    ready_for_dose(sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    first = clock.now()
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    return first


def test_discharge_lists_exactly_what_is_missing_until_it_is_complete(store, nurse, esketamine_session, clock,
                                                                      ready_for_dose):
    first = dose_esketamine(store, nurse, esketamine_session, clock, ready_for_dose)
    sid = esketamine_session
    clock.set(first + timedelta(minutes=40))
    ops.record_vitals(store, nurse, sid, systolic=150, diastolic=92, heart_rate=84, spo2=97)
    ends = local_hm(first + timedelta(minutes=120))
    assert load_record(store, sid).missing("discharge") == [
        "Session is still in monitoring: move it to recovery",
        f"Minimum monitoring time not reached: 120 min from the first device ends at {ends} (1 h 20 min to go)",
        "Modified Aldrete score not recorded (needs 9 or more)",
        "Sedation, dissociation and breathing not confirmed resolved",
        "Escort (responsible adult) not confirmed present",
        "Written discharge instructions not confirmed given",
        "Time the patient was ready to leave not recorded",
    ]
    clock.set(first + timedelta(minutes=95))
    ops.move_to_recovery(store, nurse, sid)
    ops.record_discharge_assessment(store, nurse, sid, {**FULL_ALDRETE, "consciousness": 1, "circulation": 1})
    ops.record_discharge_checklist(store, nurse, sid, escort_present=True, effects_resolved=True,
                                   ready_to_leave_at=first + timedelta(minutes=90))
    since = local_hm(first + timedelta(minutes=95))
    with pytest.raises(RecordIncomplete) as err:
        ops.discharge(store, nurse, sid)
    assert err.value.missing == [
        f"Minimum monitoring time not reached: 120 min from the first device ends at {ends} (25 min to go)",
        f"Vital signs before discharge not recorded (blood pressure, heart rate and SpO2 since recovery began at "
        f"{since})",
        f"Modified Aldrete score 8 at {since} is below 9: assess again",
        "Written discharge instructions not confirmed given",
    ]
    assert load_record(store, sid).state == "recovery"
    clock.set(first + timedelta(minutes=110))
    ops.record_vitals(store, nurse, sid, systolic=128, diastolic=80, heart_rate=72, spo2=98)
    ops.record_discharge_assessment(store, nurse, sid, FULL_ALDRETE)
    ops.record_discharge_checklist(store, nurse, sid, escort_present=True, effects_resolved=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=90))
    clock.set(first + timedelta(minutes=119, seconds=30))
    assert load_record(store, sid).missing("discharge") == [
        f"Minimum monitoring time not reached: 120 min from the first device ends at {ends} (1 min to go)"]
    clock.set(first + timedelta(minutes=120))
    assert load_record(store, sid).missing("discharge") == []
    ops.discharge(store, nurse, sid)
    record = load_record(store, sid)
    assert record.state == "discharged" and record.discharged_at == clock.now()
    assert record.ready_to_leave_at == first + timedelta(minutes=90)
    assert record.monitoring_minutes == 120
    assert record.discharge_assessment.total == 10 and len(record.discharge_assessments) == 2


def test_infusion_counts_monitoring_from_its_end_and_is_scored_with_padss(store, nurse, infusion_session, clock,
                                                                          ready_for_dose):
    sid = infusion_session
    ready_for_dose(sid)
    ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=45)
    clock.advance(minutes=40)
    ops.record_dose(store, nurse, sid, "infusion_stop")
    stop = clock.now()
    ops.move_to_recovery(store, nurse, sid)
    with pytest.raises(ValidationError, match="PADSS: unknown item circulation, consciousness"):
        ops.record_discharge_assessment(store, nurse, sid, FULL_ALDRETE)
    ops.record_discharge_assessment(store, nurse, sid, FULL_PADSS)
    ops.record_vitals(store, nurse, sid, systolic=124, diastolic=80, heart_rate=72, spo2=98)
    ops.record_discharge_checklist(store, nurse, sid, escort_present=True, effects_resolved=True,
                                   instructions_given=True, ready_to_leave_at=stop)
    clock.advance(minutes=30)
    assert load_record(store, sid).missing("discharge") == [
        f"Minimum monitoring time not reached: 60 min from the end of the infusion ends at "
        f"{local_hm(stop + timedelta(minutes=60))} (30 min to go)"]


def test_ready_to_leave_cannot_be_before_the_first_dose_or_in_the_future(store, nurse, esketamine_session, clock,
                                                                         ready_for_dose):
    first = dose_esketamine(store, nurse, esketamine_session, clock, ready_for_dose)
    clock.advance(minutes=60)
    with pytest.raises(ValidationError, match="is before the first dose"):
        ops.record_discharge_checklist(store, nurse, esketamine_session,
                                       ready_to_leave_at=first - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="in the future"):
        ops.record_discharge_checklist(store, nurse, esketamine_session,
                                       ready_to_leave_at=clock.now() + timedelta(minutes=30))
    ops.record_discharge_checklist(store, nurse, esketamine_session, ready_to_leave_at=clock.now())
    with pytest.raises(ValidationError, match="give a reason"):
        ops.record_discharge_checklist(store, nurse, esketamine_session,
                                       ready_to_leave_at=clock.now() - timedelta(minutes=5))


def test_discharge_steps_are_refused_before_dosing(store, nurse, esketamine_session):
    with pytest.raises(ValidationError, match="taken after dosing"):
        ops.record_discharge_assessment(store, nurse, esketamine_session, FULL_ALDRETE)
    with pytest.raises(InvalidTransition):
        ops.move_to_recovery(store, nurse, esketamine_session)
    with pytest.raises(RecordIncomplete) as err:
        ops.discharge(store, nurse, esketamine_session)
    assert err.value.missing[0] == "Dosing is not complete"
    assert load_record(store, esketamine_session).state == "planned"
    with store.read() as db:
        assert db.scalar(select(func.count()).select_from(StateChange)) == 0
