"""The esketamine monitoring form: exactly the fields of clinical-reference.md
section 9, filled from the record, missing ones flagged, the 7-day deadline."""
from datetime import date, timedelta

import pytest

from ketamon.core import ops
from ketamon.core.rems import (
    FIELDS,
    TemplateError,
    build_form,
    deadline_for,
    form_required,
    form_status,
    load_template,
    parse_template,
)
from records_data import chart_esketamine, full_session, predose

#: the form's fields, in the template's order (clinical-reference.md section 9)
SECTION_9 = [
    "patient_name", "birth_date", "sex",
    "benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois", "opioids",
    "monitoring_provider", "clinic", "treatment_date", "dose", "lot_number",
    "monitoring_minutes", "ready_to_leave", "vitals_acceptable_before_dosing", "vitals_acceptable_before_completion",
    "bp_before_dosing", "bp_40_minutes", "bp_before_completion",
    "sedation", "dissociation", "respiratory_depression",
]


def test_template_holds_exactly_the_forms_fields():
    t = load_template(1)
    assert t.version == 1 and t.deadline_days == 7
    assert [f.key for s in t.sections for f in s.fields] == SECTION_9
    assert set(SECTION_9) <= set(FIELDS)  # the v2 fields are in tests/test_rems_v2.py


def test_a_template_with_an_unknown_field_is_refused():
    with pytest.raises(TemplateError, match="unknown form field 'shoe_size'"):
        parse_template({"form": "x", "version": 2, "title": "X",
                        "section": [{"title": "A", "fields": [{"key": "shoe_size", "label": "Shoe size"}]}]})


def test_a_complete_session_fills_every_field(store, clock, actors, esketamine_session, monkeypatch):
    monkeypatch.setenv("KETAMON_CLINIC_NAME", "Harbour Street Clinic")
    first = full_session(store, clock, actors, esketamine_session)
    form = build_form(store, esketamine_session, template=load_template(1))  # v2: tests/test_rems_v2.py
    assert form.complete and form.missing == [] and form.warnings == []
    v = {f.key: f.value for f in form.fields}
    local = lambda minutes: (first + timedelta(minutes=minutes)).astimezone().strftime("%H:%M")  # noqa: E731
    assert v["patient_name"] == "NGUYEN, Lan" and v["birth_date"] == "12 Mar 1984" and v["sex"] == "Female"
    assert [v[k] for k in ("benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois", "opioids")] == \
        ["No"] * 5
    assert v["monitoring_provider"] == "Dr Priya Shah" and v["clinic"] == "Harbour Street Clinic"
    assert v["dose"] == "56 mg" and v["lot_number"] == "LOT-1"
    assert v["monitoring_minutes"] == "121"
    assert v["ready_to_leave"] == f"{local(85)} (85 min after first device)"
    assert v["bp_before_dosing"].startswith("128/82 mmHg")
    assert v["bp_40_minutes"] == f"166/102 mmHg at {local(40)} (40 min after first device)"
    assert v["bp_before_completion"].startswith("131/83 mmHg")
    assert v["vitals_acceptable_before_dosing"] == "Yes" and v["vitals_acceptable_before_completion"] == "Yes"
    assert v["sedation"] == "Yes" and "MOAA/S 4" in form.field("sedation").note
    assert v["dissociation"] == "Yes" and v["respiratory_depression"] == "No"
    treated = first.astimezone().date()
    assert form.treatment_date == treated and form.deadline == treated + timedelta(days=7)


def test_concomitant_medicines_come_from_the_patient_record(store, clock, nurse, actors):
    pid = ops.create_patient(store, nurse, mrn="MRN-7", family_name="Rossi", given_name="Maria",
                             birth_date=date(1992, 6, 25), sex="female",
                             concomitant_medications=["psychostimulants", "opioids"]).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-84", lot_number="L9",
                             physician_id=actors["physician"].user_id).result
    v = {f.key: f.value for f in build_form(store, sid).fields}
    assert (v["psychostimulants"], v["opioids"], v["benzodiazepines"]) == ("Yes", "Yes", "No")


def test_an_unfinished_session_flags_what_is_missing(store, clock, nurse, patient_id):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                             lot_number="LOT-2").result  # no supervising physician named
    predose(store, clock, nurse, sid)
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=20)  # 25 minutes after the first device: no 40-minute reading yet
    form = build_form(store, sid, template=load_template(1))
    missing = {f.key for f in form.missing}
    assert missing == {"monitoring_provider", "monitoring_minutes", "ready_to_leave", "bp_40_minutes",
                       "bp_before_completion", "vitals_acceptable_before_completion"}
    assert form.field("monitoring_minutes").note == "monitoring not completed (not discharged yet)"
    assert form.field("bp_40_minutes").value is None
    assert form.as_dict()["missing"] == [f.key for f in form.missing]
    assert form.as_dict()["complete"] is False


def test_stopping_early_shows_the_short_monitoring_time_as_a_warning(store, clock, nurse, esketamine_session):
    predose(store, clock, nurse, esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=45)
    ops.stop_early(store, nurse, esketamine_session, "Patient asked to stop; feeling unwell")
    f = build_form(store, esketamine_session).field("monitoring_minutes")
    assert f.value == "45" and f.warning == "less than 120 minutes"
    dose = build_form(store, esketamine_session).field("dose")
    assert dose.value == "Other: 28 mg" and dose.warning == "only 1 of 2 devices recorded"


def test_deadline_is_seven_days_after_treatment():
    assert deadline_for(date(2026, 11, 20)) == date(2026, 11, 27)
    assert deadline_for(date(2026, 12, 28)) == date(2027, 1, 4)


def test_status_for_the_sessions_list(store, clock, actors, esketamine_session, infusion_session):
    staff = actors["staff"]
    assert not form_required(store, infusion_session)
    assert form_status(store, infusion_session).text == ""
    assert form_status(store, esketamine_session).text == "Form after dosing"
    first = chart_esketamine(store, clock, actors["nurse"], esketamine_session)
    status = form_status(store, esketamine_session)
    assert status.deadline == first.astimezone().date() + timedelta(days=7)
    assert status.days_left == 7 and not status.overdue
    assert "(7 days)" in status.text and "missing" in status.text  # not discharged yet
    clock.set(first + timedelta(minutes=121))
    ops.discharge(store, actors["physician"], esketamine_session)
    clock.advance(days=8)
    status = form_status(store, esketamine_session)
    assert status.overdue and "OVERDUE" in status.text and "not printed" in status.text
    ops.record_print(store, staff, esketamine_session, "form")
    status = form_status(store, esketamine_session)
    # printed is not filed: still overdue until it is marked sent
    assert not status.done and status.overdue and status.text.startswith("Form printed ")
    assert "not sent" in status.text
    ops.mark_form_sent(store, staff, esketamine_session, "fax")
    status = form_status(store, esketamine_session)
    assert status.done and not status.overdue and status.text.startswith("Form sent ")
