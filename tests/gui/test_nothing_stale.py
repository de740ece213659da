"""Nothing stale on the chair screen (issue 10, point 4): the banner follows a
correction, messages go when the user changes, Acknowledge is enabled only when
it would act, and the pre-dose refusal leaves once the checks are complete."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.gui.main_window import MainWindow


def test_the_banner_says_8_after_nausea_9_is_corrected_to_8(qtbot, open_chart, runner, infusion_session):
    chart = open_chart(infusion_session)
    eid = runner.run(ops.record_side_effect, infusion_session, "nausea", score=9).created[0][1]
    banner = chart.alerts.banner
    assert "Nausea 9/10" in banner.message.text()
    runner.run(ops.record_side_effect, infusion_session, "nausea", score=8, supersedes_id=eid,
               correction_reason="patient said eight")
    assert "Nausea 8/10" in banner.message.text() and "9/10" not in banner.message.text()
    assert not any("9/10" in line for line in chart.alerts.list.items_text("patient"))


def test_acknowledge_is_disabled_on_an_acknowledged_banner(qtbot, open_chart, runner, infusion_session,
                                                            clock):
    chart = open_chart(infusion_session)
    runner.run(ops.record_side_effect, infusion_session, "sedation", score=1)
    banner = chart.alerts.banner
    qtbot.mouseClick(banner.ack_button, Qt.MouseButton.LeftButton)
    assert "(acknowledged)" in banner.message.text() and not banner.ack_button.isEnabled()
    runner.run(ops.record_side_effect, infusion_session, "nausea", score=9)  # a lower alert, not acknowledged
    assert "(acknowledged)" in banner.message.text()
    assert banner.ack_button.isEnabled() and banner.ack_button.text() == "Acknowledge 1 more (F9)"
    qtbot.mouseClick(banner.ack_button, Qt.MouseButton.LeftButton)
    assert not banner.ack_button.isEnabled() and banner.ack_button.text() == "Acknowledge (F9)"
    clock.advance(minutes=3)  # the tone's pause runs out: the alert sounds again, and says so
    chart.tick()
    assert banner.ack_button.isEnabled() and "(acknowledged, sounding again)" in banner.message.text()


def test_messages_are_cleared_when_another_user_signs_in(qtbot, runner, store, actors, infusion_session):
    window = MainWindow(runner, idle_lock=False)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    chart = window.open_session(infusion_session)
    row = chart.vitals_row
    row.fields["heart_rate"].setFocus()
    qtbot.keyClicks(row.fields["heart_rate"], "72")
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    assert row.message.text().startswith("✓ Vital signs saved")
    assert window.status_message.text().startswith("✓ Vital signs saved")
    runner.set_actor(actors["physician"])
    assert row.message.text() == "" and not row.message.isVisible()
    assert window.status_message.text() == ""
    window.show_status("Note saved")
    runner.set_actor(actors["physician"])  # the same user again (an unlock): what was said stays
    assert window.status_message.text() == "✓ Note saved"


def test_a_pre_dose_refusal_leaves_once_the_checks_are_complete(qtbot, open_chart, store, nurse,
                                                                esketamine_session, ready_for_dose):
    chart = open_chart(esketamine_session)
    panel = chart.dose_panel
    qtbot.mouseClick(panel.device_buttons[0], Qt.MouseButton.LeftButton)
    assert panel.message.is_refusal and "Consent" in panel.message.text()
    ready_for_dose(esketamine_session, baseline=True)
    # the last check saved at this workstation (a note): the chart refreshes from the record
    chart.runner.run(ops.add_note, esketamine_session, "checks done")
    qtbot.waitUntil(lambda: not panel.message.is_refusal)
    assert "Pre-dose checks complete" in chart.record_bar.summary.text()


def test_the_review_queue_shows_an_alert_of_a_reading_entered_in_error_as_closed(store, nurse, infusion_session):
    from ketamon.core import alert_views, alerts
    from ketamon.gui.review_queue import state_summary

    eid = ops.record_side_effect(store, nurse, infusion_session, "nausea", score=9).result
    ops.record_side_effect(store, nurse, infusion_session, "nausea", supersedes_id=eid, retracted=True,
                           correction_reason="wrong chair")
    (a,) = alert_views.review_queue(store, unreviewed_only=False)
    assert state_summary(a, store.clock.now()).startswith(alerts.ENTERED_IN_ERROR)
    assert alert_views.review_queue(store) == []  # nothing left for the physician to review
