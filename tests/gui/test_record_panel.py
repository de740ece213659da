"""The record panel as the nurse and the physician use it: tick the pre-dose
checklist, answer the PHQ-9, score the discharge from its items, fill the
discharge checklist, discharge, sign, add an addendum — every list of what is
missing is exactly what the operations would refuse for."""
from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel

from ketamon.core import ops
from ketamon.core.record import load_record
from ketamon.gui.record_panel import RecordPanel, RecordWindow
from ketamon.gui.widgets import local_hm
from record_helpers import TEST_PASSWORD


@pytest.fixture
def panel(qtbot, runner, esketamine_session):
    p = RecordPanel(runner, esketamine_session)
    qtbot.addWidget(p)
    p.resize(860, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


def click(qtbot, widget) -> None:
    """Click as a person would: a check box on its box (its row is wider than its text)."""
    assert widget.isVisible() and widget.isEnabled(), widget.objectName() or widget.text()
    pos = QPoint(10, widget.height() // 2) if isinstance(widget, QCheckBox) else widget.rect().center()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def choose(qtbot, combo, points: int) -> None:
    """Pick an answer from the keyboard: its text starts with the points."""
    combo.setFocus()
    qtbot.keyClicks(combo, str(points))
    assert combo.currentData() == points


def record(store, sid):
    return load_record(store, sid)


def test_predose_checklist_phq9_and_item9_flag(qtbot, panel, store, esketamine_session, responder):
    sid = esketamine_session
    assert panel.dose_missing.items == [
        "Consent to treatment not confirmed",
        "Fasting not confirmed (no food for 2 h, no liquids for 30 min)",
        "Contraindications not reviewed",
        "Concomitant medicines not reviewed",
        "PHQ-9 not recorded",
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)",
    ]
    assert panel.dose_missing.text().startswith("Still needed before the first dose:\n•  Consent")
    assert panel.predose.boxes["fasting"].text() == "Fasting: no food for 2 h, no liquids for 30 min"

    click(qtbot, panel.predose.boxes["consent"])
    assert record(store, sid).predose_checklist is None and panel.predose.unsaved.isVisible()
    click(qtbot, panel.predose.save)
    saved = record(store, sid)
    assert saved.state == "pre_dose" and saved.predose_checklist.items["consent"] is True
    assert "Consent to treatment not confirmed" not in panel.dose_missing.items
    for key in ("fasting", "contraindications_reviewed", "medications_reviewed"):
        click(qtbot, panel.predose.boxes[key])
    click(qtbot, panel.predose.save)
    assert not panel.predose.unsaved.isVisible()
    assert panel.dose_missing.items == [
        "PHQ-9 not recorded",
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)"]

    form = panel.phq9
    for key, points in zip("12345678", (2, 3, 2, 2, 1, 2, 1, 1)):
        choose(qtbot, form.combos[key], points)
    assert form.total.text() == "Total so far 14  ·  1 of 9 not answered"
    click(qtbot, form.save)
    assert "answer item 9 first" in form.message.text() and record(store, sid).phq9 is None
    choose(qtbot, form.combos["9"], 1)
    assert form.total.text() == "Total 15  ·  moderately severe"
    assert form.flag.isVisible() and "Item 9 (self-harm) answered 1: needs follow-up" in form.flag.text()
    click(qtbot, form.save)
    assert record(store, sid).phq9.total == 15
    assert "PHQ-9 saved: 15 (moderately severe) — item 9 needs follow-up" in form.message.text()
    assert panel.dose_missing.items == [
        "PHQ-9 item 9 (self-harm) answered 1: follow-up not recorded",
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)"]

    assert form.followup_row.isVisible()
    qtbot.keyClicks(form.followup, "Seen by Dr Shah: passive thoughts, no plan; safety plan given")
    qtbot.keyClick(form.followup, Qt.Key.Key_Return)
    assert record(store, sid).phq9_followup.comment.startswith("Seen by Dr Shah")
    assert "follow-up recorded" in form.flag.text()
    assert panel.dose_missing.items == [
        "Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)"]


def test_taking_back_a_tick_asks_why_and_keeps_it_without_an_answer(qtbot, panel, store, esketamine_session,
                                                                     responder):
    click(qtbot, panel.predose.boxes["fasting"])
    click(qtbot, panel.predose.save)
    responder.texts = [None]
    click(qtbot, panel.predose.boxes["fasting"])  # untick, then cancel the question
    click(qtbot, panel.predose.save)
    assert responder.shown[-1][0] == "ask_text" and "no longer true" in responder.shown[-1][2]
    assert panel.predose.unsaved.isVisible() and panel.predose.message.is_refusal
    assert record(store, esketamine_session).predose_checklist.items["fasting"] is True
    responder.texts = ["Patient drank coffee 10 min ago"]
    click(qtbot, panel.predose.save)
    checklist = record(store, esketamine_session).predose_checklist
    assert checklist.items["fasting"] is False and checklist.correction_reason == "Patient drank coffee 10 min ago"
    assert "Fasting not confirmed (no food for 2 h, no liquids for 30 min)" in panel.dose_missing.items


def test_from_pre_dose_checks_to_a_signed_record(qtbot, open_chart, runner, store, actors, esketamine_session,
                                                 clock, responder):
    """A demo-like esketamine session taken through the chart and its record window."""
    sid = esketamine_session
    chart = open_chart(sid)
    bar = chart.record_bar
    qtbot.waitUntil(bar.isVisible)
    assert bar.summary.text() == ("Before the first dose: 6 still needed — Consent to treatment not confirmed"
                                  "  (+5 more)")
    assert bar.open_button.text() == "Pre-dose checks…"
    click(qtbot, bar.open_button)
    window: RecordWindow = bar.window_
    panel = window.panel
    qtbot.waitExposed(window)
    assert panel.tabs.currentIndex() == 0

    for key in ("consent", "fasting", "contraindications_reviewed", "medications_reviewed"):
        click(qtbot, panel.predose.boxes[key])
    click(qtbot, panel.predose.save)
    for key in "123456789":
        choose(qtbot, panel.phq9.combos[key], 0 if key in "89" else 1)
    click(qtbot, panel.phq9.save)
    # the baseline set in the chart's own vital-signs row
    chart.activateWindow()
    row = chart.vitals_row
    for name, value in (("systolic", "124"), ("diastolic", "80"), ("heart_rate", "72"), ("spo2", "98")):
        qtbot.keyClicks(row.fields[name], value)
    click(qtbot, row.save_button)
    assert panel.dose_missing.items == [] and "Ready for the first dose" in panel.dose_missing.text()
    assert bar.summary.text() == "Pre-dose checks complete: ready for the first dose"

    click(qtbot, chart.dose_panel.device_buttons[0])
    first = clock.now()
    clock.advance(minutes=5)
    chart.tick()  # the rest countdown ends
    click(qtbot, chart.dose_panel.device_buttons[1])
    assert record(store, sid).state == "monitoring"
    assert bar.open_button.text() == "Discharge…"
    assert bar.summary.text() == (f"Monitoring · discharge not before {local_hm(first + timedelta(minutes=120))}"
                                  " (1 h 55 min to go)")

    clock.set(first + timedelta(minutes=40))
    runner.run(ops.record_vitals, sid, systolic=146, diastolic=90, heart_rate=80, spo2=97)  # as any screen does
    clock.set(first + timedelta(minutes=95))
    click(qtbot, bar.open_button)
    assert panel.tabs.currentIndex() == 1
    click(qtbot, panel.recovery_button)
    assert record(store, sid).state == "recovery" and not panel.recovery_button.isVisible()
    runner.run(ops.record_vitals, sid, systolic=130, diastolic=82, heart_rate=74, spo2=98)
    score = panel.score
    assert score.hints["circulation"].text() == "suggests 2: BP 130 now, 124 before dosing"
    for key in ("activity", "respiration", "circulation", "consciousness", "spo2"):
        choose(qtbot, score.combos[key], 2)
    assert score.total.text() == "Total 10/10  ·  fit for discharge"
    click(qtbot, score.save)
    assert record(store, sid).discharge_assessment.total == 10
    for key in ("effects_resolved", "escort_present", "instructions_given"):
        click(qtbot, panel.discharge_checklist.boxes[key])
    ready = first + timedelta(minutes=90)
    qtbot.keyClicks(panel.discharge_checklist.ready, local_hm(ready))
    qtbot.keyClick(panel.discharge_checklist.ready, Qt.Key.Key_Return)
    assert record(store, sid).ready_to_leave_at == ready

    ends = local_hm(first + timedelta(minutes=120))
    assert panel.discharge_missing.items == [
        f"Minimum monitoring time not reached: 120 min from the first device ends at {ends} (25 min to go)"]
    responder.confirms = [True]
    click(qtbot, panel.discharge_button)
    assert record(store, sid).state == "recovery"
    assert "The patient cannot be discharged yet" in panel.discharge_message.text()
    clock.set(first + timedelta(minutes=120))
    chart.tick()  # the chart's clock tells the bar and the panel (no query)
    assert panel.discharge_missing.items == []
    assert bar.summary.text() == "Ready for discharge"
    responder.confirms = [True]
    click(qtbot, panel.discharge_button)
    assert record(store, sid).state == "discharged"
    assert panel.discharge_missing.text() == f"✓  Discharged at {ends}."

    # the nurse cannot sign; the supervising physician can
    assert panel.sign_missing.items == [] and not panel.sign_button.isEnabled()
    assert "Only the supervising physician signs" in panel.sign_button.toolTip()
    runner.set_actor(actors["physician"])
    assert panel.sign_button.isEnabled()
    panel.tabs.setCurrentIndex(2)
    click(qtbot, panel.sign_button)
    dialog = panel.sign_dialog
    assert any("Reviewed and signed by the supervising physician: Dr Priya Shah" in label.text()
               for label in dialog.findChildren(QLabel))
    qtbot.keyClicks(dialog.password, "not-my-password")
    click(qtbot, dialog.sign_button)
    assert dialog.isVisible() and not record(store, sid).signed and dialog.password.text() == ""
    assert "The password is wrong" in dialog.message.text()
    qtbot.keyClicks(dialog.password, TEST_PASSWORD)
    click(qtbot, dialog.sign_button)
    assert not dialog.isVisible()
    signed = record(store, sid)
    assert signed.signed and signed.signed_by == "Dr Priya Shah"
    assert panel.signature.text().startswith(f"Signed by Dr Priya Shah at {local_hm(clock.now())}")
    assert not panel.sign_button.isVisible() and not panel.predose.isEnabled() and not panel.score.isEnabled()
    assert bar.summary.text() == f"Signed by Dr Priya Shah at {local_hm(clock.now())}"

    clock.advance(hours=18)
    qtbot.keyClicks(panel.addendum_reason, "Follow-up call")
    qtbot.keyClicks(panel.addendum_text, "Mild headache overnight, resolved.")
    click(qtbot, panel.addendum_button)
    (addendum,) = record(store, sid).addenda
    assert (addendum.reason, addendum.text) == ("Follow-up call", "Mild headache overnight, resolved.")
    assert "Dr Priya Shah · reason: Follow-up call\nMild headache overnight, resolved." in panel.addenda_list.text()
    assert panel.addendum_text.toPlainText() == ""


def test_cancel_before_dosing_asks_the_reason(qtbot, panel, store, esketamine_session, responder):
    panel.tabs.setCurrentIndex(2)
    assert panel.end_button.text() == "Cancel session…"
    responder.texts = ["Patient unwell today (fever)"]
    click(qtbot, panel.end_button)
    saved = record(store, esketamine_session)
    assert saved.state == "cancelled" and saved.session.state_reason == "Patient unwell today (fever)"
    assert panel.state_line.text().endswith("Cancelled — Patient unwell today (fever)")
    assert not panel.end_button.isVisible()
    assert panel.sign_missing.text() == "✓  Complete: the supervising physician may sign."


def test_front_desk_sees_the_record_but_cannot_chart(qtbot, runner, actors, esketamine_session):
    runner.set_actor(actors["staff"])
    p = RecordPanel(runner, esketamine_session)
    qtbot.addWidget(p)
    assert not p.predose.isEnabled() and not p.phq9.isEnabled() and not p.end_button.isEnabled()
    assert len(p.dose_missing.items) == 6


def test_panel_and_window_leave_nothing_behind(qtbot, runner, esketamine_session):
    w = RecordWindow(runner, esketamine_session)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.windowTitle() == "Session record — NGUYEN, Lan"
    assert not w.isModal()
    QApplication.processEvents()
