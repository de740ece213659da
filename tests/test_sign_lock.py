"""Sign and lock through the operations layer: only the supervising physician signs,
only a complete record is signed, and after that no operation changes the session;
addenda (with author, time and reason) remain possible."""
import inspect
from datetime import timedelta

import pytest
from record_helpers import FULL_ALDRETE, to_discharged
from sqlalchemy import func, select

from ketamon.core import ops
from ketamon.core.errors import PermissionDenied, SessionLocked, ValidationError
from ketamon.core.models import (
    Addendum,
    Alert,
    Assessment,
    AuditEntry,
    DoseEvent,
    Note,
    Session,
    SideEffect,
    StateChange,
    VitalSigns,
)
from ketamon.core.record import RecordIncomplete, load_record, local_hm
from record_helpers import TEST_PASSWORD


@pytest.fixture
def discharged(store, nurse, esketamine_session, clock):
    to_discharged(store, nurse, esketamine_session, clock)
    return esketamine_session


@pytest.fixture
def signed(store, actors, discharged, clock):
    clock.advance(minutes=10)
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    return discharged


def counts(store) -> dict[str, int]:
    with store.read() as db:
        return {m.__name__: db.scalar(select(func.count()).select_from(m))
                for m in (VitalSigns, DoseEvent, SideEffect, Note, Assessment, Addendum, StateChange)}


def test_supervising_physician_signs_and_the_record_says_who_and_when(store, actors, discharged, clock):
    clock.advance(minutes=10)
    changes = ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    assert changes.message == f"Record signed by Dr Priya Shah ({local_hm(clock.now())})"
    record = load_record(store, discharged)
    assert record.signed and record.state_label == "Signed" and record.outcome == "discharged"
    assert record.signed_at == clock.now() and record.signed_by == "Dr Priya Shah"
    with store.read() as db:
        row = db.scalars(select(AuditEntry).where(AuditEntry.action == "sign")).one()
    assert row.username == "doctor" and row.session_id == discharged
    assert row.before["signed_at"] is None and row.after["signed_by_id"] == actors["physician"].user_id


def test_a_nurse_cannot_sign_and_the_refusal_is_audited(store, actors, discharged):
    with pytest.raises(PermissionDenied, match="Sam Carter RN \\(Nurse\\) may not sign session records"):
        ops.sign_session(store, actors["nurse"], discharged, TEST_PASSWORD)
    assert not load_record(store, discharged).signed
    with store.read() as db:
        last = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert last.action == "refused" and "sign_session" in last.detail and last.session_id == discharged


def test_another_physician_cannot_sign_for_the_supervising_one(store, discharged):
    from record_helpers import make_user

    other = make_user(store, "locum", "physician", "Dr Lee Locum")
    with pytest.raises(PermissionDenied, match="Only the supervising physician, Dr Priya Shah, can sign"):
        ops.sign_session(store, other, discharged, TEST_PASSWORD)
    assert not load_record(store, discharged).signed


def test_a_session_without_a_supervising_physician_is_signed_by_the_signer(store, actors, patient_id, clock):
    from record_helpers import to_discharged as walk

    sid = ops.create_session(store, actors["nurse"], patient_id=patient_id, protocol_id="esketamine-56",
                             lot_number="L1").result
    walk(store, actors["nurse"], sid, clock)
    ops.sign_session(store, actors["physician"], sid, TEST_PASSWORD)
    assert load_record(store, sid).session.physician_id == actors["physician"].user_id


def test_signing_is_refused_while_something_is_missing(store, actors, esketamine_session, clock):
    from record_helpers import to_recovery

    to_recovery(store, actors["nurse"], esketamine_session, clock)
    with pytest.raises(RecordIncomplete) as err:
        ops.sign_session(store, actors["physician"], esketamine_session, TEST_PASSWORD)
    assert err.value.missing == [
        "The patient has not been discharged (or the session stopped early or cancelled)"]
    assert str(err.value).startswith("The record cannot be signed yet. Still to do:\n• The patient")


