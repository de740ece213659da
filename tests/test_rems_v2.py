"""The esketamine monitoring form as the REMS asks for it since 31 Dec 2024
(template v2), its filing as recorded facts (form_filings), and the form refused
for sessions that are not esketamine (clinical-reference.md section 9)."""
from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from clinic_data import fill_clinic
from ketamon.core import ops
from ketamon.core.errors import ValidationError
from ketamon.core.models import AuditEntry, FormFiling, Session
from ketamon.core.ops import exports
from ketamon.core.rems import (
    FormNotApplicable,
    build_form,
    form_status,
    _versions_in,
    form_statuses,
    forms_to_file,
    load_template,
)
from ketamon.documents import pdf
from records_data import chart_esketamine, full_session, predose
from test_clinic_scale import count

#: what the REMS update of 31 Dec 2024 added to the form
NEW_IN_V2 = {"rems_enrolment", "first_treatment", "pulse_oximetry", "serious_adverse_event"}


def pdf_text(path) -> str:
    return " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())


def filings(store, session_id):
    with store.read() as db:
        return [(f.action, f.template_version, f.how, f.by_id, f.reference) for f in db.scalars(
            select(FormFiling).where(FormFiling.session_id == session_id).order_by(FormFiling.id))]


def test_v2_asks_the_current_fields_and_keeps_what_v1_asked():
    v1, v2 = load_template(1), load_template(2)
    keys1 = [f.key for s in v1.sections for f in s.fields]
    keys2 = [f.key for s in v2.sections for f in s.fields]
    assert set(keys2) == set(keys1) | NEW_IN_V2
    assert {"opioids", "respiratory_depression"} <= set(keys2)
    assert v2.version_text == "Form template v2 (REMS update 2024-12-31)" and v2.deadline_days == 7
    assert load_template().version == 2  # new sessions get the current form


def test_v2_fills_what_the_record_holds_and_flags_the_rest_missing(qapp, store, clock, actors, nurse, tmp_path):
    pid = ops.create_patient(store, nurse, mrn="MRN-9", family_name="Rossi", given_name="Maria",
                             birth_date=date(1992, 6, 25), sex="female", concomitant_medications=["opioids"]).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="LOT-1",
                             physician_id=actors["physician"].user_id).result
    full_session(store, clock, actors, sid)
    form = build_form(store, sid)
    assert form.template.version == 2
    assert {f.key for f in form.missing} == {"rems_enrolment", "first_treatment", "serious_adverse_event"}
    assert form.field("first_treatment").note == "no earlier treatment recorded in ketamon: confirm with the patient"
    assert form.field("opioids").value == "Yes"
    assert form.field("pulse_oximetry").value.startswith("Yes: ")
    assert form.field("respiratory_depression").value == "No"
    out = tmp_path / "form.pdf"
    pdf.write_form_pdf(store, actors["staff"], sid, out)
    text = pdf_text(out)
    assert "Form template v2 (REMS update 2024-12-31)" in text
    assert "3 fields MISSING" in text and "Patient enrolled in the SPRAVATO® REMS" in text
    assert "Pulse oximetry (SpO2) checked during monitoring" in text


def test_a_second_treatment_is_answered_from_the_earlier_session(store, clock, actors, nurse, patient_id):
    first_sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                                   lot_number="L1").result
    first = chart_esketamine(store, clock, nurse, first_sid)
    clock.advance(days=3)
    second = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                                lot_number="L2").result
    answer = build_form(store, second).field("first_treatment")
    assert answer.value == "No" and answer.note == f"earlier treatment on {first.astimezone():%d %b %Y}"


