"""The session's vital-signs plot on a real (local) time axis, drawn the way an
anaesthesia record is: systolic ▼ and diastolic ▲ joined by a bar, heart rate ●,
SpO2 on its own panel below, dose events and side effects marked on a one-line
events lane at the top with lines down through the plots (short labels, the
whole text on hover; a second or third row of labels only on a tall screen).

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
from operator import itemgetter

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsTextItem, QMenu, QWidget

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
#: rows of event labels at most; a row is added only while the BP panel keeps BP_ROOM
MAX_EVENT_ROWS = 3
#: the BP panel's height (px) a second and third row of event labels may not take from
BP_ROOM = 160
#: the event labels' font, this much smaller than the axes' (one row is one short line)
EVENT_FONT_SMALLER = 1.0
#: pixels between two event labels in a row
EVENT_GAP = 6
#: the width of the strip right of the data where the limit lines are labelled
RIGHT_AXIS_WIDTH = 78
#: the lowest SpO2 the panel shows (a lower reading widens it): 87 and 92 stay far apart
SPO2_FLOOR = 84.0
#: the SpO2 panel's share of the height the two panels have, and its least height
#: (px): at 48 px, 87 and 92 % are 14 px apart
SPO2_SHARE = 0.35
SPO2_MIN_PX = 48
#: what the plot's items take beside the panels' data, the time axis apart: the
#: thin axes under the lane and BP, the layout's margins
PANEL_OVERHEAD_PX = 12
#: short names for the events lane (the whole name is in the label's tooltip)
SHORT_NAMES = {"Device": "Dev", "Dissociation": "Diss", "Nausea": "Naus", "Vomiting": "Vomit",
               "Dizziness": "Dizzy", "Anxiety": "Anx", "Hallucinations": "Halluc",
               "Resp. depression": "Resp dep"}


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


def _epoch_seconds(times: list[datetime]) -> np.ndarray:
    """`times` as epoch seconds: offsets from the first (a subtraction is ~4× cheaper
    than datetime.timestamp(), which asks the time zone, for 43 200 sets)."""
    first = times[0]
    offsets = np.fromiter(((t - first).total_seconds() for t in times), dtype=float, count=len(times))
    return offsets + first.timestamp()


def _columns(vitals) -> dict[str, np.ndarray]:
    """Time ("t", epoch seconds) and each plotted value of `vitals` as float arrays,
    NaN where a set has no value (None becomes NaN)."""
    if not vitals:
        return {name: np.empty(0) for name in ("t", *PLOTTED)}
    if isinstance(vitals[0], tuple):  # stored rows (the chart's): read by position
        at = vitals[0]._fields.index
        cols = {"t": _epoch_seconds(list(map(itemgetter(at("measured_at")), vitals)))}
        for name in PLOTTED:
            cols[name] = np.array(list(map(itemgetter(at(name)), vitals)), dtype=float)
        return cols
    try:
        # the loaded values straight from each set's state: going through the ORM's
        # attribute descriptors for 43 200 sets × 5 columns was most of opening a
        # 12-hour chart (~0.4 s); a list per column converts fastest
        states = [v.__dict__ for v in vitals]
        cols = {"t": _epoch_seconds([s["measured_at"] for s in states])}
        for name in PLOTTED:
            cols[name] = np.array([s[name] for s in states], dtype=float)
    except (KeyError, AttributeError):  # values not loaded (expired), or not an ORM set: ask it
        cols = {"t": _epoch_seconds([v.measured_at for v in vitals])}
        for name in PLOTTED:
            cols[name] = np.array([getattr(v, name) for v in vitals], dtype=float)
    return cols


def _dense_pen(col: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A dense series' pen: 1 px, cosmetic, drawn without antialiasing. Thick
    antialiased pens over thousands of points were most of the time of every
    redraw of a 12-hour 1 Hz session."""
    pen = pg.mkPen(col, width=1, style=style)
    pen.setCosmetic(True)
    return pen


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


def short_label(text: str) -> str:
    """The events lane's form of a dose or side-effect label: "Dissociation 2" →
    "Diss 2" (the lane is one line; the whole text is on hover)."""
    for name, short in SHORT_NAMES.items():
        if name in text:
            return text.replace(name, short, 1)
    return text


@dataclass
class EventLabel:
    """One mark's label on the events lane: the whole text (tooltip), the short
    text shown beside the mark, or only its marker where there is no room."""

    x: float
    item: pg.TextItem
    text: str
    short: str
    flipped: str
    marker: str
    short_px: float
    marker_px: float
    row: int = 0