def test_unreviewed_alerts_must_be_reviewed_before_signing(store, actors, discharged, clock):
    raised = clock.now() - timedelta(minutes=80)
    with store.transaction() as db:  # set-up: alerts as the alert rules would have raised them
        db.add_all([
            Alert(session_id=discharged, condition_key="systolic:critical", priority="high",
                  message="Systolic BP 186 mmHg (critical above 180)", raised_at=raised, cleared_at=raised),
            Alert(session_id=discharged, condition_key="nausea", priority="low", message="Nausea 7/10",
                  raised_at=raised),
            Alert(session_id=discharged, condition_key="feed", category="technical", priority="medium",
                  message="Device feed lost", raised_at=raised),
        ])
    with pytest.raises(RecordIncomplete) as err:
        ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    assert err.value.missing == [
        f"Alert not reviewed: *** Systolic BP 186 mmHg (critical above 180) ({local_hm(raised)})"]
    with store.transaction() as db:  # set-up: the physician's review (issue 4's review operation)
        alert = db.scalars(select(Alert).where(Alert.priority == "high")).one()
        alert.reviewed_at, alert.reviewed_by_id = clock.now(), actors["physician"].user_id
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    assert load_record(store, discharged).signed


def test_a_stopped_session_is_signed_with_its_outcome_kept(store, actors, esketamine_session, clock):
    from record_helpers import predose

    nurse = actors["nurse"]
    predose(store, nurse, esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=3)
    ops.stop_early(store, nurse, esketamine_session, "Patient asked to stop: distressing dissociation")
    ops.sign_session(store, actors["physician"], esketamine_session, TEST_PASSWORD)
    record = load_record(store, esketamine_session)
    assert record.signed and record.outcome == "stopped"
    assert record.session.state_reason == "Patient asked to stop: distressing dissociation"
    assert record.monitoring_minutes == 3


# ---------------------------------------------------------------- the lock

LOCKED_CALLS = {
    "record_vitals": lambda sid, ids: ((sid,), {"heart_rate": 70}),
    "record_dose": lambda sid, ids: ((sid, "nasal_device"), {}),
    "correct_dose": lambda sid, ids: ((sid, ids["dose"]), {"reason": "wrong time", "retract": True}),
    "record_side_effect": lambda sid, ids: ((sid, "nausea"), {"score": 2}),
    "add_note": lambda sid, ids: ((sid, "late note"), {}),
    "set_lot_number": lambda sid, ids: ((sid, "NEW-LOT"), {}),
    "place_session": lambda sid, ids: ((sid, "CHAIR9"), {}),
    "start_predose_checks": lambda sid, ids: ((sid,), {}),
    "record_predose_checklist": lambda sid, ids: ((sid,), {"consent": True, "correction_reason": "x"}),
    "record_phq9": lambda sid, ids: ((sid, {str(i): 1 for i in range(1, 10)}),
                                     {"supersedes_id": ids["phq9"], "correction_reason": "typo"}),
    "record_phq9_followup": lambda sid, ids: ((sid, "seen"), {}),
    "move_to_recovery": lambda sid, ids: ((sid,), {}),
    "record_discharge_assessment": lambda sid, ids: ((sid, FULL_ALDRETE), {}),
    "record_discharge_checklist": lambda sid, ids: ((sid,), {"escort_present": True, "correction_reason": "x"}),
    "discharge": lambda sid, ids: ((sid,), {}),
    "cancel_session": lambda sid, ids: ((sid, "no"), {}),
    "stop_early": lambda sid, ids: ((sid, "no"), {}),
    "sign_session": lambda sid, ids: ((sid, TEST_PASSWORD), {}),
    "acknowledge_alert": lambda sid, ids: ((), {"session_id": sid}),
    "record_predose_decision": lambda sid, ids: ((sid,), {"proceed": True, "reason": "BP rechecked"}),
    "report_technical_problem": lambda sid, ids: (("feed", "Device feed lost"), {"session_id": sid}),
}
#: operations naming a session that must keep working after signing: they change
#: nothing in its record (an addendum is added beside it; prints and exports are
#: audited; limits belong to the patient and the session only says which protocol;
#: a technical problem clearing is not part of the clinical record)
ALLOWED_AFTER_SIGNING = {"add_addendum", "record_print", "record_export", "mark_form_sent", "set_patient_limits",
                         "set_patient_limit_changes", "technical_problem_resolved"}


