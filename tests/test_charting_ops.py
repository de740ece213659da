"""The charting operations, headless: what a nurse enters is stored as entered,
impossible values are refused with a reason, nothing is overwritten."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ketamon.core import ops
from ketamon.core.chart import load_chart
from ketamon.core.errors import ValidationError
from ketamon.core.models import AuditEntry, VitalSigns


def count_vitals(store):
    with store.read() as db:
        return db.scalar(select(func.count()).select_from(VitalSigns))


def test_vitals_are_stored_with_who_and_when(store, nurse, esketamine_session, clock):
    changes = ops.record_vitals(store, nurse, esketamine_session, systolic=132, diastolic=84, heart_rate=76,
                                spo2=98, resp_rate=14)
    assert changes.sessions == {esketamine_session} and changes.vitals
    assert "Vital signs saved" in changes.message
    chart = load_chart(store, esketamine_session)
    (v,) = chart.vitals
    assert (v.systolic, v.diastolic, v.heart_rate, v.spo2, v.resp_rate) == (132, 84, 76, 98, 14)
    assert v.mean_arterial == 100 and v.mean_measured is False  # derived, and marked so
    assert v.temperature is None  # not measured: empty, never invented
    assert v.measured_at == clock.now() and v.entered_at == clock.now()
    assert v.entered_by_id == nurse.user_id and not v.late


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("systolic", 400, ["Systolic BP 400 mmHg", "40–300"]),
        ("spo2", 140, ["SpO2 140 %", "50–100"]),
        ("heart_rate", 0, ["Heart rate 0 /min", "20–250"]),
        ("temperature", 48.0, ["Temperature 48", "30–43"]),
    ],
)
def test_impossible_value_is_refused_with_field_value_and_range(store, nurse, esketamine_session, field, value,
                                                                 words):
    kwargs = {field: value}
    if field == "systolic":
        kwargs["diastolic"] = 80
    with pytest.raises(ValidationError) as err:
        ops.record_vitals(store, nurse, esketamine_session, **kwargs)
    for w in words:
        assert w in str(err.value)
    assert err.value.field == field
    assert count_vitals(store) == 0


def test_measured_in_the_future_is_refused(store, nurse, esketamine_session, clock):
    with pytest.raises(ValidationError, match="in the future"):
        ops.record_vitals(store, nurse, esketamine_session, heart_rate=80,
                          measured_at=clock.now() + timedelta(minutes=10))
    assert count_vitals(store) == 0


def test_earlier_measurement_is_labelled_late(store, nurse, esketamine_session, clock):
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=80, measured_at=clock.now() - timedelta(minutes=20))
    (v,) = load_chart(store, esketamine_session).vitals
    assert v.late and v.measured_at == clock.now() - timedelta(minutes=20)


def test_unusual_value_is_accepted(store, nurse, esketamine_session):
    ops.record_vitals(store, nurse, esketamine_session, systolic=210, diastolic=125)
    assert count_vitals(store) == 1


def test_correction_supersedes_and_keeps_the_original(store, nurse, esketamine_session):
    first = ops.record_vitals(store, nurse, esketamine_session, systolic=185, diastolic=90).result
    with pytest.raises(ValidationError, match="reason"):
        ops.record_vitals(store, nurse, esketamine_session, systolic=135, diastolic=90, supersedes_id=first)
    ops.record_vitals(store, nurse, esketamine_session, systolic=135, diastolic=90, supersedes_id=first,
                      correction_reason="typo: 185 for 135")
    chart = load_chart(store, esketamine_session)
    assert [v.systolic for v in chart.vitals] == [135]
    assert count_vitals(store) == 2
    superseded = [line for line in chart.log if line.superseded]
    assert len(superseded) == 1 and "185" in superseded[0].text
    with pytest.raises(ValidationError, match="already been corrected"):
        ops.record_vitals(store, nurse, esketamine_session, systolic=136, diastolic=90, supersedes_id=first,
                          correction_reason="again")


def test_every_change_is_audited(store, nurse, esketamine_session):
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70)
    with store.read() as db:
        rows = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [r.action for r in rows][-1] == "create"
    assert rows[-1].entity == "vital_signs" and rows[-1].username == "nurse"
    assert rows[-1].after["heart_rate"] == 70


def test_nasal_devices_are_numbered_and_move_the_session_on(store, nurse, esketamine_session, clock,
                                                           ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    chart = load_chart(store, esketamine_session)
    assert chart.session.state == "dosing" and chart.devices_given == 1
    clock.advance(minutes=2)
    assert load_chart(store, esketamine_session).rest_remaining == timedelta(minutes=3)
    clock.advance(minutes=3)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    chart = load_chart(store, esketamine_session)
    assert [d.device_number for d in chart.doses] == [1, 2]
    assert chart.session.state == "monitoring" and chart.given_mg == 56
    with pytest.raises(ValidationError, match="All 2 devices"):
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")


def test_infusion_total_is_derived_from_its_events(store, nurse, infusion_session, clock, ready_for_dose):
    ready_for_dose(infusion_session)
    chart = load_chart(store, infusion_session)
    assert chart.session.planned_dose_mg == 30.5 and chart.session.dose_weight_kg == 61.0
    with pytest.raises(ValidationError, match="Cannot pause"):
        ops.record_dose(store, nurse, infusion_session, "infusion_pause")
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=60)
    clock.advance(minutes=10)
    ops.record_dose(store, nurse, infusion_session, "infusion_pause")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, infusion_session, "infusion_resume")
    clock.advance(minutes=10)
    ops.record_dose(store, nurse, infusion_session, "infusion_rate", rate_mg_per_h=30)
    clock.advance(minutes=20)
    ops.record_dose(store, nurse, infusion_session, "infusion_stop")
    clock.advance(minutes=30)
    chart = load_chart(store, infusion_session)
    # 60 mg/h × 20 min running + 30 mg/h × 20 min = 20 + 10
    assert chart.infusion.delivered_mg == 30.0 and chart.infusion.state == "stopped"
    assert chart.session.state == "monitoring"


def test_im_dose_is_never_prefilled(store, nurse, patient_id, ready_for_dose):
    with pytest.raises(ValidationError, match="prescriber"):
        ops.create_session(store, nurse, patient_id=patient_id, protocol_id="im-ketamine")
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="im-ketamine",
                             planned_dose_mg=35).result
    ready_for_dose(sid)
    ops.record_dose(store, nurse, sid, "im_injection", site="left deltoid")
    chart = load_chart(store, sid)
    assert chart.given_mg == 35 and chart.session.state == "monitoring"


def test_side_effects_and_scales(store, nurse, esketamine_session):
    ops.record_side_effect(store, nurse, esketamine_session, "sedation", score=3)
    ops.record_side_effect(store, nurse, esketamine_session, "dissociation",
                           items={"1": 2, "2": 1, "6": 0, "7": 3, "15": 1, "22": 0})
    with pytest.raises(ValidationError, match="outside its scale"):
        ops.record_side_effect(store, nurse, esketamine_session, "nausea", score=11)
    chart = load_chart(store, esketamine_session)
    assert [(e.kind, e.scale, e.score) for e in chart.side_effects] == [
        ("sedation", "MOAA/S", 3), ("dissociation", "CADSS-6", 7)]
