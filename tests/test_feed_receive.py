"""The headless receiver (issue 11, points 1–3): one HL7 v2 message in, its
acknowledgement out; what a nurse would see in the record and in the technical
alerts afterwards."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.errors import PermissionDenied, ValidationError
from ketamon.core.models import Alert, AuditEntry, VitalSigns
from ketamon.core.permissions import SYSTEM
from tests.conftest import T0, add_user
from tests.feed_corpus import FULL_SET, UCUM_SET, errors, message, msa


@pytest.fixture
def at_chair(store, nurse, infusion_session) -> int:
    ops.place_session(store, nurse, infusion_session, "chair3")
    return infusion_session


def device_sets(store, session_id: int) -> list[VitalSigns]:
    with store.read() as db:
        return list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == session_id,
                                                        VitalSigns.source == "device").order_by(VitalSigns.id)))


def technical(store) -> list[Alert]:
    with store.read() as db:
        return list(db.scalars(select(Alert).where(Alert.category == "technical", Alert.cleared_at.is_(None))))


def test_a_full_set_is_stored_as_one_device_set_and_accepted(store, at_chair):
    ack = ops.receive_device_message(store, message(obx_time=T0 - timedelta(seconds=5)))
    assert msa(ack)[:3] == ["MSA", "CA", "MSG1"]
    [v] = device_sets(store, at_chair)
    assert (v.systolic, v.diastolic, v.mean_arterial, v.heart_rate, v.spo2, v.resp_rate) == (128, 82, 97, 74, 97, 14)
    assert v.mean_measured and v.comment is None
    assert v.measured_at == T0 - timedelta(seconds=5)  # OBX-14, not OBR-7


def test_ucum_units_give_the_same_values(store, at_chair):
    assert msa(ops.receive_device_message(store, message(UCUM_SET)))[1] == "CA"
    [v] = device_sets(store, at_chair)
    assert (v.systolic, v.diastolic, v.heart_rate, v.spo2, v.resp_rate) == (128, 82, 74, 97, 14)


def test_a_pressure_in_kpa_is_converted_to_mmhg(store, at_chair):
    kpa = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "16", "265987^MDC_DIM_KILO_PASCAL^MDC"),
           ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "10.7", "kPa^^UCUM")]
    assert msa(ops.receive_device_message(store, message(kpa)))[1] == "CA"
    [v] = device_sets(store, at_chair)
    assert (v.systolic, v.diastolic) == (120, 80)


def test_the_group_time_and_then_the_message_time_are_used_when_obx14_is_missing(store, at_chair):
    ops.receive_device_message(store, message(obr_time=T0 - timedelta(seconds=20), control_id="A"))
    ops.receive_device_message(store, message(obr_time=None, sent=T0 - timedelta(seconds=10), control_id="B"))
    assert [v.measured_at for v in device_sets(store, at_chair)] == [T0 - timedelta(seconds=20),
                                                                     T0 - timedelta(seconds=10)]


def test_original_mode_when_the_sender_asks_for_no_accept_acknowledgement(store, at_chair):
    assert msa(ops.receive_device_message(store, message(enhanced=False)))[1] == "AA"
    assert msa(ops.receive_device_message(store, message(enhanced=False, obr=False)))[1] == "AR"


def test_the_code_decides_never_the_display_text(store, at_chair):
    mislabelled = [("150456^MDC_PRESS_BLD_NONINV_SYS^MDC", "96", "262688^MDC_DIM_PERCENT^MDC")]
    assert msa(ops.receive_device_message(store, message(mislabelled)))[1] == "CA"
    [v] = device_sets(store, at_chair)
    assert (v.spo2, v.systolic) == (96, None)


def test_an_impossible_value_is_refused_as_an_artefact_and_the_others_kept(store, at_chair):
    rows = [r if not r[0].startswith("147842") else (r[0], "400", r[2]) for r in FULL_SET]
    ack = ops.receive_device_message(store, message(rows))
    code, _, text = msa(ack)[1:4]
    assert code == "CE" and "heart_rate 400" in text and errors(ack) == ["102"]
    [v] = device_sets(store, at_chair)
    assert v.heart_rate is None and (v.systolic, v.spo2, v.resp_rate) == (128, 97, 14)
    assert "Artefact" in v.comment and "400" in v.comment


def test_a_unit_that_does_not_measure_the_value_is_an_artefact(store, at_chair):
    rows = [r if not r[0].startswith("150456") else (r[0], "97", "266016^MDC_DIM_MMHG^MDC") for r in FULL_SET]
    ack = ops.receive_device_message(store, message(rows))
    assert msa(ack)[1] == "CE" and "does not measure spo2" in msa(ack)[3]
    [v] = device_sets(store, at_chair)
    assert v.spo2 is None and v.heart_rate == 74 and "does not measure spo2" in v.comment


def test_a_message_without_obr_is_refused_whole_with_its_reason(store, at_chair):
    ack = ops.receive_device_message(store, message(obr=False))
    assert msa(ack)[1] == "CR" and "without an OBR" in msa(ack)[3] and errors(ack) == ["100"]
    assert device_sets(store, at_chair) == []
    [alert] = technical(store)
    assert alert.condition_key == "tech:feed:refused:CHAIR3" and "without an OBR" in alert.message


@pytest.mark.parametrize("raw", [b"", b"garbage", b"MSH|", b"\x00\xff" * 40, b"PID|||MRN-1\rOBX|1|NM|1"])
def test_garbage_is_rejected_and_raises_one_technical_alert(store, at_chair, raw):
    ack = ops.receive_device_message(store, raw)
    assert msa(ack)[1] == "AR" and "not an HL7" in msa(ack)[3]
    ops.receive_device_message(store, raw)
    [alert] = technical(store)
    assert alert.session_id is None and "not an HL7" in alert.message
    assert device_sets(store, at_chair) == []


def test_another_patients_data_stores_nothing_and_says_so(store, at_chair):
    ack = ops.receive_device_message(store, message(patient="MRN-999"))
    assert msa(ack)[1] == "CR" and errors(ack) == ["204"] and "MRN-999" not in ack.decode()
    assert device_sets(store, at_chair) == []
    [alert] = technical(store)
    assert alert.session_id == at_chair and "another patient" in alert.message


def test_no_session_at_the_chair_stores_nothing_and_raises_a_session_less_alert(store, at_chair):
    ack = ops.receive_device_message(store, message(chair="CHAIR9"))
    assert msa(ack)[1] == "CR"
    [alert] = technical(store)
    assert alert.session_id is None and alert.message.startswith(
        "Messages from CHAIR9 refused: 1 since 09:00 — Monitor data for CHAIR9 but no session there")


def test_data_arriving_again_resolves_the_chairs_feed_alerts(store, nurse, infusion_session):
    ops.receive_device_message(store, message())  # no session at CHAIR3 yet
    assert len(technical(store)) == 1
    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    assert msa(ops.receive_device_message(store, message()))[1] == "CA"
    assert technical(store) == []


def test_a_monitor_registered_to_a_chair_routes_a_message_without_pv1(store, actors, at_chair):
    ops.register_monitor(store, actors["admin"], "MON-7", "chair3")
    assert msa(ops.receive_device_message(store, message(chair=None)))[1] == "CA"
    assert len(device_sets(store, at_chair)) == 1
    ack = ops.receive_device_message(store, message(chair=None, monitor="MON-UNKNOWN"))
    assert msa(ack)[1] == "CR" and "not registered to a chair" in msa(ack)[3]


def test_a_message_sent_twice_is_stored_once(store, at_chair):
    ops.receive_device_message(store, message())
    assert msa(ops.receive_device_message(store, message()))[1] == "CA"
    assert len(device_sets(store, at_chair)) == 1


def test_refusals_are_audited_without_the_patients_identifier(store, at_chair):
    ops.receive_device_message(store, message(patient="MRN-999"))
    with store.read() as db:
        refused = [e.detail for e in db.scalars(select(AuditEntry).where(AuditEntry.action == "refused"))]
    assert any("store_device_message" in d and "another patient" in d for d in refused)
    assert not any("MRN-999" in d for d in refused)


def test_only_the_feed_may_store_monitor_data(store, nurse, at_chair):
    with pytest.raises(PermissionDenied):
        ops.store_device_message(store, nurse, message())
    ack = ops.receive_device_message(store, message(), actor=nurse)
    assert msa(ack)[1] == "CR" and device_sets(store, at_chair) == []
    feed = add_user(store, "feed", "service", "Monitor feed")
    assert msa(ops.receive_device_message(store, message(), actor=feed))[1] == "CA"


def test_a_silent_monitor_raises_a_technical_alert_that_its_next_data_resolves(store, clock, at_chair):
    ops.receive_device_message(store, message())
    assert ops.check_device_feeds(store, SYSTEM).result == 0
    clock.advance(seconds=31)
    assert ops.check_device_feeds(store, SYSTEM).result == 1
    [alert] = technical(store)
    assert alert.session_id == at_chair and "No data from the monitor at CHAIR3" in alert.message
    ops.receive_device_message(store, message(obr_time=clock.now(), sent=clock.now(), control_id="2"))
    assert technical(store) == []


# ---------------------------------------------------------------- chairs


def test_a_session_is_created_at_a_chair_and_a_second_one_is_refused_there(store, nurse, patient_id):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                             chair=" chair1 ").result
    other = ops.create_patient(store, nurse, mrn="MRN-2", family_name="Berg", given_name="Tom",
                               birth_date=date(1969, 1, 30), sex="male", weight_kg=90).result
    with pytest.raises(ValidationError, match="CHAIR1 already has"):
        ops.create_session(store, nurse, patient_id=other, protocol_id="iv-ketamine-0.5", chair="CHAIR1")
    second = ops.create_session(store, nurse, patient_id=other, protocol_id="iv-ketamine-0.5").result
    assert ops.place_session(store, nurse, second, "CHAIR2").message == "Session placed at CHAIR2"
    assert ops.place_session(store, nurse, sid, "CHAIR4").message == "Session moved from CHAIR1 to CHAIR4"
    assert ops.place_session(store, nurse, second, "CHAIR1").result == "CHAIR1"


def test_the_front_desk_cannot_move_a_session(store, actors, at_chair):
    with pytest.raises(PermissionDenied):
        ops.place_session(store, actors["staff"], at_chair, "CHAIR5")


# ---------------------------------------------------------------- the nurse's verdict


def test_the_nurse_validates_or_marks_an_artefact_and_the_fhir_export_says_by_whom(store, nurse, actors, at_chair,
                                                                                  clock):
    from ketamon.core import fhir

    ops.receive_device_message(store, message(control_id="1", obr_time=T0 - timedelta(seconds=2)))
    ops.receive_device_message(store, message(control_id="2", obr_time=T0 - timedelta(seconds=1)))
    first, second = device_sets(store, at_chair)
    assert ops.validate_device_set(store, nurse, first.id).message.startswith("Device set")
    again = ops.validate_device_set(store, nurse, first.id)
    assert "already validated by Sam Carter RN" in again.message
    ops.mark_device_artefact(store, nurse, second.id, "patient moved during the reading")
    with pytest.raises(ValidationError):
        ops.mark_device_artefact(store, nurse, second.id, "  ")
    with pytest.raises(PermissionDenied):
        ops.validate_device_set(store, actors["staff"], first.id)
    notes = {n["text"] for e in fhir.session_bundle(store, at_chair)["entry"]
             for n in e["resource"].get("note", [])}
    assert "Device, validated by Sam Carter RN at 2026-11-20T09:00:00+00:00" in notes
    assert any(n.startswith("Device, artefact by Sam Carter RN") and n.endswith("patient moved during the reading")
               for n in notes)


def test_only_a_device_set_takes_a_verdict(store, nurse, at_chair):
    from ketamon.core.errors import NotFound

    typed = ops.record_vitals(store, nurse, at_chair, systolic=120, diastolic=80).result
    with pytest.raises(NotFound, match="no device vital-sign set"):
        ops.validate_device_set(store, nurse, typed)


def test_the_printed_table_keeps_validated_and_nibp_sets_and_says_so(store, nurse, clock, at_chair):
    from ketamon.core.report import build_report

    nibp_ids = []
    for i in range(300):  # five minutes of 1 Hz numerics, an NIBP every minute
        at = T0 - timedelta(seconds=300 - i)
        rows = FULL_SET if i % 60 == 0 else FULL_SET[3:]
        ops.receive_device_message(store, message(rows, obr_time=at, sent=at, control_id=str(i)))
    sets = device_sets(store, at_chair)
    nibp_ids = [v.id for v in sets if v.systolic is not None]
    ops.validate_device_set(store, nurse, sets[7].id)
    rows, note = build_report(store, at_chair).vitals_for_print(max_rows=100)
    printed = {r.entry_id for r in rows}
    assert set(nibp_ids) <= printed and sets[7].id in printed and len(rows) < 20
    assert "validated or marked artefact, the NIBP measurements" in note
    row = next(r for r in rows if r.entry_id == sets[7].id)
    assert row.marks == "DV" and row.verdict_note.startswith("validated by Sam Carter RN")
