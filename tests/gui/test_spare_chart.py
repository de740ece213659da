"""The next chart opened is built ahead, on the idle turns after a chart is drawn
(ketamon.gui.spare_chart): its plot on one turn, its other widgets on the next;
the next chart opened takes it and shows its own session in it, and nothing of it
is on the screen while it waits."""
from __future__ import annotations

from ketamon.core import ops
from ketamon.gui.chart_view import SessionChart
from ketamon.gui.first_paint import FirstPaint
from tests.gui.conftest import shown_window


def test_the_next_chart_takes_the_chart_built_while_the_window_was_idle(
        qtbot, runner, store, nurse, esketamine_session, infusion_session, ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_vitals(store, nurse, esketamine_session, systolic=131, diastolic=82, heart_rate=71, spo2=98)
    ops.add_note(store, nurse, esketamine_session, "Calm, talking with her partner")
    w = shown_window(qtbot, runner)

    first = w.open_session(infusion_session)
    # what waits for its first paint watches its viewport alone, not every event of the application
    watch = first.plot.viewport().findChild(FirstPaint)
    assert watch is not None and watch.watched is first.plot.viewport()
    # once the first chart is drawn, a chart waits: unbound, styled, hidden, outside the stack's pages
    qtbot.waitUntil(lambda: w.spare_chart.ready)
    spare = w.spare_chart.waiting
    assert isinstance(spare, SessionChart) and spare.session_id is None
    assert not spare.isVisible() and w.chart_stack.indexOf(spare) < 0 and spare.plot is not first.plot

    second = w.open_session(esketamine_session)
    assert second is spare and w.spare_chart.waiting is None and w.current_chart() is second
    qtbot.waitUntil(lambda: second.plot.isVisible() and second.plot.width() > 300)
    # it shows its own session in every part: the first chart's are its own
    assert second.session_id == esketamine_session and second.plot.series("systolic")[1] == [120.0, 131.0]
    assert first.plot.series("systolic")[1] == []
    assert "Calm, talking with her partner" in " ".join(second.event_log.rows_text())
    assert "Esketamine" in second.header.session_facts.text() and second.dose_panel.session_id == esketamine_session
    assert type(second.dose_panel) is not type(first.dose_panel)  # the nasal spray's, not the infusion's
    assert second.record_bar.session_id == esketamine_session
    # it saves to its own session
    for name, value in (("systolic", 127), ("diastolic", 80)):
        second.vitals_row.fields[name].setText(str(value))
    second.vitals_row.save()
    assert second.plot.series("systolic")[1] == [120.0, 131.0, 127.0]
    assert first.plot.series("systolic")[1] == []
    # and the window prepares the next one
    qtbot.waitUntil(lambda: w.spare_chart.waiting is not None and w.spare_chart.waiting is not spare)


def test_a_chart_built_ahead_looks_as_one_built_for_its_session(qtbot, runner, store, nurse, esketamine_session,
                                                                   infusion_session, ready_for_dose):
    """The same session in a chart built ahead and in one built for it: the same picture."""
    ready_for_dose(esketamine_session)
    ops.record_vitals(store, nurse, esketamine_session, systolic=131, diastolic=82, heart_rate=71, spo2=98)
    ops.add_note(store, nurse, esketamine_session, "Calm, talking with her partner")

    ahead = shown_window(qtbot, runner)
    ahead.open_session(infusion_session)
    qtbot.waitUntil(lambda: ahead.spare_chart.waiting is not None)
    a = ahead.open_session(esketamine_session)
    fresh = shown_window(qtbot, runner)  # the same two charts, the second built for its session (no idle turn between)
    fresh.open_session(infusion_session)
    b = fresh.open_session(esketamine_session)
    assert fresh.spare_chart.waiting is None and b.session_id == esketamine_session
    for chart in (a, b):
        qtbot.waitUntil(lambda c=chart: c.plot.isVisible())
        chart.tick()
        chart.vitals_row.fields["systolic"].clearFocus()  # one window is active, the other not: its caret
    assert a.event_log.rows_text() == b.event_log.rows_text() and a.header.name.text() == b.header.name.text()
    assert a.grab().toImage() == b.grab().toImage()