def test_a_session_filed_under_v1_keeps_printing_v1(qapp, store, clock, actors, esketamine_session, tmp_path):
    full_session(store, clock, actors, esketamine_session)
    with store.transaction() as db:  # its form was printed before v2 existed (as the migration converts it)
        db.add(FormFiling(session_id=esketamine_session, template_version=1, action="printed", how="paper",
                          by_id=actors["staff"].user_id, at=clock.now() - timedelta(days=1), reference=""))
    assert build_form(store, esketamine_session).template.version == 1
    out = tmp_path / "again.pdf"
    pdf.write_form_pdf(store, actors["staff"], esketamine_session, out)
    text = pdf_text(out)
    assert "Form template v1" in text and "REMS update" not in text and "Pulse oximetry" not in text
    assert "All fields are filled from the session record." in text
    ops.mark_form_sent(store, actors["staff"], esketamine_session, "fax")
    assert [f[:2] for f in filings(store, esketamine_session)] == [("printed", 1), ("printed", 1), ("sent", 1)]
    assert form_status(store, esketamine_session).version == 1
    # a session never filed takes the current form
    other = ops.create_session(store, actors["nurse"], patient_id=_patient_of(store, esketamine_session),
                               protocol_id="esketamine-84").result
    assert build_form(store, other).template.version == 2


def _patient_of(store, session_id):
    with store.read() as db:
        return db.get(Session, session_id).patient_id


def test_print_export_and_sending_are_recorded_and_drive_the_status(qapp, store, clock, actors,
                                                                    esketamine_session, tmp_path, monkeypatch):
    staff, nurse = actors["staff"], actors["nurse"]
    first = chart_esketamine(store, clock, nurse, esketamine_session)
    assert form_statuses(store, [esketamine_session])[esketamine_session].state == "not printed"
    pdf.write_form_pdf(store, staff, esketamine_session, tmp_path / "f.pdf")
    ops.record_export(store, nurse, esketamine_session, "form", destination="/tmp/form.json")
    ops.record_print(store, staff, esketamine_session, "summary")  # not the form: no filing
    assert filings(store, esketamine_session) == [
        ("printed", 2, str(tmp_path / "f.pdf"), staff.user_id, ""),
        ("exported", 2, "/tmp/form.json", nurse.user_id, "")]
    status = form_statuses(store, [esketamine_session])[esketamine_session]
    assert status.state == "printed, not sent" and not status.done
    assert status.deadline == first.astimezone().date() + timedelta(days=7)

    with pytest.raises(ValidationError, match="Say how the form was sent"):
        ops.mark_form_sent(store, staff, esketamine_session, "  ")
    clock.advance(days=2)
    changes = ops.mark_form_sent(store, staff, esketamine_session, "REMS portal", "SUB-4471")
    assert changes.exports and changes.touches(esketamine_session)
    status = form_status(store, esketamine_session)
    assert status.done and status.sent_how == "REMS portal" and status.sent_reference == "SUB-4471"
    assert status.text.startswith("Form sent ") and status.text.endswith("by REMS portal")
    with store.read() as db:
        (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "form_sent"))
    assert entry.username == "desk" and "SUB-4471" in entry.detail
    # the status is the filing rows': renaming the audit trail's words changes nothing
    monkeypatch.setitem(exports.PRINTS, "form", "REMS form (renamed)")
    monkeypatch.setitem(exports.EXPORTS, "form", "REMS data (renamed)")
    assert form_status(store, esketamine_session) == status


def test_the_form_is_refused_for_a_session_that_is_not_esketamine(qapp, store, actors, infusion_session, tmp_path):
    sentence = (f"Session {infusion_session} is IV ketamine; the SPRAVATO® REMS monitoring form applies only to "
                "esketamine sessions.")
    out = tmp_path / "form.pdf"
    with pytest.raises(FormNotApplicable) as refused:
        pdf.write_form_pdf(store, actors["staff"], infusion_session, out)
    assert str(refused.value) == sentence and not out.exists()
    for call in (lambda: ops.record_export(store, actors["staff"], infusion_session, "form"),
                 lambda: ops.mark_form_sent(store, actors["staff"], infusion_session, "fax"),
                 lambda: build_form(store, infusion_session)):
        with pytest.raises(FormNotApplicable, match="applies only to esketamine sessions"):
            call()
    assert filings(store, infusion_session) == []
    with store.read() as db:
        assert not db.scalars(select(AuditEntry).where(AuditEntry.action.in_(("print", "export")))).all()
    ops.record_print(store, actors["staff"], infusion_session, "summary")  # the summary is still printed


