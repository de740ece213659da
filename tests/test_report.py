"""The session summary's data (what the printed summary shows), headless: built
from a session charted through the operations."""
from datetime import date, timedelta

import pytest

from ketamon.core import ops
from ketamon.core.report import build_report, fmt_time
from records_data import AFTER_DOSE, BASELINE, full_session


@pytest.fixture
def charted(store, clock, actors, esketamine_session):
    first = full_session(store, clock, actors, esketamine_session)
    return esketamine_session, first


def test_header_names_patient_protocol_dose_lot_and_staff(store, charted, monkeypatch):
    sid, first = charted
    monkeypatch.setenv("KETAMON_CLINIC_NAME", "Harbour Street Clinic")
    r = build_report(store, sid, printed_by="Alex Morgan (Front desk)")
    header = {i.label: i.value for i in r.header}
    assert r.clinic == "Harbour Street Clinic"
    assert header["Patient"] == "NGUYEN, Lan" and header["MRN"] == "MRN-1"
    assert header["Date of birth"].startswith("12 Mar 1984")
    assert header["Protocol"] == "Esketamine nasal spray 56 mg"
    assert header["Route"].startswith("Intranasal")
    assert header["Dose"] == "56 mg (2 devices × 28 mg)" and header["Given"] == "56 mg"
    assert header["Lot"] == "LOT-1"
    assert header["Charting nurse"] == "Sam Carter RN" and header["Supervising physician"] == "Dr Priya Shah"
    assert r.session_date == first.astimezone().date()


def test_clinic_name_has_a_default(store, charted, monkeypatch):
    monkeypatch.delenv("KETAMON_CLINIC_NAME", raising=False)
    assert build_report(store, charted[0]).clinic == "Ketamine Treatment Clinic"


def test_vital_signs_in_measured_order_with_late_and_correction_marks(store, charted):
    sid, first = charted
    r = build_report(store, sid)
    assert [(v.systolic, v.diastolic) for v in r.vitals] == [BASELINE[:2]] + [(s, d) for _, s, d, *_ in AFTER_DOSE]
    by_minute = {round((v.measured_at - first) / timedelta(minutes=1)): v for v in r.vitals}
    late = by_minute[60]
    assert late.late and late.marks == "L" and late.entered_at - late.measured_at == timedelta(minutes=15)
    corrected = by_minute[20]
    assert corrected.corrected and corrected.heart_rate == 78 and "typed as 87" in corrected.correction_reason
    assert by_minute[40].marks == ""


def test_corrections_keep_the_original_value_and_reason(store, charted):
    r = build_report(store, charted[0])
    (c,) = r.corrections
    assert "HR 87" in c.original and "HR 78" in c.replacement
    assert c.reason == "heart rate typed as 87" and c.who == "Sam Carter RN"


def test_doses_side_effects_and_scores(store, charted):
    r = build_report(store, charted[0])
    assert [d.text for d in r.doses] == ["Nasal device 1 given (28 mg, lot LOT-1)",
                                         "Nasal device 2 given (28 mg, lot LOT-1)"]
    texts = [e.text for e in r.side_effects]
    assert texts == ["Dissociation 5/24 (CADSS-6)", "Sedation: MOAA/S 4", "Nausea 3/10", "Sedation: MOAA/S 5"]
    phq9 = r.assessments_of("phq9")[0]
    assert phq9.total_text == "10 / 27 (moderate)"
    assert phq9.items[8].label.startswith("9. Thoughts that you would be better off dead")


def test_alert_shows_acknowledgement_and_review(store, charted):
    r = build_report(store, charted[0])
    (alert,) = [a for a in r.alerts if "166" in a.message]
    assert alert.mark == "**"
    assert alert.acknowledgement.startswith("Acknowledged") and "Sam Carter RN" in alert.acknowledgement
    assert alert.review.startswith("Reviewed") and "Dr Priya Shah" in alert.review
    assert "Expected BP peak" in alert.review


def test_discharge_signature_addenda_and_timeline(store, charted):
    sid, first = charted
    r = build_report(store, sid)
    d = r.discharge
    assert d.score_label == "Modified Aldrete score" and d.assessment.total == 10 and d.score_passed
    assert d.monitored_minutes == 121 and d.minimum_met
    assert d.ready_to_leave_at == first + timedelta(minutes=85)
    assert [i.value for i in d.checklist.items][:3] == ["Yes", "Yes", "Yes"]
    assert r.signature.signed and r.signature.text.startswith("Signed by Dr Priya Shah at ")
    (add,) = r.addenda
    assert add.reason == "Phone follow-up next day" and add.author == "Sam Carter RN"
    assert [s.to_state for s in r.states] == ["pre_dose", "dosing", "monitoring", "recovery", "discharged",
                                              "signed"]