class VitalsPlot(pg.GraphicsLayoutWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground(colour("plot_background"))
        self.setMinimumHeight(MIN_HEIGHT)
        self.ci.layout.setContentsMargins(4, 2, 12, 2)
        self.ci.layout.setVerticalSpacing(0)
        self._tick_font = QFont()
        self._tick_font.setPointSizeF(point_size("font_size_small"))
        self._event_font = QFont()
        self._event_font.setPointSizeF(point_size("font_size_small") - EVENT_FONT_SMALLER)
        #: rows of event labels the lane may have at this height (share_panels), the
        #: rows its labels use (_layout_event_labels), and the rows it has: the fewer
        self._rows_allowed = self._rows_used = 1
        self.event_rows = 1

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
        self.events_plot.setFixedHeight(self._lane_height(1))
        self._style_plots()

        bp, hr = colour("plot_bp"), colour("plot_hr")
        #: the key to the symbols, one line in the margin left of the events lane
        #: (never over data); what each symbol is, in words, on hover
        self.legend = QGraphicsTextItem(self.events_plot.getAxis("left"))
        self.legend.setFont(self._event_font)
        self.legend.document().setDocumentMargin(0)
        self.legend.setHtml(f'<span style="color:{bp}">▼▲ BP</span> <span style="color:{hr}">● HR</span>')
        self.legend.setToolTip("▼ systolic, ▲ diastolic blood pressure (mmHg); ● heart rate (/min)")
        self.legend.setPos(0, 1)
        spo2 = colour("plot_spo2")
        dash = Qt.PenStyle.DashLine
        # The symbols' pens and brushes are made once: pyqtgraph's symbol atlas knows a
        # symbol by its pen's and brush's identity, so a colour given again with every
        # setData drew every symbol afresh (and grew the atlas) after each saved set.
        marks = {name: (pg.mkPen(c), pg.mkBrush(c)) for name, c in (("bp", bp), ("hr", hr), ("spo2", spo2))}
        #: each curve's look for a manual session (symbols, antialiased pens) and for
        #: dense device data (DENSE_STYLE)
        self._styles = {
            "systolic": dict(pen=pg.mkPen(bp, width=1.5), symbol="t", symbolSize=13, symbolBrush=marks["bp"][1],
                             symbolPen=marks["bp"][0], antialias=True),
            "diastolic": dict(pen=pg.mkPen(bp, width=1.5, style=dash), symbol="t1", symbolSize=13,
                              symbolBrush=marks["bp"][1], symbolPen=marks["bp"][0], antialias=True),
            "heart_rate": dict(pen=pg.mkPen(hr, width=2), symbol="o", symbolSize=8, symbolBrush=marks["hr"][1],
                               symbolPen=marks["hr"][0], antialias=True),
            "spo2": dict(pen=pg.mkPen(spo2, width=2), symbol="s", symbolSize=7, symbolBrush=marks["spo2"][1],
                         symbolPen=marks["spo2"][0], antialias=True),
        }
        self._dense_pens = {"systolic": _dense_pen(bp), "diastolic": _dense_pen(bp, dash),
                            "heart_rate": _dense_pen(hr), "spo2": _dense_pen(spo2)}
        self.curves: dict[str, pg.PlotDataItem] = {
            name: (self.spo2_plot if name == "spo2" else self.bp_plot).plot([], [], **style)
            for name, style in self._styles.items()}
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
        self._event_labels: list[EventLabel] = []
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
            for name in ("left", "bottom", "right"):
                # each axis (its ticks, labels and grid lines) is kept as a picture of
                # the screen's pixels, drawn again only when it changes: replaying the
                # nine axes' drawings was half of every repaint of the plot (after each
                # saved set, and each second as the now line moves)
                p.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
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
        # the time labels close under the SpO2 panel: their height is the BP panel's
        self.spo2_plot.getAxis("bottom").setStyle(tickTextOffset=2)
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
        curve.setClipToView(big)
        # peak: each screen pixel keeps its bin's lowest and highest value, so a
        # spike or a desaturation is drawn however many sets share the pixel
        curve.setDownsampling(auto=big, method="peak", ds=1)
        # autoDownsampleFactor 1: one bin per pixel (pyqtgraph's 5 drew 5× the points)
        style = {**self._styles[name], "symbol": None, "pen": self._dense_pens[name], "antialias": False,
                 "autoDownsampleFactor": 1.0} if big else self._styles[name]
        curve.setData(xs, ys, **style)

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
        metrics = QFontMetricsF(self._event_font)
        dose_colour = colour("plot_dose")
        se_colour = colour("plot_side_effect")
        line_pen = pg.mkPen(dose_colour, width=1.5, style=Qt.PenStyle.DashLine)
        se_pen = pg.mkPen(se_colour, width=1, style=Qt.PenStyle.DotLine)
        marks = [(_ts(d.at), dose_label(d), "▾", dose_colour, line_pen, True) for d in chart.doses]
        marks += [(_ts(e.observed_at), "◆ " + side_effect_label(e), "◆", se_colour, se_pen, False)
                  for e in chart.side_effects]
        for x, text, marker, col, pen, is_dose in sorted(marks, key=lambda m: m[0]):
            for plot in ((self.events_plot, self.bp_plot, self.spo2_plot) if is_dose else (self.bp_plot,)):
                line = pg.InfiniteLine(pos=x, angle=90, pen=pen)
                line.setZValue(-2)
                plot.addItem(line, ignoreBounds=True)
                self._event_items.append((plot, line))
            label = pg.TextItem(text, color=col, anchor=(0, 0.5))
            label.setFont(self._event_font)
            label.textItem.document().setDocumentMargin(1)
            label.setToolTip(text.removeprefix("◆ "))
            self.events_plot.addItem(label, ignoreBounds=True)
            self._event_items.append((self.events_plot, label))
            short = short_label(text)
            flipped = short if is_dose else short.removeprefix("◆ ") + " ◆"
            self._event_labels.append(EventLabel(x, label, text, short, flipped, marker,
                                                 metrics.horizontalAdvance(short) + 4,
                                                 metrics.horizontalAdvance(marker) + 4))
        self._layout_event_labels()

    def event_texts(self) -> list[str]:
        """The whole text of each dose and side-effect mark, in time order (each
        label's tooltip; the lane shows its short form, or only its marker)."""
        return [label.text for label in self._event_labels]

    def shown_event_texts(self) -> list[str]:
        """What the events lane shows for each mark now, in time order."""
        return [label.item.textItem.toPlainText() for label in self._event_labels]

    def _relayout_soon(self) -> None:
        if self._event_labels:
            self._relayout_timer.start()

    def _layout_event_labels(self) -> None:
        """Give each mark its short label in the first lane row with room for it,
        the newest first (the nurse looks at what just happened); a mark with no
        room keeps only its marker, its text on hover. Widths depend on the zoom,
        so this reruns when the range changes."""
        vb = self.events_plot.getViewBox()
        (x0, x1), width_px = vb.viewRange()[0], max(vb.width(), 1.0)
        per_px = (x1 - x0) / width_px if x1 > x0 else 1.0
        rows = self._rows_allowed
        row_start = [float("inf")] * rows  # where the leftmost label placed in each row begins
        labels = self._event_labels
        for i in range(len(labels) - 1, -1, -1):
            # room left of a mark ends at the older mark's marker
            older = labels[i - 1].x + labels[i - 1].marker_px * per_px / 2 if i else x0
            row, start, text, anchor = self._place_label(labels[i], (x0, x1), older, per_px, row_start)
            row_start[row] = min(row_start[row], start)
            if labels[i].item.textItem.toPlainText() != text:
                labels[i].item.setText(text)
            labels[i].item.setAnchor(anchor)
            labels[i].row = row
        used = 1 + max((label.row for label in labels), default=0)
        for label in labels:
            label.item.setPos(label.x, 1 - (label.row + 0.5) / used)
        if used != self._rows_used:
            self._rows_used = used
            self.share_panels()

    @staticmethod
    def _place_label(label: EventLabel, view: tuple[float, float], older: float, per_px: float,
                     row_start: list[float]) -> tuple[int, float, str, tuple[float, float]]:
        """Where `label` goes, the later labels placed (`row_start`): (row, left
        edge, text, anchor). Its short text right of its mark, else left of it
        (its marker on the mark, clear of the `older` mark), in the first row with
        room; never off-screen (near the right edge only left); with no room,
        only its marker."""
        (x0, x1), x = view, label.x
        width, gap = label.short_px * per_px, EVENT_GAP * per_px
        spans = []
        if x + width <= x1 or x - width < x0:
            spans.append((x, x + width, label.short, (0.0, 0.5)))
        if x - width >= max(x0, older + gap):
            spans.append((x - width, x, label.flipped, (1.0, 0.5)))
        for start, end, text, anchor in spans:
            for row, taken in enumerate(row_start):
                if end + gap <= taken:
                    return row, start, text, anchor
        half = label.marker_px * per_px / 2
        row = next((r for r, taken in enumerate(row_start) if x + half <= taken), len(row_start) - 1)
        return row, x - half, label.marker, (0.5, 0.5)

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

    def _lane_height(self, rows: int) -> int:
        """The events lane's height (px) with `rows` rows of labels."""
        return rows * int(QFontMetricsF(self._event_font).height() + 1) + 4

    def share_panels(self) -> None:
        """Share the plot's height: the events lane one row of labels (more only
        when its labels need them and the BP panel keeps BP_ROOM), the SpO2 panel
        SPO2_SHARE of what is left but at least SPO2_MIN_PX (so 87 and 92 stay
        apart), the BP panel the rest: on a 1366×768 screen the BP trend gets the
        height."""
        axis = self.spo2_plot.getAxis("bottom")
        axis_height = max(axis.height(), axis.minimumHeight())

        def panels(rows: int) -> int:
            return int(self.height() - self._lane_height(rows) - axis_height) - PANEL_OVERHEAD_PX

        def spo2(rows: int) -> int:
            return max(int(panels(rows) * SPO2_SHARE), SPO2_MIN_PX)

        allowed = 1
        while allowed < MAX_EVENT_ROWS and panels(allowed + 1) - spo2(allowed + 1) >= BP_ROOM:
            allowed += 1
        rows = min(allowed, self._rows_used)
        lane = self._lane_height(rows)
        if self.events_plot.height() != lane:
            self.events_plot.setFixedHeight(lane)
        wanted = spo2(rows) + int(axis_height)
        if self.spo2_plot.height() != wanted:
            self.spo2_plot.setFixedHeight(wanted)
        self.event_rows = rows
        if allowed != self._rows_allowed:
            self._rows_allowed = allowed
            self._relayout_soon()

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

