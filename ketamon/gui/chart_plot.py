"""The session's vital-signs plot on a real (local) time axis, drawn the way an
anaesthesia record is: systolic ▼ and diastolic ▲ joined by a bar, heart rate ●,
SpO2 on its own panel below, dose events and side effects marked on an events
lane at the top with lines down through the plots.

For the chart's other parts (the alert parts draw the limit lines):
- `VitalsPlot.set_limit_bands(bands)` draws limit lines/bands (`LimitBand`).
- `VitalsPlot.plot_for(parameter)` gives the pyqtgraph PlotItem a parameter is
  drawn on, for anything else that needs to be drawn there.

It only draws what it is given (`show_chart`), never queries the database.
After a saved entry it appends the new sets to the arrays it drew before (a
12-hour 1 Hz session has 43 200 sets; rebuilding every point for each entry took
longer than the nurse's next keystroke); big series are drawn downsampled and
clipped to the view.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsTextItem, QMenu, QWidget

from ketamon.core.chart import Chart
from ketamon.core.models import DoseEvent, SideEffect
from ketamon.gui.theme import colour, point_size

#: above this many points, draw lines without symbols (device data at 1 Hz),
#: downsampled to the screen's pixels and clipped to the visible time
SYMBOLS_UP_TO = 400
#: the values plotted, each a column of the sets drawn
PLOTTED = ("systolic", "diastolic", "heart_rate", "spo2")
LEFT_AXIS_WIDTH = 84
#: the plot's protected height: the BP and SpO2 panels stay readable on a 1366×768 screen
MIN_HEIGHT = 190
EVENT_ROWS = (0.82, 0.5, 0.18)
#: the width of the strip right of the data where the limit lines are labelled
RIGHT_AXIS_WIDTH = 78
#: the lowest SpO2 the panel shows (a lower reading widens it): 87 and 92 stay far apart
SPO2_FLOOR = 84.0
#: the SpO2 panel's share of the height the two panels have
SPO2_SHARE = 0.5


@dataclass(frozen=True)
class LimitBand:
    """A limit to show on the plot: a line at `low` and/or `high` for a parameter
    (systolic, diastolic, heart_rate, spo2), shaded outside when `shade`."""

    parameter: str
    low: float | None = None
    high: float | None = None
    tier: str = "abnormal"  # abnormal | critical
    label: str = ""
    colour: str | None = None
    shade: bool = False


def _ts(when: datetime) -> float:
    return when.timestamp()


def _columns(vitals) -> dict[str, np.ndarray]:
    """Time ("t", epoch seconds) and each plotted value of `vitals` as float arrays,
    NaN where a set has no value."""
    n = len(vitals)
    cols = {"t": np.fromiter((v.measured_at.timestamp() for v in vitals), dtype=float, count=n)}
    for name in PLOTTED:
        cols[name] = np.array([getattr(v, name) for v in vitals], dtype=float) if n else np.empty(0)
    return cols


def dose_label(d: DoseEvent) -> str:
    if d.kind == "nasal_device":
        return f"Device {d.device_number}"
    if d.kind == "im_injection":
        return f"IM {d.amount_mg:g} mg" if d.amount_mg is not None else "IM injection"
    short = {"infusion_start": "Start", "infusion_rate": "Rate", "infusion_pause": "Pause",
             "infusion_resume": "Resume", "infusion_stop": "Stop"}[d.kind]
    if d.kind in ("infusion_start", "infusion_rate") and d.rate_mg_per_h is not None:
        short += f" {d.rate_mg_per_h:g} mg/h"
    return short


def side_effect_label(e: SideEffect) -> str:
    names = {"dissociation": "Dissociation", "sedation": "MOAA/S", "nausea": "Nausea", "vomiting": "Vomiting",
             "dizziness": "Dizziness", "headache": "Headache", "anxiety": "Anxiety",
             "hallucinations": "Hallucinations", "respiratory_depression": "Resp. depression", "other": "Other"}
    text = names.get(e.kind, e.kind)
    if e.score is not None:
        text += f" {e.score:g}"
    return text


class VitalsPlot(pg.GraphicsLayoutWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground(colour("plot_background"))
        self.setMinimumHeight(MIN_HEIGHT)
        self.ci.layout.setContentsMargins(4, 4, 12, 4)
        self.ci.layout.setVerticalSpacing(0)
        self._tick_font = QFont()
        self._tick_font.setPointSizeF(point_size("font_size_small"))
        self._label_font = QFont()
        self._label_font.setPointSizeF(point_size("font_size_small"))

        # enableMenu=False: the menus are off (_style_plots) and each ViewBox menu took
        # ~50 ms to build, three per chart opened
        self.events_plot = self.addPlot(row=0, col=0, axisItems={"bottom": pg.DateAxisItem()}, enableMenu=False)
        self.bp_plot = self.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()}, enableMenu=False)
        self.spo2_plot = self.addPlot(row=2, col=0, axisItems={"bottom": pg.DateAxisItem()}, enableMenu=False)
        for p in (self.bp_plot, self.spo2_plot):
            p.setXLink(self.events_plot)
        self.ci.layout.setRowStretchFactor(0, 0)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.ci.layout.setRowStretchFactor(2, 2)
        self.events_plot.setFixedHeight(48)
        self._style_plots()

        bp, hr = colour("plot_bp"), colour("plot_hr")
        #: the key to the symbols, in the margin left of the events lane (never over data)
        self.legend = QGraphicsTextItem(self.events_plot.getAxis("left"))
        self.legend.setFont(self._label_font)
        self.legend.setHtml(f'<span style="color:{bp}">▼ Sys</span><br><span style="color:{bp}">▲ Dia</span><br>'
                            f'<span style="color:{hr}">● HR /min</span>')
        self.legend.setPos(-2, -6)
        self.curves: dict[str, pg.PlotDataItem] = {
            "systolic": self.bp_plot.plot([], [], name="Systolic ▼", pen=pg.mkPen(bp, width=1.5),
                                          symbol="t", symbolSize=13, symbolBrush=bp, symbolPen=bp, antialias=True),
            "diastolic": self.bp_plot.plot([], [], name="Diastolic ▲", pen=pg.mkPen(bp, width=1.5,
                                                                                   style=Qt.PenStyle.DashLine),
                                           symbol="t1", symbolSize=13, symbolBrush=bp, symbolPen=bp,
                                           antialias=True),
            "heart_rate": self.bp_plot.plot([], [], name="Heart rate ●", pen=pg.mkPen(hr, width=2),
                                            symbol="o", symbolSize=8, symbolBrush=hr, symbolPen=hr,
                                            antialias=True),
            "spo2": self.spo2_plot.plot([], [], pen=pg.mkPen(colour("plot_spo2"), width=2), symbol="s",
                                        symbolSize=7, symbolBrush=colour("plot_spo2"),
                                        symbolPen=colour("plot_spo2"), antialias=True),
        }
        self._symbols = {name: curve.opts["symbol"] for name, curve in self.curves.items()}
        #: the sets drawn (the last chart's in-force vitals) and their columns (_columns)
        self._drawn: list = []
        self._cols: dict[str, np.ndarray] = _columns([])
        #: the bar joining each systolic ▼ to its diastolic ▲
        self.bp_bars = pg.PlotDataItem([], [], connect="pairs", pen=pg.mkPen(colour("plot_bp_bar"), width=3))
        self.bp_bars.setZValue(-1)
        self.bp_plot.addItem(self.bp_bars)

        now_pen = pg.mkPen(colour("plot_now"), width=1, style=Qt.PenStyle.DotLine)
        self._now_lines = [pg.InfiniteLine(angle=90, pen=now_pen) for _ in range(3)]
        for p, line in zip((self.events_plot, self.bp_plot, self.spo2_plot), self._now_lines):
            p.addItem(line, ignoreBounds=True)

        self._event_items: list = []
        #: (time, label) of each dose and side effect drawn, to skip redrawing the same marks
        self._event_marks: list | None = None
        #: (x, item, text width px, text when left of its mark, text when right of it)
        self._event_labels: list[tuple[float, pg.TextItem, float, str, str]] = []
        self._band_items: list = []
        self.limit_bands: list[LimitBand] = []
        self.follow = True
        self._window: tuple[float, float] | None = None
        self._updating_range = False
        self.bp_plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        self.spo2_plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        self.events_plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._relayout_soon())
        self._relayout_timer = QTimer(self, singleShot=True, interval=0, timeout=self._layout_event_labels)

    # ------------------------------------------------------------ look

    def _adopt_menus(self) -> None:
        """pyqtgraph makes its context menus without a parent; give them this widget
        as parent so they are deleted with it instead of living on as windows."""
        for p in (self.events_plot, self.bp_plot, self.spo2_plot):
            for menu in (getattr(p, "ctrlMenu", None), getattr(p.getViewBox(), "menu", None)):
                if isinstance(menu, QMenu) and menu.parent() is None:
                    menu.setParent(self, menu.windowFlags())

    def _style_plots(self) -> None:
        self._adopt_menus()
        axis_pen = pg.mkPen(colour("plot_axis"))
        text_pen = pg.mkPen(colour("text"))
        for p in (self.events_plot, self.bp_plot, self.spo2_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.getViewBox().setMouseEnabled(x=True, y=False)
            for name in ("left", "bottom"):
                ax = p.getAxis(name)
                ax.setPen(axis_pen)
                ax.setTextPen(text_pen)
                ax.setStyle(tickFont=self._tick_font, tickTextOffset=6)
            p.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
            # the limit lines are labelled in a strip right of the data (set_limit_bands)
            p.showAxis("right")
            right = p.getAxis("right")
            right.setWidth(RIGHT_AXIS_WIDTH)
            right.setPen(pg.mkPen(None))
            right.setStyle(tickFont=self._tick_font, tickLength=0, tickTextOffset=4, hideOverlappingLabels=False)
            right.setTicks([[]])
        label_style = {"color": colour("text_muted"), "font-size": "11pt"}
        self.bp_plot.setLabel("left", "mmHg", **label_style)
        self.spo2_plot.setLabel("left", "SpO2 %", **label_style)
        self.bp_plot.showGrid(x=True, y=True, alpha=0.25)
        self.spo2_plot.showGrid(x=True, y=True, alpha=0.25)
        for p in (self.bp_plot, self.spo2_plot):
            p.getAxis("right").setGrid(False)  # the left axis draws the grid; the right one only labels
        self.bp_plot.getAxis("bottom").setStyle(showValues=False)
        self.bp_plot.getAxis("bottom").setHeight(4)
        self.events_plot.getAxis("bottom").setStyle(showValues=False)
        self.events_plot.getAxis("bottom").setHeight(2)
        ev_left = self.events_plot.getAxis("left")
        ev_left.setStyle(showValues=False, tickLength=0)
        self.events_plot.setYRange(0, 1, padding=0)
        self.bp_plot.setYRange(40, 205, padding=0)
        self.bp_plot.getAxis("left").setTickSpacing(40, 20)
        self.spo2_plot.setYRange(SPO2_FLOOR, 101, padding=0)
        self.spo2_plot.getAxis("left").setTickSpacing(5, 5)
        for p in (self.bp_plot, self.spo2_plot):
            p.getViewBox().sigResized.connect(self._label_limits)
            p.getViewBox().sigYRangeChanged.connect(self._label_limits)

    # ------------------------------------------------------------ data

    def show_chart(self, chart: Chart) -> None:
        """Redraw from a freshly loaded Chart (called after every saved entry)."""
        changed = self._take_vitals(chart.vitals)
        if changed:
            cols = self._cols
            for name in PLOTTED:
                self._set_series(name, cols["t"], cols[name], appended=changed == "appended")
            paired = ~(np.isnan(cols["systolic"]) | np.isnan(cols["diastolic"]))
            count = int(paired.sum())
            if 0 < count <= SYMBOLS_UP_TO:
                xs = np.repeat(cols["t"][paired], 2)
                ys = np.column_stack((cols["systolic"][paired], cols["diastolic"][paired])).ravel()
                self.bp_bars.setData(xs, ys)
            else:
                self.bp_bars.setData([], [])
            self._fit_y()
        self._draw_events(chart)
        t = self._cols["t"]
        times = [_ts(d.at) for d in chart.doses] + [_ts(e.observed_at) for e in chart.side_effects]
        if len(t):
            times += [float(t.min()), float(t.max())]
        now = _ts(chart.now)
        start = min(times + [_ts(chart.session.scheduled_at), now]) - 300
        latest = max(times + [now])
        end = max(latest + 300, start + 3600)
        old = self._window
        if old is not None and old[0] == start and latest + 120 <= old[1] <= end:
            # set_now's rule: the right edge moves only when the newest point is within
            # 2 minutes of it. Moving it by a second with every 1 Hz set changed the
            # range, so every axis re-laid its ticks and the whole plot repainted.
            end = old[1]
        self._window = (start, end)
        self.set_now(chart.now)
        if self.follow:
            self.fit()

    def _take_vitals(self, vitals: list) -> str:
        """Bring the columns up to `vitals`: "appended" when only new sets came after
        the ones drawn (the usual case), "rebuilt" otherwise, "" when nothing changed."""
        drawn, k = self._drawn, len(self._drawn)
        if k and len(vitals) >= k and vitals[k - 1] is drawn[-1] and vitals[:k] == drawn:
            if len(vitals) == k:
                return ""
            new = _columns(vitals[k:])
            self._cols = {name: np.concatenate((col, new[name])) for name, col in self._cols.items()}
            how = "appended"
        elif not k and not vitals:
            return ""
        else:
            self._cols = _columns(vitals)
            how = "rebuilt"
        self._drawn = list(vitals)
        return how

    def _set_series(self, name: str, xs: np.ndarray, values: np.ndarray, appended: bool = False) -> None:
        present = ~np.isnan(values)
        xs, ys = xs[present], values[present]
        curve = self.curves[name]
        if appended and curve.xData is not None and len(curve.xData) == len(xs):
            return  # only sets without this value were added
        big = len(xs) > SYMBOLS_UP_TO
        curve.setSymbol(None if big else self._symbols[name])
        curve.setClipToView(big)
        curve.setDownsampling(auto=big, method="peak", ds=1)
        curve.setData(xs, ys)

    def _fit_y(self) -> None:
        cols = self._cols
        bp = np.concatenate((cols["systolic"], cols["diastolic"], cols["heart_rate"]))
        bp = bp[~np.isnan(bp)]
        low = min(40.0, float(bp.min()) - 10) if bp.size else 40.0
        high = max(205.0, float(bp.max()) + 10) if bp.size else 205.0
        self.bp_plot.setYRange(low, high, padding=0)
        spo2 = cols["spo2"][~np.isnan(cols["spo2"])]
        floor = min(SPO2_FLOOR, float(spo2.min()) - 3) if spo2.size else SPO2_FLOOR
        self.spo2_plot.setYRange(floor, 101, padding=0)

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """(timestamps, values) drawn for systolic/diastolic/heart_rate/spo2 (every
        point, before any downsampling for the screen)."""
        xs, ys = self.curves[name].getOriginalDataset()
        return ([] if xs is None else list(xs), [] if ys is None else list(ys))

    # ------------------------------------------------------------ dose and side-effect markers

    def _draw_events(self, chart: Chart) -> None:
        marks_now = [(d.at, dose_label(d)) for d in chart.doses] + \
                    [(e.observed_at, side_effect_label(e)) for e in chart.side_effects]
        if marks_now == self._event_marks:
            return  # the same marks: keep the items (building them is what is slow)
        self._event_marks = marks_now
        for plot, item in self._event_items:
            plot.removeItem(item)
        self._event_items.clear()
        self._event_labels.clear()
        metrics = QFontMetricsF(self._label_font)
        dose_colour = colour("plot_dose")
        se_colour = colour("plot_side_effect")
        line_pen = pg.mkPen(dose_colour, width=1.5, style=Qt.PenStyle.DashLine)
        se_pen = pg.mkPen(se_colour, width=1, style=Qt.PenStyle.DotLine)
        marks = [(_ts(d.at), dose_label(d), dose_label(d), dose_colour, line_pen, True) for d in chart.doses]
        marks += [(_ts(e.observed_at), "◆ " + side_effect_label(e), side_effect_label(e) + " ◆", se_colour, se_pen,
                   False) for e in chart.side_effects]
        for x, text, flipped, col, pen, is_dose in sorted(marks, key=lambda m: m[0]):
            for plot in ((self.events_plot, self.bp_plot, self.spo2_plot) if is_dose else (self.bp_plot,)):
                line = pg.InfiniteLine(pos=x, angle=90, pen=pen)
                line.setZValue(-2)
                plot.addItem(line, ignoreBounds=True)
                self._event_items.append((plot, line))
            label = pg.TextItem(text, color=col, anchor=(0, 0.5))
            label.setFont(self._label_font)
            label.setToolTip(text)
            self.events_plot.addItem(label, ignoreBounds=True)
            self._event_items.append((self.events_plot, label))
            self._event_labels.append((x, label, metrics.horizontalAdvance(text) + 10, text, flipped))
        self._layout_event_labels()

    def _relayout_soon(self) -> None:
        if self._event_labels:
            self._relayout_timer.start()

    def _layout_event_labels(self) -> None:
        """Put each label in the first events row where it does not overlap the one
        before it (widths depend on the zoom, so this reruns when the range changes)."""
        vb = self.events_plot.getViewBox()
        (x0, x1), width_px = vb.viewRange()[0], max(vb.width(), 1.0)
        per_px = (x1 - x0) / width_px if x1 > x0 else 1.0
        row_end = [float("-inf")] * len(EVENT_ROWS)
        for x, label, text_px, text, flipped_text in self._event_labels:
            width = text_px * per_px
            # near the right edge the label goes to the left of its mark, never off-screen
            flip = x + width > x1 and x - width >= x0
            label.setAnchor((1, 0.5) if flip else (0, 0.5))
            label.setText(flipped_text if flip else text)
            start, end = (x - width, x) if flip else (x, x + width)
            free = [i for i, e in enumerate(row_end) if e <= start]
            row = free[0] if free else min(range(len(row_end)), key=lambda i: row_end[i])
            row_end[row] = end
            label.setPos(x, EVENT_ROWS[row])

    # ------------------------------------------------------------ time window

    def set_now(self, now: datetime) -> None:
        for line in self._now_lines:
            line.setValue(_ts(now))
        if self._window is not None and _ts(now) + 120 > self._window[1]:
            self._window = (self._window[0], _ts(now) + 300)
            if self.follow:
                self.fit()

    def fit(self) -> None:
        """Show the whole session and follow the clock again."""
        self.follow = True
        self.share_panels()
        if self._window is not None:
            self._updating_range = True
            try:
                self.events_plot.setXRange(*self._window, padding=0)
            finally:
                self._updating_range = False

    def _user_moved(self, *_args) -> None:
        if not self._updating_range:
            self.follow = False

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if hasattr(self, "spo2_plot"):  # pyqtgraph resizes once while building
            self.share_panels()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.share_panels()

    def share_panels(self) -> None:
        """Keep the SpO2 panel at SPO2_SHARE of the panels' height, so 87 and 92
        stay apart on a small screen (pyqtgraph's row stretch gave it a third)."""
        axis = self.spo2_plot.getAxis("bottom")
        axis_height = max(axis.height(), axis.minimumHeight())
        panels = self.height() - self.events_plot.height() - axis_height - 12
        wanted = max(int(panels * SPO2_SHARE), 40) + int(axis_height)
        if self.spo2_plot.height() != wanted:
            self.spo2_plot.setFixedHeight(wanted)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.fit()
        event.accept()

    # ------------------------------------------------------------ for the chart's other parts

    def plot_for(self, parameter: str) -> pg.PlotItem | None:
        """The PlotItem a parameter is drawn on (None for ones not plotted)."""
        if parameter == "spo2":
            return self.spo2_plot
        if parameter in ("systolic", "diastolic", "mean_arterial", "heart_rate"):
            return self.bp_plot
        return None

    def set_limit_bands(self, bands: Iterable[LimitBand]) -> None:
        """Replace the limit lines shown. Each band draws a dashed line at its low
        and high (labelled at the right edge), optionally shading outside them.
        The same bands again (every refresh) change nothing."""
        bands = list(bands)
        if bands == self.limit_bands and (self._band_items or not bands):
            return
        for plot, item in self._band_items:
            plot.removeItem(item)
        self._band_items.clear()
        self.limit_bands = bands
        for band in self.limit_bands:
            plot = self.plot_for(band.parameter)
            if plot is None:
                continue
            col = QColor(band.colour or colour("plot_limit"))
            pen = pg.mkPen(col, width=1.5 if band.tier == "critical" else 1,
                           style=Qt.PenStyle.DashLine if band.tier == "critical" else Qt.PenStyle.DotLine)
            for value in (band.low, band.high):
                if value is None:
                    continue
                line = pg.InfiniteLine(pos=value, angle=0, pen=pen)
                line.setZValue(-3)
                plot.addItem(line, ignoreBounds=True)
                self._band_items.append((plot, line))
            if band.shade:
                fill = QColor(col)
                fill.setAlpha(28)
                for lo, hi in ((None, band.low), (band.high, None)):
                    if (lo, hi) == (None, None) or (lo is None and hi is None):
                        continue
                    if lo is None and hi is not None:
                        lo = hi - 1000
                    if hi is None and lo is not None:
                        hi = lo + 1000
                    region = pg.LinearRegionItem(values=(lo, hi), orientation="horizontal", movable=False,
                                                 brush=pg.mkBrush(fill), pen=pg.mkPen(None))
                    region.setZValue(-4)
                    plot.addItem(region, ignoreBounds=True)
                    self._band_items.append((plot, region))
        self._label_limits()

    def limit_labels(self, plot: pg.PlotItem) -> list[tuple[float, str]]:
        """The limit labels shown right of `plot`'s data: (value, text), critical
        first. Two labels closer than a line of text keep only the first (a
        critical limit wins over an abnormal one), so labels never overlap."""
        vb = plot.getViewBox()
        (y0, y1), height = vb.viewRange()[1], max(vb.height(), 1.0)
        per_px = (y1 - y0) / height if y1 > y0 else 1.0
        room = QFontMetricsF(self._tick_font).height() * per_px
        wanted = sorted(((b.tier != "critical", v, b.label) for b in self.limit_bands
                         if self.plot_for(b.parameter) is plot and b.label
                         for v in (b.low, b.high) if v is not None and y0 <= v <= y1))
        shown: list[tuple[float, str]] = []
        for _later, value, text in wanted:
            if all(abs(value - v) >= room for v, _ in shown):
                shown.append((value, text))
        return sorted(shown)

    def _label_limits(self, *_args) -> None:
        for plot in (self.bp_plot, self.spo2_plot):
            plot.getAxis("right").setTicks([self.limit_labels(plot), []])

