"""The chart's record bar follows the chart the chart view loaded (no second
chart load per notice), and still says what the record needs after each kind of
change: an entry, a checklist, an alert review."""
from __future__ import annotations

from ketamon.core import ops
from ketamon.core import record as record_module


def test_a_vital_sign_set_reaches_the_bar_through_the_charts_own_load(qtbot, open_chart, runner,
                                                                      esketamine_session, monkeypatch):
    chart = open_chart(esketamine_session)
    loads = []
    real = record_module.load_record
    monkeypatch.setattr(record_module, "load_record", lambda *a, **k: loads.append(a) or real(*a, **k))
    runner.run(ops.record_vitals, esketamine_session, systolic=131, diastolic=82, heart_rate=70, spo2=98)
    assert chart.record_bar.record.chart is chart.chart  # the very chart on screen
    assert any(v.systolic == 131 for v in chart.record_bar.record.chart.vitals)
    assert loads == []


def test_a_checklist_saved_elsewhere_updates_what_the_bar_says_is_missing(qtbot, open_chart, runner,
                                                                          esketamine_session):
    chart = open_chart(esketamine_session)
    bar = chart.record_bar
    assert bar.summary.text().startswith("Before the first dose: 6 still needed")
    runner.run(ops.record_vitals, esketamine_session, systolic=131, diastolic=82, heart_rate=70, spo2=98)
    runner.run(ops.record_predose_checklist, esketamine_session, consent=True, fasting=True)
    assert bar.summary.text().startswith("Before the first dose: 3 still needed"), bar.summary.text()


def test_an_alert_reviewed_changes_what_is_left_before_signing(qtbot, open_chart, runner, store, actors,
                                                               esketamine_session, ready_for_dose, clock):
    from ketamon.core import alert_views
    from ketamon.gui.runner import OpRunner

    chart = open_chart(esketamine_session)
    ready_for_dose(esketamine_session)
    runner.run(ops.record_dose, esketamine_session, "nasal_device")
    runner.run(ops.record_vitals, esketamine_session, systolic=192, diastolic=96, heart_rate=70, spo2=98)
    bar = chart.record_bar
    to_review = [a.id for a in bar.record.alerts_to_review]
    assert to_review
    doctor = OpRunner(store, actors["physician"])
    doctor.changed.connect(runner.changed)  # the same window's notices
    for alert in alert_views.review_queue(store, session_id=esketamine_session):
        doctor.run(ops.review_alert, alert.id, "seen, BP settling")
    assert bar.record.alerts_to_review == []
