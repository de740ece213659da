"""The banner flashes like a bedside monitor's: an unacknowledged high alert
fast (~2 Hz), a medium one slowly, and it is steady in its colour once
acknowledged, when nothing is active, while hidden, or with KETAMON_NO_FLASH=1."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ketamon.gui.alerts_panel import FLASH_MS


def enter_vitals(qtbot, chart, **values) -> None:
    """Type a set into the chart's vital-signs row and press Enter, as a nurse does."""
    field = None
    for name, value in values.items():
        field = chart.vitals_row.fields[name]
        field.setFocus()
        qtbot.keyClicks(field, str(value))
    qtbot.keyClick(field, Qt.Key.Key_Return)


def banner(chart):
    return chart.alerts.banner


def test_an_unacknowledged_high_alert_flashes_fast_until_f9(qtbot, open_chart, infusion_session):
    chart = open_chart(infusion_session)
    b = banner(chart)
    assert not b.flashing and b.flash_interval_ms == 0  # no alert: no timer at all
    enter_vitals(qtbot, chart, systolic=186, diastolic=92, heart_rate=80)
    assert b.property("role") == "high"
    assert b.flashing and b.flash_interval_ms == FLASH_MS["high"] == 250
    first = b.flash_phase
    qtbot.waitUntil(lambda: b.flash_phase != first, timeout=2000)
    qtbot.waitUntil(lambda: b.flash_phase == first, timeout=2000)  # and back: it alternates

    qtbot.waitUntil(chart.isActiveWindow)
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_F9)
    assert "(acknowledged)" in b.message.text()
    assert not b.flashing and b.flash_interval_ms == 0
    assert b.property("role") == "high" and b.flash_phase is False  # steady, in red itself


def test_a_medium_alert_flashes_slowly_and_the_button_stops_it(qtbot, open_chart, infusion_session):
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=165, diastolic=85)
    b = banner(chart)
    assert b.property("role") == "medium" and b.mark.text() == "**"
    assert b.flashing and b.flash_interval_ms == FLASH_MS["medium"] == 800
    first = b.flash_phase
    qtbot.waitUntil(lambda: b.flash_phase != first, timeout=3000)

    qtbot.mouseClick(b.ack_button, Qt.MouseButton.LeftButton)
    assert not b.flashing and b.flash_phase is False and b.property("role") == "medium"


def test_a_cleared_condition_stops_the_timer(qtbot, open_chart, infusion_session, clock):
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=165, diastolic=85)
    b = banner(chart)
    assert b.flashing
    clock.advance(minutes=5)
    enter_vitals(qtbot, chart, systolic=132, diastolic=80)
    assert b.message.text() == "No active alerts" and b.property("role") == "quiet"
    assert not b.flashing and b.flash_phase is False


def test_a_hidden_chart_runs_no_timer_and_resumes_when_shown(qtbot, open_chart, infusion_session):
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=186, diastolic=92)
    b = banner(chart)
    assert b.flashing
    chart.hide()
    assert not b.flashing
    chart.show()
    qtbot.waitExposed(chart)
    assert b.flashing and b.flash_interval_ms == 250


def test_no_flash_switch_keeps_the_banner_steady(qtbot, open_chart, infusion_session, monkeypatch):
    monkeypatch.setenv("KETAMON_NO_FLASH", "1")
    chart = open_chart(infusion_session)
    enter_vitals(qtbot, chart, systolic=186, diastolic=92)
    b = banner(chart)
    assert b.property("role") == "high" and "(acknowledged)" not in b.message.text()
    assert not b.flashing and b.flash_interval_ms == 0 and b.flash_phase is False


def _text_colour(widget) -> str:
    return widget.palette().color(widget.foregroundRole()).name()


def test_the_alert_text_takes_its_priority_colour_in_both_phases(qtbot, open_chart, infusion_session, clock):
    """White on red, whichever phase the flash is in and whatever the banner showed
    before: the message kept the quiet banner's dark text on red (a style keyed on
    the banner's role reached only the banner, not its labels)."""
    from ketamon.gui.theme import colour

    chart = open_chart(infusion_session)
    b = banner(chart)
    assert b.property("role") == "quiet" and _text_colour(b.message) == colour("text_muted")
    enter_vitals(qtbot, chart, systolic=186, diastolic=92, heart_rate=80)
    assert b.property("role") == "high"
    for phase in (b.flash_phase, not b.flash_phase):
        qtbot.waitUntil(lambda: b.flash_phase == phase, timeout=2000)
        assert _text_colour(b.message) == _text_colour(b.mark) == colour("alert_high_text")
    clock.advance(minutes=1)
    enter_vitals(qtbot, chart, systolic=120, diastolic=80)  # the high condition clears
    clock.advance(minutes=1)
    enter_vitals(qtbot, chart, systolic=165, diastolic=85)  # a medium one
    qtbot.waitUntil(lambda: b.property("role") == "medium")
    assert _text_colour(b.message) == colour("alert_medium_text")
