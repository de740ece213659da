"""Safe edits at the chair (issue 10, point 3): the lot is locked once a device
is given, a free-text field never saves on leaving it, and the pre-dose
checklist keeps every answer and is saved as one entry."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from ketamon.core import ops
from ketamon.core.chart import load_chart
from ketamon.core.errors import ValidationError
from ketamon.core.report import build_report


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_typed_lot_is_saved_only_with_enter_and_shows_unsaved_meanwhile(qtbot, open_chart, store,
                                                                        esketamine_session):
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    panel.lot.setFocus()
    panel.lot.selectAll()
    qtbot.keyClicks(panel.lot, "24K118")
    assert panel.lot_unsaved.isVisible() and panel.lot_save.isEnabled()
    chart.event_log.setFocus()  # leaving the field saves nothing
    qtbot.waitUntil(lambda: not panel.lot.hasFocus())
    assert load_chart(store, esketamine_session).session.lot_number == "LOT-1"
    qtbot.keyClick(panel.lot, Qt.Key.Key_Return)
    assert load_chart(store, esketamine_session).session.lot_number == "24K118"
    assert not panel.lot_unsaved.isVisible() and panel.message.text() == "✓ Lot number saved"


def test_a_stray_keystroke_in_the_lot_after_dosing_changes_nothing(qtbot, open_chart, store, esketamine_session,
                                                                   ready_for_dose, nurse):
    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    click(qtbot, panel.device_buttons[0])
    assert panel.lot.isReadOnly() and panel.lot_correct.isVisible() and not panel.lot_save.isVisible()
    panel.lot.setFocus()
    qtbot.keyClicks(panel.lot, "72")
    qtbot.keyClick(panel.lot, Qt.Key.Key_Return)
    chart.event_log.setFocus()
    assert panel.lot.text() == "LOT-1"
    loaded = load_chart(store, esketamine_session)
    assert loaded.session.lot_number == "LOT-1" and [d.lot_number for d in loaded.doses] == ["LOT-1"]
    # the operation itself refuses, whatever a screen does
    with pytest.raises(ValidationError, match="lot number is locked"):
        ops.set_lot_number(store, nurse, esketamine_session, "72")


def test_correcting_the_lot_after_dosing_needs_a_reason_and_prints_the_corrected_lot_only(
        qtbot, open_chart, store, esketamine_session, ready_for_dose, responder, nurse):
    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    click(qtbot, panel.device_buttons[0])
    responder.texts = ["24K118", None]  # no reason: nothing changes
    click(qtbot, panel.lot_correct)
    assert load_chart(store, esketamine_session).session.lot_number == "LOT-1"
    assert panel.message.is_refusal
    responder.texts = ["24K118", "box label misread"]
    click(qtbot, panel.lot_correct)
    loaded = load_chart(store, esketamine_session)
    assert loaded.session.lot_number == "24K118" and [d.lot_number for d in loaded.doses] == ["24K118"]
    assert panel.lot.text() == "24K118" and panel.message.text() == "✓ Lot number corrected: LOT-1 → 24K118"
    report = build_report(store, esketamine_session)
    assert report.lot_numbers == ["24K118"]
    assert [c.reason for c in report.corrections] == ["box label misread"]


def choose(qtbot, combo, points: int) -> None:
    combo.setFocus()
    qtbot.keyClicks(combo, str(points))
    assert combo.currentData() == points


def test_phq9_answers_survive_ticking_and_saving_the_checklist_which_is_one_entry_in_clinic_words(
        qtbot, open_chart, runner, store, esketamine_session):
    from ketamon.gui.record_panel import RecordPanel

    chart = open_chart(esketamine_session)
    panel = RecordPanel(runner, esketamine_session)
    qtbot.addWidget(panel)
    panel.resize(860, 900)
    panel.show()
    qtbot.waitExposed(panel)
    for key, points in zip("1234", (2, 1, 0, 3)):
        choose(qtbot, panel.phq9.combos[key], points)
    for key in ("consent", "fasting", "contraindications_reviewed", "medications_reviewed"):
        box = panel.predose.boxes[key]
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().topLeft() + QPoint(10, box.height() // 2))
    assert panel.predose.unsaved.isVisible()
    click(qtbot, panel.predose.save)
    assert [panel.phq9.combos[k].currentData() for k in "12345"] == [2, 1, 0, 3, None]
    assert panel.phq9.total.text() == "Total so far 6  ·  5 of 9 not answered"
    entries = [line for line in load_chart(store, esketamine_session).log if line.kind == "assessment"]
    assert [(line.text, line.correction) for line in entries] == [
        ("Pre-dose checklist completed: consent confirmed, fasting confirmed, contraindications reviewed, "
         "concomitant medicines reviewed", False)]
    qtbot.waitUntil(lambda: any("Pre-dose checklist completed" in t for t in chart.event_log.rows_text()))
    assert not any("Predose checklist" in t or "Phq9" in t for t in chart.event_log.rows_text())


def test_discharge_ticks_are_saved_as_one_entry(qtbot, runner, store, esketamine_session, clock):
    from ketamon.core import scenario
    from ketamon.core.record import load_record
    from ketamon.gui.record_panel import RecordPanel

    scenario.to_recovery(store, runner.actor, esketamine_session, clock)
    panel = RecordPanel(runner, esketamine_session)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    checklist = panel.discharge_checklist
    panel.tabs.setCurrentIndex(1)
    for key in ("effects_resolved", "escort_present", "instructions_given"):
        box = checklist.boxes[key]
        qtbot.waitUntil(box.isVisible)
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(10, box.height() // 2))
    assert load_record(store, esketamine_session).discharge_checklist is None and checklist.unsaved.isVisible()
    click(qtbot, checklist.save)
    entries = [line for line in load_chart(store, esketamine_session).log if "Discharge checklist" in line.text]
    assert [line.text for line in entries] == [
        "Discharge checklist completed: effects resolved, escort present, written instructions given"]
    assert not checklist.unsaved.isVisible()


def test_a_discharge_score_being_chosen_survives_a_vital_sign_saved(qtbot, runner, store, esketamine_session,
                                                                    clock):
    from ketamon.core import scenario
    from ketamon.gui.record_panel import RecordPanel

    scenario.to_recovery(store, runner.actor, esketamine_session, clock)
    panel = RecordPanel(runner, esketamine_session)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.tabs.setCurrentIndex(1)
    combo = panel.score.combos["activity"]
    qtbot.waitUntil(combo.isVisible)
    choose(qtbot, combo, 2)
    runner.run(ops.record_vitals, esketamine_session, heart_rate=70)  # the record refreshes
    assert panel.score.combos["activity"].currentData() == 2
