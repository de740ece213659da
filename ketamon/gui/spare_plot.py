"""The plot of the next chart opened, built ahead.

Building a session chart's VitalsPlot (pyqtgraph's three plot items, their axes
and curves) is about a third of opening a chart. It holds nothing of a session
until the chart shows its data, so the main window builds one on the idle turn
after a chart is drawn, and the next chart opened takes it ready-made. This
module does not import pyqtgraph: the window is drawn before pyqtgraph is loaded
(ketamon.gui.app).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ketamon.gui.chart_plot import VitalsPlot


class SparePlot(QObject):
    """At most one VitalsPlot waiting, hidden in `holder` (the main window), which
    deletes it with itself."""

    def __init__(self, holder: QWidget):
        super().__init__(holder)
        self.holder = holder
        self._plot: VitalsPlot | None = None

    def prepare(self) -> None:
        """Build the spare, unless one is waiting."""
        if self._plot is None:
            from ketamon.gui.chart_plot import VitalsPlot

            self._plot = VitalsPlot(self.holder)
            self._plot.hide()

    def take(self) -> VitalsPlot | None:
        """The spare (the caller gives it its place and shows it), or None."""
        plot, self._plot = self._plot, None
        return plot
