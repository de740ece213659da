"""The next chart opened, built ahead.

Opening a session's chart was mostly building its widgets: pyqtgraph's three plot
items with their axes and curves, then some 300 widgets around them (header, entry
rows, side effects, log, alert panels), each styled by the clinic's style sheet.
None of that holds anything of a session until the chart shows its data, so on the
idle turns after a chart is drawn the main window builds the next one: the plot on
one turn, the widgets around it on the next, so that each pause stays short. The next chart opened takes it, hidden in the chart stack, and
reads its session into it (`SessionChart.bind`): the dose panel of its route and
the record bar are the only parts built then.

This module does not import pyqtgraph: the window is drawn before pyqtgraph is
loaded (ketamon.gui.app).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ketamon.gui.chart_plot import VitalsPlot
    from ketamon.gui.chart_view import SessionChart
    from ketamon.gui.runner import OpRunner


class SpareChart(QObject):
    """At most one chart waiting, unbound and hidden in `stack` (the main window's
    chart stack, where a chart lives: moving a built chart into another parent
    would style its widgets again), which deletes it with itself."""

    def __init__(self, runner: OpRunner, stack: QWidget):
        super().__init__(stack)
        self.runner, self.stack = runner, stack
        self._plot: VitalsPlot | None = None
        self._chart: SessionChart | None = None

    def prepare(self) -> None:
        """Build the next chart's plot now and its other widgets on the next turn of
        the event loop, unless a chart is waiting."""
        if self._chart is not None:
            return
        if self._plot is None:
            from ketamon.gui.chart_plot import VitalsPlot

            self._plot = VitalsPlot(self.stack)
            self._plot.hide()
        QTimer.singleShot(0, self, self.finish)

    def finish(self) -> None:
        """The widgets around the waiting plot, styled now rather than when opened
        (most are styled as they are built: what is left takes under a millisecond)."""
        if self._chart is not None or self._plot is None:
            return
        from ketamon.gui.chart_view import SessionChart

        plot, self._plot = self._plot, None
        chart = SessionChart(self.runner, None, self.stack, plot=plot)
        chart.hide()
        chart.ensurePolished()
        self._chart = chart

    @property
    def waiting(self) -> SessionChart | None:
        """The chart built ahead, if one waits (not taken)."""
        return self._chart

    @property
    def ready(self) -> bool:
        """A chart waits, built and styled."""
        return self._chart is not None and self._chart.testAttribute(Qt.WidgetAttribute.WA_WState_Polished)

    def take(self) -> SessionChart | None:
        """The waiting chart, unbound (the caller binds it and shows it), or None."""
        chart, self._chart = self._chart, None
        return chart

    def give_back(self, chart: SessionChart) -> None:
        """A chart taken (or built) but not bound, its session could not be read: it
        waits for the next, unless one already does."""
        if self._chart is None and chart.session_id is None:
            self._chart = chart
        else:
            chart.deleteLater()

    def take_plot(self) -> VitalsPlot | None:
        """The waiting plot when no whole chart waits (its widgets come next turn), or None."""
        plot, self._plot = self._plot, None
        return plot
