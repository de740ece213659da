"""The plot of the next chart opened is built ahead, on the idle turn after a
chart is drawn (ketamon.gui.spare_plot): the next chart takes it, shows its own
session's data in it, and nothing of it is on the screen while it waits."""
from __future__ import annotations

from ketamon.core import ops
from ketamon.gui.chart_plot import VitalsPlot
from ketamon.gui.first_paint import FirstPaint
from ketamon.gui.main_window import MainWindow


def test_the_next_chart_takes_the_plot_built_while_the_window_was_idle(
        qtbot, runner, store, nurse, esketamine_session, infusion_session, ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_vitals(store, nurse, esketamine_session, systolic=131, diastolic=82, heart_rate=71, spo2=98)
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)

    first = w.open_session(infusion_session)
    # what waits for its first paint watches its viewport alone, not every event of the application
    watch = first.plot.viewport().findChild(FirstPaint)
    assert watch is not None and watch.watched is first.plot.viewport()
    # once the first chart is drawn, a spare plot waits, hidden and outside every layout
    qtbot.waitUntil(lambda: w.spare_plot._plot is not None)
    spare = w.spare_plot._plot
    assert isinstance(spare, VitalsPlot) and not spare.isVisible() and spare is not first.plot

    second = w.open_session(esketamine_session)
    assert second.plot is spare and w.spare_plot._plot is None
    qtbot.waitUntil(lambda: second.plot.isVisible() and second.plot.width() > 300)
    assert second.plot.parentWidget() is second.splitter.widget(0)
    # it draws its own session's set, and the first chart's plot is its own
    assert second.plot.series("systolic")[1] == [120.0, 131.0]  # the baseline and the set above
    assert first.plot.series("systolic")[1] == []
    # and the window prepares the next one
    qtbot.waitUntil(lambda: w.spare_plot._plot is not None and w.spare_plot._plot is not spare)