def test_form_status_costs_the_same_for_10_or_100_sessions(store, actors):
    ten = fill_clinic(store, sessions=10, today=0, seed=11)["past"]
    for sid in ten[:3]:
        ops.record_print(store, actors["staff"], sid, "form")
    ops.mark_form_sent(store, actors["staff"], ten[0], "fax")
    small = count(store, lambda: form_statuses(store, ten))
    small_queue = count(store, lambda: forms_to_file(store))
    hundred = ten + fill_clinic(store, sessions=90, today=0, seed=12)["past"]
    for sid in hundred[50:60]:
        ops.record_print(store, actors["staff"], sid, "form")
    statuses = form_statuses(store, hundred)
    assert len(statuses) == 100 and sum(s.state == "printed, not sent" for s in statuses.values()) == 12
    assert count(store, lambda: form_statuses(store, hundred)) == small <= 4
    # nor the files: the shipped templates' folder is read once, not once per row
    # (it was a third of a Records search over two years)
    _versions_in.cache_clear()
    form_statuses(store, hundred)
    form_statuses(store, ten)
    assert _versions_in.cache_info().misses == 1
    assert count(store, lambda: forms_to_file(store)) == small_queue <= 6
    assert len(forms_to_file(store)) == 99  # every dosed session but the one sent


def test_a_form_is_not_sent_before_the_treatment(store, actors, esketamine_session):
    with pytest.raises(ValidationError, match=f"Session {esketamine_session} has no esketamine device recorded"):
        ops.mark_form_sent(store, actors["staff"], esketamine_session, "fax")
    assert filings(store, esketamine_session) == []


def test_forms_to_file_due_soonest_first(store, clock, actors, nurse, patient_id):
    sids = [ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                               lot_number="L").result for _ in range(3)]
    base = clock.now()
    for sid, days_ago in zip(sids, (2, 9, 5)):
        clock.set(base - timedelta(days=days_ago))
        predose(store, clock, nurse, sid)
        ops.record_dose(store, nurse, sid, "nasal_device")
    clock.set(base)
    queue = forms_to_file(store)
    assert [s.session_id for s in queue] == [sids[1], sids[2], sids[0]]
    assert [s.overdue for s in queue] == [True, False, False]
    ops.mark_form_sent(store, actors["staff"], sids[1], "fax")
    assert [s.session_id for s in forms_to_file(store)] == [sids[2], sids[0]]


def test_old_audited_prints_become_filings_in_the_migration(any_store, clock):
    """The data migration parses the old audit text once: old records keep their status
    (on SQLite and PostgreSQL)."""
    from alembic import command
    from alembic.config import Config

    from ketamon.core.store import MIGRATIONS_DIR
    from ketamon.migrations import HEAD
    from tests.conftest import add_user

    store = any_store
    nurse, staff = add_user(store, "nurse", "nurse"), add_user(store, "desk", "staff")
    pid = ops.create_patient(store, nurse, mrn="M-1", family_name="Old", given_name="Record",
                             birth_date=date(1980, 1, 1), sex="female", weight_kg=64).result
    esk = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
    iv = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    chart_esketamine(store, clock, nurse, esk)
    ops.record_print(store, staff, esk, "form", destination="/clinic/forms/1.pdf")
    ops.record_export(store, nurse, esk, "form")
    ops.record_print(store, staff, esk, "summary")
    ops.record_export(store, staff, iv, "csv")
    before = filings(store, esk)
    with store.transaction() as db:  # as an old database: the prints only in the audit trail
        db.execute(delete(FormFiling))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "cfe312e9f448")
        command.upgrade(cfg, HEAD)
    with store.read() as db:
        rows = db.scalars(select(FormFiling).order_by(FormFiling.id)).all()
        audit_ids = db.scalars(select(AuditEntry.id).where(AuditEntry.action.in_(("print", "export")))
                               .order_by(AuditEntry.id)).all()
    assert [(r.action, r.template_version, r.how, r.by_id) for r in rows] == [
        (a, 1, h, b) for a, _v, h, b, _r in before]
    assert [r.reference for r in rows] == [f"audit entry #{audit_ids[0]}", f"audit entry #{audit_ids[1]}"]
    status = form_statuses(store, [esk])[esk]
    assert status.state == "printed, not sent" and status.version == 1
    assert status.printed_at is not None and status.printed_at.tzinfo is not None
