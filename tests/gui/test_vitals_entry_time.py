"""A time typed into the vitals row is today's, never moved to another day
(issue 9: at 02:11, "02:14" was stored as yesterday 02:14 and the plot spanned
24 hours). Driven through the real row with a FakeClock at 02:11."""
from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt

from ketamon.core.chart import load_chart
from tests.gui.test_chart_vitals import type_set


def _at_0211(clock):
    """The next night, 02:11 on this workstation's clock."""
    local = (clock.now() + timedelta(days=1)).astimezone().replace(hour=2, minute=11, second=0, microsecond=0)
    clock.set(local)
    return local


def _type_time(qtbot, chart, text: str) -> None:
    type_set(qtbot, chart, "128", "80", "70")
    qtbot.keyClicks(chart.vitals_row.measured_at, text)
    qtbot.keyClick(chart.vitals_row.measured_at, Qt.Key.Key_Return)


def test_a_time_three_minutes_ahead_is_refused_not_stored_as_yesterday(qtbot, open_chart, store,
                                                                        esketamine_session, clock):
    now = _at_0211(clock)
    chart = open_chart(esketamine_session)
    _type_time(qtbot, chart, "02:14")

    row = chart.vitals_row
    assert row.message.is_refusal
    assert "02:14 is ahead of this workstation's clock (02:11)" in row.message.text()
    assert row.measured_at.property("invalid") is True and row.measured_at.text() == "02:14"
    assert load_chart(store, esketamine_session).vitals == []  # nothing stored, least of all yesterday
    assert now.hour == 2


def test_a_time_within_the_tolerance_is_today(qtbot, open_chart, store, esketamine_session, clock):
    now = _at_0211(clock)
    chart = open_chart(esketamine_session)
    _type_time(qtbot, chart, "02:12")

    (v,) = load_chart(store, esketamine_session).vitals
    assert v.measured_at == now + timedelta(minutes=1)  # today, one minute ahead: accepted
    xs, _ = chart.plot.series("systolic")
    assert xs == [v.measured_at.timestamp()]
    assert not chart.vitals_row.message.is_refusal


def test_an_earlier_time_today_is_a_late_entry_today(qtbot, open_chart, store, esketamine_session, clock):
    now = _at_0211(clock)
    chart = open_chart(esketamine_session)
    _type_time(qtbot, chart, "01:40")

    (v,) = load_chart(store, esketamine_session).vitals
    assert v.measured_at == now - timedelta(minutes=31) and v.late