def session_operations() -> set[str]:
    names = set()
    for name in dir(ops):
        fn = getattr(ops, name)
        if hasattr(fn, "permission") and "session_id" in inspect.signature(fn.body).parameters:
            names.add(name)
    return names


def test_every_session_operation_is_covered_by_the_lock_test():
    """A new operation on a session must be added to LOCKED_CALLS (or be allowed after signing)."""
    assert session_operations() - ALLOWED_AFTER_SIGNING - set(LOCKED_CALLS) == set()


@pytest.mark.parametrize("name", sorted(LOCKED_CALLS))
def test_no_operation_changes_a_signed_session(store, actors, signed, name):
    with store.read() as db:
        ids = {"dose": db.scalars(select(DoseEvent.id)).first(),
               "phq9": db.scalars(select(Assessment.id).where(Assessment.kind == "phq9")).first()}
    args, kwargs = LOCKED_CALLS[name](signed, ids)
    before = counts(store)
    actor = actors["physician"]  # may do everything a nurse may, and sign
    with pytest.raises(SessionLocked, match=f"Session {signed} is signed and locked; add an addendum instead"):
        getattr(ops, name)(store, actor, *args, **kwargs)
    assert counts(store) == before
    record = load_record(store, signed)
    assert record.state == "signed" and record.session.lot_number == "LOT-1"


def test_addenda_after_signing_keep_author_time_and_reason(store, actors, signed, clock):
    clock.advance(hours=20)
    changes = ops.add_addendum(store, actors["nurse"], signed, "Patient phoned: mild headache overnight, resolved.",
                               reason="Follow-up call")
    assert changes.message == f"Addendum added ({local_hm(clock.now())})"
    (addendum,) = load_record(store, signed).addenda
    assert (addendum.text, addendum.reason, addendum.author_id, addendum.at) == (
        "Patient phoned: mild headache overnight, resolved.", "Follow-up call", actors["nurse"].user_id,
        clock.now())
    with store.read() as db:
        row = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert db.get(Session, signed).state == "signed"
    assert (row.action, row.entity, row.after["reason"]) == ("create", "addendum", "Follow-up call")


def test_addendum_needs_text_a_reason_a_signed_record_and_the_permission(store, actors, discharged, clock):
    with pytest.raises(ValidationError, match="not signed yet: add a note or a correction"):
        ops.add_addendum(store, actors["nurse"], discharged, "text", reason="why")
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    with pytest.raises(ValidationError, match="The addendum is empty"):
        ops.add_addendum(store, actors["nurse"], discharged, "  ", reason="why")
    with pytest.raises(ValidationError, match="Give the reason"):
        ops.add_addendum(store, actors["nurse"], discharged, "text", reason="")
    with pytest.raises(PermissionDenied, match="may not add an addendum"):
        ops.add_addendum(store, actors["staff"], discharged, "text", reason="why")
    assert load_record(store, discharged).addenda == []


def test_a_signed_session_can_still_be_printed_and_exported(store, actors, signed):
    ops.record_print(store, actors["staff"], signed, "summary", destination="summary.pdf")
    ops.record_export(store, actors["staff"], signed, "fhir", destination="bundle.json")
    with store.read() as db:
        actions = [r.action for r in db.scalars(select(AuditEntry).order_by(AuditEntry.id))][-2:]
    assert actions == ["print", "export"]


def test_the_demo_has_a_signed_record_and_one_waiting_for_signature(store):
    from ketamon.core.demo import seed

    ids = seed(store)
    signed, waiting = load_record(store, ids["signed"]), load_record(store, ids["to_sign"])
    assert signed.signed and signed.outcome == "discharged" and len(signed.addenda) == 1
    assert signed.monitoring_minutes >= 120 and signed.ready_to_leave_at is not None
    assert waiting.state == "discharged" and waiting.missing("sign") == []
    for live in ("esketamine", "infusion"):  # dosed in the demo: their pre-dose checks are on record
        assert load_record(store, ids[live]).missing("dose") == []
