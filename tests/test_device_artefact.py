"""A device set marked artefact is out of the clinical figures (issue 11): the
alerts it raised close as such, NEWS2, the baseline, the latest values and the
printed figures are computed without it, while the record still lists it,
labelled. Validated again, it is back in force. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketamon.core import alert_views, ops
from ketamon.core.alerts import DEVICE_ARTEFACT
from ketamon.core.chart import load_chart
from ketamon.core.models import Alert, VitalSigns
from ketamon.core.report import build_report
from ketamon.core.station import station_tiles
from tests.conftest import T0, add_user
from tests.feed_corpus import FULL_SET, message, msa

HIGH_BP = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "212", "266016^MDC_DIM_MMHG^MDC"),
           ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "96", "266016^MDC_DIM_MMHG^MDC"),
           ("147842^MDC_ECG_HEART_RATE^MDC", "74", "264864^MDC_DIM_BEAT_PER_MIN^MDC")]
HOT = [("150344^MDC_TEMP^MDC", "39.6", "Cel^^UCUM")]


@pytest.fixture
def people(any_store):
    return {"nurse": add_user(any_store, "nurse", "nurse", "Sam Carter RN"),
            "doctor": add_user(any_store, "doctor", "physician", "Dr Priya Shah")}


@pytest.fixture
def at_chair(any_store, people) -> int:
    nurse = people["nurse"]
    pid = ops.create_patient(any_store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61).result
    sid = ops.create_session(any_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5",
                             physician_id=people["doctor"].user_id).result
    ops.place_session(any_store, nurse, sid, "chair3")
    return sid


def _receive(store, rows, at, control) -> VitalSigns:
    assert msa(ops.receive_device_message(store, message(rows, obr_time=at, sent=at, control_id=control)))[1] == "CA"
    with store.read() as db:
        return db.scalars(select(VitalSigns).where(VitalSigns.source == "device")
                          .order_by(VitalSigns.id.desc()).limit(1)).one()


def _alerts(store, sid, key):
    with store.read() as db:
        return list(db.scalars(select(Alert).where(Alert.session_id == sid, Alert.condition_key == key)
                               .order_by(Alert.id)))


def test_an_alert_raised_only_by_the_set_closes_and_comes_back_when_validated(any_store, people, at_chair, clock):
    nurse = people["nurse"]
    normal = _receive(any_store, FULL_SET, T0 - timedelta(seconds=30), "1")
    spike = _receive(any_store, HIGH_BP, T0 - timedelta(seconds=5), "2")
    [raised] = [a for a in _alerts(any_store, at_chair, "bp_high") if a.cleared_at is None]
    assert raised.source_id == spike.id and "212/96" in raised.message
    assert load_chart(any_store, at_chair).vitals[-1].id == spike.id

    clock.advance(minutes=1)
    done = ops.mark_device_artefact(any_store, nurse, spike.id, "cuff squeezed while the patient moved")
    assert "1 alert closed" in done.message and done.alerts and at_chair in done.sessions
    [closed] = _alerts(any_store, at_chair, "bp_high")
    assert closed.cleared_at == clock.now() and closed.review_comment == DEVICE_ARTEFACT
    assert closed.reviewed_by_id == nurse.user_id
    assert not any(a.id == closed.id for a in alert_views.review_queue(any_store))  # settled, as entered in error

    # every figure without the set; the record still lists it, labelled
    chart = load_chart(any_store, at_chair)
    assert [v.id for v in chart.vitals] == [normal.id]
    assert chart.baseline.id == normal.id and spike.id in chart.artefact_sets
    line = next(x for x in chart.log_without_device_readings if x.entity_id == spike.id)
    assert line.artefact and "212/96" in line.text
    [tile] = station_tiles(any_store)
    assert tile.bp.text.startswith("128/82")
    report = build_report(any_store, at_chair)
    row = next(r for r in report.vitals if r.entry_id == spike.id)
    assert row.marks == "DA" and row.news2 is None and "cuff squeezed" in row.verdict_note
    assert spike.id not in {r.entry_id for r in report.clinical_vitals}
    closure = next(a for a in report.alerts if a.alert_id == closed.id)
    assert closure.review == f"{DEVICE_ARTEFACT} (Sam Carter RN, {closure.review.split(', ')[-1]}"
    assert closure.acknowledgement == DEVICE_ARTEFACT

    # the nurse changes her mind: back in force, its alert raised again
    clock.advance(minutes=1)
    back = ops.validate_device_set(any_store, nurse, spike.id)
    assert "back in the figures" in back.message
    active = [a for a in _alerts(any_store, at_chair, "bp_high") if a.cleared_at is None]
    assert [a.source_id for a in active] == [spike.id]
    assert [v.id for v in load_chart(any_store, at_chair).vitals] == [normal.id, spike.id]
    assert station_tiles(any_store)[0].bp.text.startswith("212/96")


def test_a_condition_still_holding_on_other_readings_raises_anew(any_store, people, at_chair, clock):
    nurse = people["nurse"]
    first = _receive(any_store, HIGH_BP, T0 - timedelta(seconds=60), "1")
    _receive(any_store, HIGH_BP[:1] + [("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "95", "266016^MDC_DIM_MMHG^MDC")],
             T0 - timedelta(seconds=10), "2")
    [alert] = _alerts(any_store, at_chair, "bp_high")
    assert alert.source_id == first.id  # a persisting condition keeps its alert
    ops.mark_device_artefact(any_store, nurse, first.id, "probe artefact")
    old, new = _alerts(any_store, at_chair, "bp_high")
    assert old.review_comment == DEVICE_ARTEFACT and old.cleared_at is not None
    assert new.cleared_at is None and "212/95" in new.message


def test_news2_is_scored_without_a_set_marked_artefact(any_store, people, at_chair, clock):
    nurse = people["nurse"]
    ops.record_vitals(any_store, nurse, at_chair, systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=14,
                      temperature=37.0, consciousness="A", on_oxygen=False, measured_at=T0 - timedelta(minutes=10))
    hot = _receive(any_store, HOT, T0 - timedelta(minutes=5), "1")
    typed = ops.record_vitals(any_store, nurse, at_chair, systolic=120, diastolic=80, heart_rate=70, spo2=98,
                              resp_rate=14, consciousness="A", on_oxygen=False).result
    before = load_chart(any_store, at_chair).news2[typed]
    assert before.carried and before.total == 2  # 39.6 °C carried from the monitor scores 2

    ops.mark_device_artefact(any_store, nurse, hot.id, "probe in the air")
    after = load_chart(any_store, at_chair).news2[typed]
    assert after.total == 0  # the typed 37.0 °C carried instead
    report = build_report(any_store, at_chair)
    assert next(r for r in report.vitals if r.entry_id == typed).news2 == "0*"
    assert next(r for r in report.vitals if r.entry_id == hot.id).news2 is None

    ops.validate_device_set(any_store, nurse, hot.id)
    assert load_chart(any_store, at_chair).news2[typed].total == 2
    # and a chart read afresh agrees with the one kept between loads
    assert load_chart(any_store, at_chair, fresh=True).news2[typed].total == 2


def test_the_csv_and_fhir_exports_keep_the_set_marked_artefact(any_store, people, at_chair, clock):
    import csv
    import io

    from ketamon.core import fhir
    from ketamon.core.csv_export import session_csv

    _receive(any_store, FULL_SET, T0 - timedelta(seconds=30), "1")
    spike = _receive(any_store, HIGH_BP, T0 - timedelta(seconds=5), "2")
    ops.mark_device_artefact(any_store, people["nurse"], spike.id, "cuff squeezed")
    rows = {r["entry_id"]: r for r in csv.DictReader(io.StringIO(session_csv(any_store, at_chair)))
            if r["record"] == "vital_signs"}
    row = rows[str(spike.id)]
    assert row["status"] == "artefact" and row["systolic"] == "212"
    assert "artefact (cuff squeezed) by Sam Carter RN" in row["description"]
    assert {r["status"] for k, r in rows.items() if k != str(spike.id)} == {"in force"}
    notes = {n["text"] for e in fhir.session_bundle(any_store, at_chair)["entry"]
             for n in e["resource"].get("note", [])}
    assert any(n.startswith("Device, artefact by Sam Carter RN") and n.endswith("cuff squeezed") for n in notes)


def test_fhir_gives_the_set_marked_artefact_as_entered_in_error_in_both_writers(any_store, people, at_chair, clock):
    """A receiving system must not use the value either: its observations carry
    status entered-in-error (the others stay final), and the encounter's start
    is the first set in force, not the artefact before it. The bundle built in
    memory and the one streamed to a file say the same."""
    import io
    import json

    from ketamon.core import fhir

    first = _receive(any_store, HIGH_BP, T0 - timedelta(minutes=10), "1")
    later = _receive(any_store, FULL_SET, T0 - timedelta(minutes=2), "2")
    ops.mark_device_artefact(any_store, people["nurse"], first.id, "cuff squeezed")
    out = io.StringIO()
    fhir.write_session_bundle(any_store, at_chair, out)
    for bundle in (fhir.session_bundle(any_store, at_chair), json.loads(out.getvalue())):
        by_set: dict[str, set[str]] = {}
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Observation" and "vital-signs" in json.dumps(r.get("category")):
                by_set.setdefault(r["effectiveDateTime"], set()).add(r["status"])
        assert len(by_set) >= 2  # the two sets (and a score at the time of export)
        first_at = min(by_set)
        assert by_set[first_at] == {"entered-in-error"}
        assert all(s == {"final"} for when, s in by_set.items() if when != first_at)
        enc = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
        assert enc["period"]["start"] > first_at, "the encounter starts with the first set in force"
        assert enc["period"]["start"] <= max(by_set)
    assert later.id != first.id


def test_the_review_context_of_an_alert_closed_as_artefact_shows_the_set_labelled(any_store, people, at_chair, clock):
    """The physician reviewing the closed alert sees the value that raised it, as
    an artefact with the nurse's reason, never among the readings in force."""
    nurse = people["nurse"]
    normal = _receive(any_store, FULL_SET, T0 - timedelta(seconds=30), "1")
    spike = _receive(any_store, HIGH_BP, T0 - timedelta(seconds=5), "2")
    clock.advance(minutes=1)
    ops.mark_device_artefact(any_store, nurse, spike.id, "cuff squeezed while the patient moved")
    [closed] = _alerts(any_store, at_chair, "bp_high")

    ctx = alert_views.alert_context(any_store, closed.id)
    assert [v.id for v in ctx.vitals] == [normal.id]  # the readings in force, as before
    [shown] = ctx.artefacts
    assert shown.vitals.id == spike.id == ctx.source.id and shown.vitals.systolic == 212
    assert shown.verdict.verdict == "artefact" and shown.verdict.by == "Sam Carter RN"
    assert shown.verdict.reason == "cuff squeezed while the patient moved"
    assert closed.raised_at > spike.measured_at
    # the alert's own set even outside the window asked for
    assert [x.vitals.id for x in alert_views.alert_context(any_store, closed.id, minutes=0).artefacts] == [spike.id]

    ops.validate_device_set(any_store, nurse, spike.id)  # back in force: a reading like the others
    ctx = alert_views.alert_context(any_store, closed.id)
    assert ctx.artefacts == [] and [v.id for v in ctx.vitals] == [normal.id, spike.id]