def test_session_in_progress_reports_what_is_not_recorded(store, clock, nurse, esketamine_session):
    ops.record_predose_checklist(store, nurse, esketamine_session, consent=True)
    r = build_report(store, esketamine_session)
    assert r.vitals == [] and r.doses == [] and r.addenda == []
    assert r.discharge.assessment is None and r.discharge.monitored_minutes is None
    assert r.signature.text == "NOT SIGNED"
    assert {i.label: i.value for i in r.header}["Given"] == "nothing given"


def test_news2_beside_complete_sets_and_carried_temperature_marked(store, charted):
    r = build_report(store, charted[0])
    assert r.news2_available
    assert r.vitals[0].news2 == "0"  # baseline: complete set, temperature measured
    assert r.vitals[1].news2 == "0*"  # 28 min later: temperature carried from the baseline
    assert r.vitals[-1].news2 is None  # > 60 min after the last temperature: no NEWS2


def test_a_device_feed_is_thinned_for_print_but_manual_sets_all_print(store, clock, nurse, infusion_session):
    from records_data import predose

    predose(store, clock, nurse, infusion_session)
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=45)
    for i in range(240):  # four hours of one-a-minute monitor readings
        clock.advance(minutes=1)
        ops.record_vitals(store, nurse, infusion_session, heart_rate=70 + i % 5, spo2=97, source="device")
    ops.record_vitals(store, nurse, infusion_session, systolic=131, diastolic=80, heart_rate=77)
    r = build_report(store, infusion_session)
    rows, note = r.vitals_for_print()
    assert len(r.vitals) == 242
    assert sum(v.source == "manual" for v in rows) == 2  # every manual set prints
    assert 40 <= sum(v.source == "device" for v in rows) <= 50  # one per 5 minutes
    assert "240 device readings" in note and "CSV and FHIR" in note


def test_times_print_in_local_time(store, charted):
    sid, first = charted
    r = build_report(store, sid)
    assert fmt_time(r.vitals[0].measured_at) == r.vitals[0].measured_at.astimezone().strftime("%H:%M")
    assert r.birth_date == date(1984, 3, 12)


def test_a_thinned_printout_scores_news2_as_the_chart_does(store, clock, nurse, infusion_session):
    """The printout leaves most device sets out, but a printed set's NEWS2 is the
    chart's: here its temperature (38.6 °C, 1 point) comes from a device set that
    is not printed, not from the baseline (36.7 °C, 0 points)."""
    from records_data import predose

    from ketamon.core.chart import load_chart

    predose(store, clock, nurse, infusion_session)
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=45)
    temperature_set = carried_set = None
    for i in range(240):  # four hours of one-a-minute monitor readings
        clock.advance(minutes=1)
        # not the first device set of its 5 minutes
        hot = temperature_set is None and i > 5 and clock.now().minute % 5 == 3
        vid = ops.record_vitals(store, nurse, infusion_session, heart_rate=70 + i % 5, spo2=97, resp_rate=15,
                                source="device", temperature=38.6 if hot else None).result
        if hot:
            temperature_set = vid
            clock.advance(seconds=20)
            carried_set = ops.record_vitals(store, nurse, infusion_session, systolic=131, diastolic=80,
                                            heart_rate=77, spo2=97, resp_rate=15, consciousness="A",
                                            on_oxygen=False).result
    rows, note = build_report(store, infusion_session).vitals_for_print()
    printed = {v.entry_id: v for v in rows}
    assert note and temperature_set not in printed and carried_set in printed
    chart = load_chart(store, infusion_session)
    score = chart.news2[carried_set]
    assert score.carried == ("temperature",) and score.parts["temperature"] == 1
    assert printed[carried_set].news2 == f"{score.total}*"
    for v in rows:  # every printed NEWS2 is the chart's
        chart_score = chart.news2.get(v.entry_id)
        assert v.news2 == (None if chart_score is None else
                           f"{chart_score.total}" + ("*" if chart_score.carried else ""))
