"""The dose panel for each route and quick side-effect entry, with the clock
driven by hand (FakeClock + the chart's tick), never by sleeping."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.core.chart import load_chart


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def event_labels(chart) -> list[str]:
    return chart.plot.event_texts()


def test_nasal_devices_with_the_rest_countdown(qtbot, open_chart, store, esketamine_session, clock,
                                               ready_for_dose):
    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    first, second = panel.device_buttons
    assert first.isEnabled() and not second.isEnabled()
    assert panel.lot.text() == "LOT-1"

    click(qtbot, first)
    doses = load_chart(store, esketamine_session).doses
    assert [(d.kind, d.device_number, d.amount_mg, d.lot_number) for d in doses] == [
        ("nasal_device", 1, 28.0, "LOT-1")]
    assert not first.isEnabled() and "Device 1" in first.text() and "✓" in first.text()
    # during the rest the button stays pressable (with a reason), not highlighted
    assert second.isEnabled() and second.property("role") != "primary"
    assert panel.countdown.text() == "Rest 5 min 00 s before device 2"
    assert "Device 1" in event_labels(chart)  # marked on the plot at once

    clock.advance(minutes=2, seconds=15)
    chart.tick()
    assert panel.countdown.text() == "Rest 2 min 45 s before device 2" and second.property("role") != "primary"
    assert chart.header.elapsed.text() == "2 min"

    clock.advance(minutes=2, seconds=45)
    chart.tick()
    assert second.property("role") == "primary" and "may be given" in panel.countdown.text()
    click(qtbot, second)
    loaded = load_chart(store, esketamine_session)
    assert [d.device_number for d in loaded.doses] == [1, 2]
    assert loaded.session.state == "monitoring"
    assert "All 2 devices given" in panel.countdown.text()
    assert chart.header.state.text() == "Monitoring"


def test_first_device_before_the_pre_dose_checks_is_refused_with_what_is_missing(
        qtbot, open_chart, store, esketamine_session):
    chart = open_chart(esketamine_session)
    click(qtbot, chart.dose_panel.device_buttons[0])
    assert load_chart(store, esketamine_session).doses == []
    message = chart.dose_panel.message
    assert message.is_refusal and "Dosing cannot start yet" in message.text()
    assert chart.dose_panel.device_buttons[0].isEnabled()  # nothing changed; try again later


def test_infusion_start_and_stop_show_the_delivered_total(qtbot, open_chart, store, infusion_session, clock,
                                                          responder, ready_for_dose):
    ready_for_dose(infusion_session)
    chart = open_chart(infusion_session)
    panel = chart.dose_panel
    # 0.5 mg/kg × 61 kg = 30.5 mg over 40 min → 45.75 mg/h, offered, not invented
    assert panel.rate.text() == "45.75"
    assert "30.5 mg" in panel.title() and "40 min" in panel.title()
    assert not panel.stop_button.isEnabled()
    click(qtbot, panel.start_button)
    assert "Running at 45.75 mg/h" in panel.status.text()

    clock.advance(minutes=20)
    chart.tick()
    assert panel.delivered.text() == "Delivered 15.25 mg of 30.5 mg"

    responder.confirms.append(True)
    click(qtbot, panel.stop_button)
    assert responder.shown[-1][0] == "confirm"
    clock.advance(minutes=10)
    chart.tick()
    assert panel.delivered.text() == "Delivered 15.25 mg of 30.5 mg"  # stopped: no longer counting
    assert "Stopped" in panel.status.text()
    loaded = load_chart(store, infusion_session)
    assert [d.kind for d in loaded.doses] == ["infusion_start", "infusion_stop"]
    assert loaded.infusion.delivered_mg == 15.25
    assert not any(b.isEnabled() for b in (panel.start_button, panel.pause_button, panel.stop_button))


def test_stop_needs_a_yes(qtbot, open_chart, store, infusion_session, responder, ready_for_dose):
    ready_for_dose(infusion_session)
    chart = open_chart(infusion_session)
    click(qtbot, chart.dose_panel.start_button)
    responder.confirms.append(False)
    click(qtbot, chart.dose_panel.stop_button)
    assert [d.kind for d in load_chart(store, infusion_session).doses] == ["infusion_start"]


def test_im_injection_with_the_prescribers_dose(qtbot, open_chart, store, nurse, patient_id, ready_for_dose):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="im-ketamine",
                             planned_dose_mg=30).result
    ready_for_dose(sid)
    chart = open_chart(sid)
    panel = chart.dose_panel
    assert panel.amount.text() == "30"
    panel.site.setCurrentText("Deltoid, right")
    click(qtbot, panel.give_button)
    (d,) = load_chart(store, sid).doses
    assert (d.kind, d.amount_mg, d.site) == ("im_injection", 30.0, "Deltoid, right")
    assert "Given 30 mg" in panel.status.text() and not panel.give_button.isEnabled()
    assert "IM 30 mg" in event_labels(chart)


def test_side_effects_in_one_click(qtbot, open_chart, store, esketamine_session, clock):
    chart = open_chart(esketamine_session)
    panel = chart.side_effects
    click(qtbot, panel.score_buttons["nausea"][3])
    click(qtbot, panel.score_buttons["sedation"][4])
    click(qtbot, panel.effect_buttons["dizziness"])
    qtbot.keyClicks(panel.other, "metallic taste")
    qtbot.keyClick(panel.other, Qt.Key.Key_Return)
    effects = load_chart(store, esketamine_session).side_effects
    assert [(e.kind, e.scale, e.score, e.text) for e in effects] == [
        ("nausea", "NRS-0-10", 3.0, None), ("sedation", "MOAA/S", 4.0, None), ("dizziness", None, None, None),
        ("other", None, None, "metallic taste")]
    rows = chart.event_log.rows_text()
    assert any("Nausea 3/10" in r for r in rows) and any("Sedation: MOAA/S 4" in r for r in rows)
    assert {"◆ Nausea 3", "◆ MOAA/S 4", "◆ Dizziness"} <= set(event_labels(chart))
    assert panel.other.text() == "" and "Other recorded" in panel.message.text()


def test_a_note_from_the_event_log(qtbot, open_chart, store, esketamine_session):
    chart = open_chart(esketamine_session)
    qtbot.keyClicks(chart.event_log.note, "Patient asked for a blanket")
    qtbot.keyClick(chart.event_log.note, Qt.Key.Key_Return)
    (n,) = load_chart(store, esketamine_session).notes
    assert n.text == "Patient asked for a blanket"
    assert any("Note: Patient asked for a blanket" in r for r in chart.event_log.rows_text())
    assert chart.event_log.note.text() == ""


def test_elapsed_clock_starts_at_the_first_dose(qtbot, open_chart, esketamine_session, clock, store, nurse,
                                                ready_for_dose):
    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    assert chart.header.elapsed.text() == "—" and "not dosed yet" in chart.header.elapsed_caption.text()
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    chart.refresh()
    clock.advance(hours=1, minutes=2, seconds=3)
    chart.tick()
    assert chart.header.elapsed.text() == "1 h 02 min"


def test_infusion_pause_resume_and_rate_change_add_up(qtbot, open_chart, store, infusion_session, clock,
                                                      ready_for_dose):
    ready_for_dose(infusion_session)
    chart = open_chart(infusion_session)
    panel = chart.dose_panel
    panel.rate.setText("60")
    click(qtbot, panel.start_button)
    clock.advance(minutes=10)  # 10 mg
    click(qtbot, panel.pause_button)
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    clock.advance(minutes=10)  # paused: nothing
    chart.tick()
    assert panel.delivered.text().startswith("Delivered 10 mg") and "Paused" in panel.status.text()
    click(qtbot, panel.resume_button)
    clock.advance(minutes=5)  # 5 mg
    panel.rate.selectAll()
    qtbot.keyClicks(panel.rate, "30")
    click(qtbot, panel.rate_button)
    clock.advance(minutes=10)  # 5 mg
    chart.tick()
    assert panel.delivered.text() == "Delivered 20 mg of 30.5 mg"
    assert "Running at 30 mg/h" in panel.status.text()
    assert [d.kind for d in load_chart(store, infusion_session).doses] == [
        "infusion_start", "infusion_pause", "infusion_resume", "infusion_rate"]


def test_a_dose_time_is_corrected_from_the_log(qtbot, open_chart, store, esketamine_session, clock,
                                               ready_for_dose):
    from datetime import timedelta

    from ketamon.gui.widgets import local_hm

    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    click(qtbot, chart.dose_panel.device_buttons[0])
    (given,) = load_chart(store, esketamine_session).doses
    clock.advance(minutes=3)
    log = chart.event_log
    log.select_entry("dose_event", given.id)
    click(qtbot, log.correct_button)
    dialog = log.correction_dialog
    assert dialog.fields["at"].text() == local_hm(given.at)
    earlier = given.at.replace(second=0, microsecond=0) - timedelta(minutes=1)
    dialog.fields["at"].setText(local_hm(earlier))
    dialog.fields["amount_mg"].setText("28")
    qtbot.keyClicks(dialog.reason, "pressed the button late")
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: log.correction_dialog is None)
    (d,) = load_chart(store, esketamine_session).doses
    assert d.supersedes_id == given.id and d.correction_reason == "pressed the button late"
    assert d.at == earlier and d.amount_mg == 28.0
    assert chart.plot._event_labels[0].x == earlier.timestamp()  # the plot moved the mark too
    assert any("Correction: pressed the button late" in r for r in log.rows_text())
    assert "Dose event corrected" in log.message.text()


def test_a_device_during_the_rest_asks_for_the_reason(qtbot, open_chart, store, esketamine_session, clock,
                                                      ready_for_dose, responder):
    """The rest is the core's rule (ops.record_dose); the panel asks the nurse for
    the deviation's reason through the prompts seam and keeps the countdown."""
    ready_for_dose(esketamine_session)
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    first, second = panel.device_buttons
    click(qtbot, first)
    clock.advance(minutes=4, seconds=59)
    chart.tick()
    assert panel.countdown.text() == "Rest 1 s before device 2"

    responder.texts = [None]  # the nurse cancels the question
    click(qtbot, second)
    assert responder.shown[-1][:2] == ("ask_text", "Device during the rest")
    assert "has 1 s to run" in responder.shown[-1][2]
    assert [d.device_number for d in load_chart(store, esketamine_session).doses] == [1]
    assert panel.message.is_refusal and "Device 2 not recorded" in panel.message.text()
    assert panel.countdown.text() == "Rest 1 s before device 2"

    responder.texts = ["patient has to leave for transport"]
    click(qtbot, second)
    loaded = load_chart(store, esketamine_session)
    assert [d.device_number for d in loaded.doses] == [1, 2]
    assert "protocol deviation" in panel.message.text()
    assert [a.condition_key for a in loaded.alerts if a.cleared_at is None] == ["protocol_deviation"]


def test_a_rate_above_the_maximum_is_refused_for_a_nurse_and_confirmed_by_a_physician(
        qtbot, open_chart, store, infusion_session, ready_for_dose, runner, actors, responder):
    # 61 kg: maximum 1.125 mg/kg/h = 68.6 mg/h
    ready_for_dose(infusion_session)
    chart = open_chart(infusion_session)
    panel = chart.dose_panel
    panel.rate.setText("200")
    click(qtbot, panel.start_button)
    assert load_chart(store, infusion_session).doses == []
    assert panel.message.is_refusal and "a physician must confirm" in panel.message.text()
    assert not responder.shown  # a nurse is not asked for a reason she cannot give

    runner.set_actor(actors["physician"])
    responder.texts = ["bolus ordered by the anaesthetist"]
    panel.rate.setText("90")
    click(qtbot, panel.start_button)
    assert responder.shown[-1][:2] == ("ask_text", "Rate above the protocol's maximum")
    [start] = load_chart(store, infusion_session).doses
    assert start.rate_mg_per_h == 90 and "bolus ordered by the anaesthetist" in start.comment
