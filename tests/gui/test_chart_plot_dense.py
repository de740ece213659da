"""A 12-hour 1 Hz device session is drawn downsampled (each pixel keeps its bin's
lowest and highest value, 1-px pens, no symbols), so a single out-of-range reading
is still on the screen; a short manual session keeps its symbols and pens."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ketamon.gui.chart_plot import VitalsPlot

START = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


def vital_set(second: int, *, systolic=None, diastolic=None, heart_rate=70.0, spo2=97.0):
    return SimpleNamespace(measured_at=START + timedelta(seconds=second), systolic=systolic,
                           diastolic=diastolic, heart_rate=heart_rate, spo2=spo2)


def chart_of(vitals) -> SimpleNamespace:
    """What VitalsPlot.show_chart reads of a Chart."""
    return SimpleNamespace(vitals=vitals, doses=[], side_effects=[], session=SimpleNamespace(scheduled_at=START),
                           now=vitals[-1].measured_at)


@pytest.fixture
def plot(qtbot):
    # in a window of its own, as in the chart (pyqtgraph's close() of a top-level
    # GraphicsView crashes on teardown)
    window = QWidget()
    qtbot.addWidget(window)
    widget = VitalsPlot(window)
    QVBoxLayout(window).addWidget(widget)
    window.resize(1366, 420)
    window.show()
    qtbot.waitExposed(window)
    yield widget  # the window lives as long as the test (qtbot keeps only a weak reference)


def shown(plot: VitalsPlot, name: str) -> np.ndarray:
    """The values the curve draws at the plot's width (after downsampling and clipping)."""
    curve = plot.curves[name]
    curve.updateItems()
    return curve.getData()[1]


def test_a_single_spike_in_a_12_hour_1_hz_series_is_still_drawn(qtbot, plot):
    seconds = 12 * 3600
    vitals = [vital_set(i) for i in range(seconds)]
    vitals[21_017] = vital_set(21_017, spo2=79.0)       # one desaturation
    vitals[30_001] = vital_set(30_001, heart_rate=152.0)  # one tachycardic beat
    plot.show_chart(chart_of(vitals))
    qtbot.waitUntil(lambda: len(shown(plot, "spo2")) < seconds / 4)  # downsampled to the screen

    assert 79.0 in shown(plot, "spo2") and shown(plot, "spo2").max() == 97.0
    assert 152.0 in shown(plot, "heart_rate")
    assert len(plot.series("spo2")[1]) == seconds  # every reading kept behind the drawing
    spo2 = plot.curves["spo2"]
    assert spo2.opts["symbol"] is None and not spo2.opts["antialias"]
    assert spo2.opts["pen"].width() <= 1 and spo2.opts["pen"].isCosmetic()


def test_a_short_manual_session_keeps_its_symbols_and_pens(qtbot, plot):
    vitals = [vital_set(i * 300, systolic=120.0 + i, diastolic=80.0, heart_rate=72.0, spo2=98.0)
              for i in range(24)]
    plot.show_chart(chart_of(vitals))

    curves = plot.curves
    assert [curves[n].opts["symbol"] for n in ("systolic", "diastolic", "heart_rate", "spo2")] == \
        ["t", "t1", "o", "s"]
    assert all(c.opts["antialias"] for c in curves.values())
    assert curves["heart_rate"].opts["pen"].widthF() == 2
    assert list(shown(plot, "systolic")) == [120.0 + i for i in range(24)]  # every set, not downsampled
    assert len(plot.bp_bars.getData()[0]) == 48  # each ▼ joined to its ▲


def test_the_cached_axes_draw_the_new_times_when_the_clock_moves_the_window(qtbot, plot):
    """The axes are drawn from a picture kept of the screen's pixels (it halved each
    repaint); when the time window moves on, the time labels and grid are drawn anew."""
    from PySide6.QtWidgets import QGraphicsItem

    vitals = [vital_set(i * 300, systolic=120.0, diastolic=80.0, heart_rate=72.0, spo2=98.0) for i in range(6)]
    plot.show_chart(chart_of(vitals))
    axis = plot.spo2_plot.getAxis("bottom")
    assert axis.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache

    def time_labels():
        top_left = plot.mapFromScene(axis.mapToScene(axis.boundingRect().topLeft()))
        return plot.grab().toImage().copy(top_left.x(), top_left.y(), int(axis.width()), int(axis.height()))

    before = time_labels()
    plot.set_now(START + timedelta(hours=3))  # the clock runs on: the window's right edge moves
    edge = (START + timedelta(hours=3)).timestamp()
    qtbot.waitUntil(lambda: plot.events_plot.getViewBox().viewRange()[0][1] > edge)
    after = time_labels()
    assert before.size() == after.size() and before != after
    # and what is drawn is what a fresh drawing of the axis gives
    axis.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    assert time_labels() == after
