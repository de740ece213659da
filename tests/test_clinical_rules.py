"""The clinical rules of issue 9 point 5, each tested at its boundary, through the
operations (the same path as the screens). Numbers are from
/work/shared/docs/clinical-reference.md and resources/alarms/defaults.toml."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.errors import PermissionDenied, ValidationError
from ketamon.core.models import Alert, DoseEvent, Note
from ketamon.core.record import RecordIncomplete, load_record, missing_for

from record_helpers import FULL_ALDRETE, predose, to_recovery


def active_alerts(store, sid, key: str | None = None) -> list[Alert]:
    with store.read() as db:
        q = select(Alert).where(Alert.session_id == sid, Alert.cleared_at.is_(None))
        if key:
            q = q.where(Alert.condition_key == key)
        return list(db.scalars(q))


def all_alerts(store, sid, key: str) -> list[Alert]:
    with store.read() as db:
        return list(db.scalars(select(Alert).where(Alert.session_id == sid, Alert.condition_key == key)))


# ---------------------------------------------------------------- nasal devices: the rest


def test_device_within_the_rest_needs_a_reason_and_raises_a_deviation(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=4, seconds=59)
    with pytest.raises(ValidationError) as refused:
        ops.record_dose(store, nurse, sid, "nasal_device")
    assert "1 s remaining" in str(refused.value)
    assert not active_alerts(store, sid, "protocol_deviation")
    done = ops.record_dose(store, nurse, sid, "nasal_device", rest_override_reason="patient must leave early")
    assert "protocol deviation" in done.message
    [alert] = active_alerts(store, sid, "protocol_deviation")
    assert "1 s before the end of the 5-minute rest" in alert.message
    assert "patient must leave early" in alert.message
    ops.acknowledge_alert(store, nurse, alert.id)  # an event: acknowledged, it is done
    assert not active_alerts(store, sid, "protocol_deviation")
    with store.read() as db:
        device2 = db.get(DoseEvent, done.result)
        assert device2.device_number == 2 and "patient must leave early" in device2.comment


def test_device_at_the_end_of_the_rest_needs_no_reason(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    assert not all_alerts(store, sid, "protocol_deviation")


def test_three_devices_in_ninety_seconds_are_refused_through_the_api(store, nurse, patient_id, clock, actors):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-84",
                             lot_number="L1").result
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    for _ in range(2):
        clock.advance(seconds=45)
        with pytest.raises(ValidationError, match="remaining"):
            ops.record_dose(store, nurse, sid, "nasal_device")
    with store.read() as db:
        assert len(list(db.scalars(select(DoseEvent).where(DoseEvent.session_id == sid)))) == 1


# ---------------------------------------------------------------- infusion


def start_infusion(store, nurse, sid, ready, rate=45.75):
    ready(sid)
    return ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=rate)


def test_delivered_total_reaching_the_plan_alerts_exactly_once(store, nurse, infusion_session, ready_for_dose,
                                                               clock):
    # 61 kg x 0.5 mg/kg = 30.5 mg planned; 45.75 mg/h delivers it in exactly 40 minutes
    sid = infusion_session
    start_infusion(store, nurse, sid, ready_for_dose)
    clock.advance(minutes=39, seconds=59)
    ops.tick(store)
    assert not all_alerts(store, sid, "infusion_complete")
    clock.advance(seconds=1)
    ops.tick(store)
    [alert] = all_alerts(store, sid, "infusion_complete")
    assert "30.5 mg" in alert.message and alert.cleared_at is None
    clock.advance(minutes=5)  # left running: 63 mg of 36 was the complaint
    ops.tick(store)
    ops.record_vitals(store, nurse, sid, systolic=122, diastolic=80, heart_rate=70, spo2=98, resp_rate=14)
    assert len(all_alerts(store, sid, "infusion_complete")) == 1
    ops.record_dose(store, nurse, sid, "infusion_stop")
    assert not active_alerts(store, sid, "infusion_complete")
    assert len(all_alerts(store, sid, "infusion_complete")) == 1


def test_rate_at_the_maximum_is_accepted_above_needs_a_physician(store, nurse, infusion_session, ready_for_dose,
                                                                  actors):
    # 1.125 mg/kg/h x 61 kg = 68.6 mg/h
    sid = infusion_session
    start_infusion(store, nurse, sid, ready_for_dose, rate=68.6)
    with pytest.raises(PermissionDenied, match="a physician must confirm"):
        ops.record_dose(store, nurse, sid, "infusion_rate", rate_mg_per_h=68.7)
    with pytest.raises(PermissionDenied, match="a physician must confirm"):
        ops.record_dose(store, nurse, sid, "infusion_rate", rate_mg_per_h=200, confirm_reason="typo?")
    doctor = actors["physician"]
    with pytest.raises(ValidationError, match="confirm it with a reason"):
        ops.record_dose(store, doctor, sid, "infusion_rate", rate_mg_per_h=68.7)
    done = ops.record_dose(store, doctor, sid, "infusion_rate", rate_mg_per_h=68.7,
                           confirm_reason="tolerating well, shorter infusion agreed")
    assert "confirmed by Dr Priya Shah" in done.message
    with store.read() as db:
        assert "shorter infusion agreed" in db.get(DoseEvent, done.result).comment


def test_planned_dose_outside_the_mg_per_kg_range_needs_a_physician(store, nurse, actors):
    pid = ops.create_patient(store, nurse, mrn="W72", family_name="Weigh", given_name="Ty",
                             birth_date=date(1980, 1, 1), sex="male", weight_kg=72.0).result
    with pytest.raises(PermissionDenied, match="a physician must confirm"):
        ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", planned_dose_mg=100)
    # 0.75 mg/kg x 72 kg = 54 mg: the top of the range is accepted
    ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", planned_dose_mg=54)
    with pytest.raises(PermissionDenied):
        ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", planned_dose_mg=54.1)
    doctor = actors["physician"]
    done = ops.create_session(store, doctor, patient_id=pid, protocol_id="iv-ketamine-0.5", planned_dose_mg=100,
                              confirm_reason="prescriber's order after review")
    assert "confirmed" in done.message
    with store.read() as db:
        [note] = db.scalars(select(Note).where(Note.session_id == done.result))
        assert "1.39 mg/kg" in note.text and "prescriber's order after review" in note.text


def test_a_capped_dose_says_it_was_capped(store, nurse):
    pid = ops.create_patient(store, nurse, mrn="W130", family_name="Big", given_name="Al",
                             birth_date=date(1980, 1, 1), sex="male", weight_kg=130.0).result
    done = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5")
    assert "capped at the protocol's maximum 60 mg" in done.message
    assert "65 mg" in done.message
    pid2 = ops.create_patient(store, nurse, mrn="W100", family_name="Even", given_name="Al",
                              birth_date=date(1980, 1, 1), sex="male", weight_kg=120.0).result
    assert "capped" not in ops.create_session(store, nurse, patient_id=pid2,
                                              protocol_id="iv-ketamine-0.5").message


# ---------------------------------------------------------------- esketamine first session


def test_a_first_esketamine_session_at_84_mg_warns(store, nurse, patient_id):
    first = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-84", lot_number="L")
    assert "First esketamine session at 84 mg" in first.message
    assert "56 mg" in first.message


def test_the_first_device_of_a_first_84_mg_session_raises_the_warning_until_acknowledged(store, nurse,
                                                                                         patient_id):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-84",
                             lot_number="L").result
    predose(store, nurse, sid)
    done = ops.record_dose(store, nurse, sid, "nasal_device")
    assert "First esketamine session at 84 mg" in done.message
    [alert] = active_alerts(store, sid, "first_session_dose")
    assert alert.priority == "medium" and "56 mg" in alert.message
    ops.acknowledge_alert(store, nurse, alert.id)
    assert not active_alerts(store, sid, "first_session_dose")


def test_84_mg_after_an_earlier_esketamine_session_does_not_warn(store, nurse, patient_id, esketamine_session):
    later = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-84", lot_number="L")
    assert "First esketamine" not in later.message


def test_56_mg_first_session_does_not_warn(store, nurse, patient_id):
    first = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56", lot_number="L")
    assert "First esketamine" not in first.message


# ---------------------------------------------------------------- discharge


def ready_to_discharge(store, nurse, sid, clock):
    first = to_recovery(store, nurse, sid, clock)
    ops.record_vitals(store, nurse, sid, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)
    ops.record_discharge_assessment(store, nurse, sid, FULL_ALDRETE)
    ops.record_discharge_checklist(store, nurse, sid, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=95))
    clock.set(first + timedelta(minutes=125))
    return first


def discharge_missing(store, sid) -> list[str]:
    return missing_for(load_record(store, sid), "discharge")


@pytest.mark.parametrize("kind, score, blocker", [
    ("nausea", 8, "Last nausea score 8/10"), ("nausea", 7, "Last nausea score 7/10"),
    ("sedation", 4, "Last MOAA/S 4"),
])
def test_discharge_is_refused_while_the_patient_is_not_fit(store, nurse, esketamine_session, clock, kind, score,
                                                          blocker):
    sid = esketamine_session
    ready_to_discharge(store, nurse, sid, clock)
    ops.record_side_effect(store, nurse, sid, kind, score=score)
    ops.acknowledge_alert(store, nurse, session_id=sid)
    assert any(blocker in m for m in discharge_missing(store, sid))
    with pytest.raises(RecordIncomplete) as refused:
        ops.discharge(store, nurse, sid)
    assert any(blocker in m for m in refused.value.missing)
    clock.advance(minutes=5)
    ops.record_side_effect(store, nurse, sid, kind, score=6 if kind == "nausea" else 5)
    assert discharge_missing(store, sid) == []
    ops.discharge(store, nurse, sid)


def test_discharge_is_refused_while_a_high_alert_is_unacknowledged(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    ready_to_discharge(store, nurse, sid, clock)
    ops.record_side_effect(store, nurse, sid, "respiratory_depression", text="shallow breathing")
    [alert] = active_alerts(store, sid, "resp_depression")
    assert alert.priority == "high"
    missing = discharge_missing(store, sid)
    assert any(m.startswith("Alert not acknowledged: ***") for m in missing)
    with pytest.raises(RecordIncomplete):
        ops.discharge(store, nurse, sid)
    ops.acknowledge_alert(store, nurse, alert.id)
    assert discharge_missing(store, sid) == []
    ops.discharge(store, nurse, sid)


def test_a_low_alert_does_not_block_discharge(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    ready_to_discharge(store, nurse, sid, clock)
    ops.record_vitals(store, nurse, sid, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14,
                      temperature=38.5)  # above the abnormal limit: a low alert
    assert [a.priority for a in active_alerts(store, sid)] == ["low"]
    assert discharge_missing(store, sid) == []


# ---------------------------------------------------------------- NEWS2 with a parameter missing

NORMAL = dict(systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=16, on_oxygen=False, consciousness="A")


def news2_alerts(store, sid):
    return [(a.rule, a.priority, a.cleared_at is None) for a in all_alerts(store, sid, "news2")]


def test_a_partial_news2_that_reaches_a_trigger_raises(store, nurse, infusion_session):
    sid = infusion_session
    # no temperature: oxygen 2 + voice 3 = 5 already, whatever the temperature would add
    ops.record_vitals(store, nurse, sid, **{**NORMAL, "on_oxygen": True, "consciousness": "V"})
    [alert] = active_alerts(store, sid, "news2")
    assert (alert.rule, alert.priority) == ("news2_urgent", "medium")
    assert alert.message.startswith("NEWS2 at least 5 (temperature missing)")


def test_a_partial_news2_one_below_the_trigger_raises_nothing(store, nurse, infusion_session):
    sid = infusion_session
    # oxygen 2 + SpO2 94 (1) + pulse 95 (1) = 4, one below the urgent total
    ops.record_vitals(store, nurse, sid, **{**NORMAL, "on_oxygen": True, "spo2": 94, "heart_rate": 95})
    assert news2_alerts(store, sid) == []


def test_a_news2_alert_is_not_left_sounding_after_normal_sets_without_temperature(store, nurse, infusion_session,
                                                                                  clock):
    sid = infusion_session
    ops.record_vitals(store, nurse, sid, **NORMAL, temperature=36.8)
    clock.advance(minutes=5)
    ops.record_vitals(store, nurse, sid, **{**NORMAL, "on_oxygen": True, "consciousness": "V"}, temperature=36.8)
    assert news2_alerts(store, sid) == [("news2_urgent", "medium", True)]
    clock.advance(minutes=61)  # the temperature is too old to stand in
    ops.record_vitals(store, nurse, sid, **NORMAL)
    assert news2_alerts(store, sid) == [("news2_urgent", "medium", False), ("news2_not_assessable", "low", True)]
    [now] = active_alerts(store, sid, "news2")
    assert now.message.startswith("NEWS2 not assessable: temperature missing")
    clock.advance(minutes=5)
    ops.record_vitals(store, nurse, sid, **NORMAL, temperature=36.9)  # complete and normal: clears
    assert not active_alerts(store, sid, "news2")


# ---------------------------------------------------------------- BP text keeps the rise over baseline


def test_the_bp_alert_keeps_the_rise_over_baseline_when_a_range_limit_is_crossed(store, nurse, esketamine_session,
                                                                                 clock):
    sid = esketamine_session
    predose(store, nurse, sid)  # baseline 124/80
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=10)
    ops.record_vitals(store, nurse, sid, systolic=156, diastolic=85, heart_rate=80, spo2=98, resp_rate=14)
    [alert] = active_alerts(store, sid, "bp_high")  # +32 systolic: the rise alone, inside every range
    assert alert.rule == "rise_over_baseline" and "+32/+5 mmHg from the pre-dose 124/80" in alert.message
    clock.advance(minutes=5)
    ops.record_vitals(store, nurse, sid, systolic=185, diastolic=95, heart_rate=80, spo2=98, resp_rate=14)
    [alert] = active_alerts(store, sid, "bp_high")
    assert alert.rule == "range_critical"
    assert "above the critical limit" in alert.message
    assert "+61/+15 mmHg from the pre-dose 124/80" in alert.message


# ---------------------------------------------------------------- close monitoring every 5 minutes


def due_keys(store, sid):
    from ketamon.core import schedule
    from ketamon.core.chart import load_chart

    return {i.key: i for i in schedule.chart_due_items(load_chart(store, sid))}


def overdue_alerts(store, sid):
    return sorted(a.condition_key for a in active_alerts(store, sid) if a.condition_key.startswith("overdue:"))


def test_after_moaas_2_vitals_fall_due_every_5_minutes_until_resolved(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=3)
    ops.record_side_effect(store, nurse, sid, "sedation", score=3)
    assert "close_monitoring" not in due_keys(store, sid)  # MOAA/S 3 is above the limit
    ops.record_side_effect(store, nurse, sid, "sedation", score=2)
    sedated = clock.now()
    item = due_keys(store, sid)["close_monitoring"]
    assert item.due_at == sedated + timedelta(minutes=5)
    assert item.overdue_at == sedated + timedelta(minutes=7)  # the protocol's 2-minute grace
    clock.set(sedated + timedelta(minutes=6, seconds=59))
    ops.tick(store)
    assert overdue_alerts(store, sid) == []
    clock.set(sedated + timedelta(minutes=7))
    ops.tick(store)
    assert overdue_alerts(store, sid) == ["overdue:close_monitoring"]
    ops.record_vitals(store, nurse, sid, systolic=128, diastolic=82, heart_rate=76, spo2=97, resp_rate=14)
    assert overdue_alerts(store, sid) == []  # the set meets it; the next is due 5 min after it
    assert due_keys(store, sid)["close_monitoring"].due_at == sedated + timedelta(minutes=12)
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, sid, "sedation", score=4)  # resolved: back to the protocol's schedule
    assert "close_monitoring" not in due_keys(store, sid)
    clock.advance(minutes=10)
    ops.tick(store)
    assert overdue_alerts(store, sid) == []


def test_spo2_below_the_critical_limit_needs_sets_every_5_minutes(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=6)
    ops.record_vitals(store, nurse, sid, heart_rate=80, spo2=92)  # at the critical limit 92: not below
    assert "close_monitoring" not in due_keys(store, sid)
    ops.record_vitals(store, nurse, sid, heart_rate=80, spo2=91)
    assert due_keys(store, sid)["close_monitoring"].due_at == clock.now() + timedelta(minutes=5)
    clock.advance(minutes=1)
    ops.record_vitals(store, nurse, sid, heart_rate=80, spo2=96)
    assert "close_monitoring" not in due_keys(store, sid)


def test_observed_respiratory_depression_needs_sets_until_breathing_is_back(store, nurse, esketamine_session, clock):
    sid = esketamine_session
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=6)
    ops.record_side_effect(store, nurse, sid, "respiratory_depression", text="shallow breathing")
    assert "close_monitoring" in due_keys(store, sid)
    clock.advance(minutes=1)
    ops.record_vitals(store, nurse, sid, spo2=97, resp_rate=12)
    assert "close_monitoring" not in due_keys(store, sid)


# ---------------------------------------------------------------- device sets with an artefact


def test_a_device_set_with_hr_0_keeps_its_bp_and_records_the_artefact(store, nurse, infusion_session):
    from ketamon.core.models import VitalSigns

    sid = infusion_session
    done = ops.record_vitals(store, nurse, sid, systolic=128, diastolic=82, heart_rate=0, spo2=97, source="device")
    with store.read() as db:
        v = db.get(VitalSigns, done.result)
        assert (v.systolic, v.diastolic, v.heart_rate, v.spo2) == (128, 82, None, 97)
        assert v.comment.startswith("Artefact: heart_rate 0:") and "not possible" in v.comment
    assert "artefact not charted: heart_rate 0" in done.message


def test_a_typed_set_with_hr_0_is_still_refused_whole(store, nurse, infusion_session):
    with pytest.raises(ValidationError, match="not possible"):
        ops.record_vitals(store, nurse, infusion_session, systolic=128, diastolic=82, heart_rate=0)


def test_a_device_bp_with_one_impossible_half_drops_the_pair(store, nurse, infusion_session):
    from ketamon.core.models import VitalSigns

    done = ops.record_vitals(store, nurse, infusion_session, systolic=128, diastolic=0, heart_rate=70,
                             source="device")
    with store.read() as db:
        v = db.get(VitalSigns, done.result)
        assert (v.systolic, v.diastolic, v.mean_arterial, v.heart_rate) == (None, None, None, 70)
        assert "diastolic 0" in v.comment and "systolic 128: the other BP value was an artefact" in v.comment


def test_a_device_set_with_nothing_valid_is_refused(store, nurse, infusion_session):
    with pytest.raises(ValidationError, match="Every value of the device set is impossible"):
        ops.record_vitals(store, nurse, infusion_session, heart_rate=0, spo2=0, source="device")


# ---------------------------------------------------------------- properties of the pure rules

from types import SimpleNamespace  # noqa: E402

from hypothesis import given, strategies as st  # noqa: E402

from ketamon.core import dosing, news2  # noqa: E402

VALUES = dict(resp_rate=st.integers(2, 60), spo2=st.integers(50, 100), on_oxygen=st.booleans(),
              systolic=st.integers(40, 300), heart_rate=st.integers(20, 250), consciousness=st.sampled_from("ACVPU"),
              temperature=st.floats(30.0, 43.0))


@given(full=st.fixed_dictionaries(VALUES), missing=st.sets(st.sampled_from(news2.PARTS), max_size=6))
def test_a_partial_news2_never_exceeds_the_full_score(full, missing):
    """A missing value can only add: the partial score is a lower bound, so a
    partial score at a trigger means the full one is at or above it too."""
    complete = news2.score(**full)
    partial = news2.partial(SimpleNamespace(**{k: (None if k in missing else v) for k, v in full.items()}))
    assert partial.total <= complete.total
    assert set(partial.missing) == set(missing)


T0_FOR_REST = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@given(gap=st.integers(0, 900))
def test_the_rest_left_is_exact_to_the_second(gap):
    first = SimpleNamespace(kind="nasal_device", at=T0_FOR_REST, amount_mg=28, rate_mg_per_h=None, device_number=1)
    left = dosing.rest_seconds_left([first], 5, T0_FOR_REST + timedelta(seconds=gap))
    assert left == max(300 - gap, 0)

