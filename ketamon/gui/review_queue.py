"""The supervising physician's alert review queue, across all sessions.

Filters (unreviewed / open / all, priority, session), a table most urgent first,
and for the chosen alert its context: the readings around it (table and a small
plot; a device set marked artefact greyed and labelled, never as in force), then
a comment and Review. Several selected alerts can be reviewed with
one comment. "Edit patient limits…" opens the limits dialog; "Open chart" asks
the main window to show the session.

Reads come from ketamon.core.alerts (review_queue, alert_context); changes go
through the OpRunner. Refreshes on OpRunner.changed.
"""
from __future__ import annotations

from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import alert_views as alerts
from ketamon.core.alerts import closed_as_void
from ketamon.core.chart import describe_side_effect
from ketamon.core.ops import alerting
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.gui.alerts_panel import limit_bands
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.theme import colour, set_role
from ketamon.gui.widgets import local_hm

SHOW = (("Unreviewed", dict(unreviewed_only=True)), ("Open (condition still present)", dict(
    unreviewed_only=False, open_only=True)), ("All", dict(unreviewed_only=False)))
PRIORITY_CHOICES = (("Any priority", None), ("*** High", "high"), ("** Medium", "medium"), ("* Low", "low"))
COLUMNS = ("", "Raised", "Patient", "Alert", "State")
#: alerts per page: the queue pages on rather than hiding any (a two-year clinic had 5,741 unreviewed)
PAGE = 500
#: shown to anyone who may not review (cleared when a physician takes over)
NOT_A_REVIEWER = "Only a physician can review alerts."
#: the limit lines drawn on the context plot: (parameter, plotted series)
PLOTTED_LIMITS = ("systolic", "diastolic", "heart_rate")
#: the legend of the hollow grey marks of sets marked artefact (alert_views.ArtefactReading)
ARTEFACT_LEGEND = "Artefact (not in force)"


def state_summary(a: alerts.AlertView, now: datetime) -> str:
    """'ACTIVE', 'acknowledged', 'cleared 09:40', then ' · reviewed' when it is;
    'Closed: reading entered in error' for an alert whose reading never was
    ('Closed: device set marked artefact' for one whose device set was not the patient's)."""
    if closed_as_void(a.review_comment):
        return f"{a.review_comment} ({local_hm(a.cleared_at)})"
    text = a.state_text(now).replace(", audio paused", "") if a.active else f"cleared {local_hm(a.cleared_at)}"
    return text + (" · reviewed" if a.reviewed_at else "")


def _cell(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return item


class ContextPlot(pg.PlotWidget):
    """BP and HR around the alert, with a line where it was raised. Device sets
    marked artefact are hollow grey marks of their own, unjoined, never on the
    lines of the readings in force."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem()})
        self.setBackground(colour("plot_background"))
        self.setMinimumHeight(170)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        bp, hr = colour("plot_bp"), colour("plot_hr")
        self.legend = self.addLegend(offset=(1, 1), labelTextColor=colour("text"), brush=colour("plot_background"))
        self.sys = self.plot([], [], pen=pg.mkPen(bp, width=1.5), symbol="t", symbolSize=10, symbolBrush=bp,
                             symbolPen=bp, name="Systolic")
        self.dia = self.plot([], [], pen=pg.mkPen(bp, width=1.5, style=Qt.PenStyle.DashLine), symbol="t1",
                             symbolSize=10, symbolBrush=bp, symbolPen=bp, name="Diastolic")
        self.hr = self.plot([], [], pen=pg.mkPen(hr, width=1.5), symbol="o", symbolSize=6, symbolBrush=hr,
                            symbolPen=hr, name="Heart rate")
        # in the legend only while it has marks (most alerts have no artefact around them)
        self.artefact = self.plot([], [], pen=None, symbol="o", symbolSize=9, symbolBrush=None,
                                  symbolPen=pg.mkPen(colour("superseded"), width=1.5))
        #: the limit lines in force for the alert's session (abnormal dotted, critical dashed red)
        self.limit_lines: list[pg.InfiniteLine] = []
        self.raised = pg.InfiniteLine(angle=90, pen=pg.mkPen(colour("alert_high"), width=2))
        self.addItem(self.raised, ignoreBounds=True)
        self.raised.hide()
        self.setMenuEnabled(False)
        # pyqtgraph makes its menus without a parent: adopt them so they go with this widget
        item = self.getPlotItem()
        for menu in (getattr(item, "ctrlMenu", None), getattr(item.getViewBox(), "menu", None)):
            if isinstance(menu, QMenu) and menu.parent() is None:
                menu.setParent(self, menu.windowFlags())

    def show_limits(self, limits) -> None:
        """Horizontal lines at the limits in force for BP and heart rate, labelled
        with their value ("SBP 160", "(pt)" for the patient's own)."""
        for line in self.limit_lines:
            self.removeItem(line)
        self.limit_lines = []
        for band in (limit_bands(limits) if limits is not None else []):
            if band.parameter not in PLOTTED_LIMITS:
                continue
            pen = pg.mkPen(band.colour or colour("plot_limit"), width=1,
                           style=Qt.PenStyle.DashLine if band.tier == "critical" else Qt.PenStyle.DotLine)
            line = pg.InfiniteLine(pos=band.high if band.high is not None else band.low, angle=0, pen=pen,
                                   label=band.label, labelOpts={"position": 0.98, "color": band.colour
                                                                or colour("plot_limit"), "anchors": [(1, 1), (1, 1)]})
            self.addItem(line)
            self.limit_lines.append(line)

    def limit_labels(self) -> list[str]:
        return [line.label.format for line in self.limit_lines]

    def show_context(self, ctx: alerts.AlertContext | None, limits=None) -> None:
        self.show_limits(limits if ctx is not None else None)
        if ctx is None:
            for c in (self.sys, self.dia, self.hr):
                c.setData([], [])
            self._show_artefacts([])
            self.raised.hide()
            return
        bp = [v for v in ctx.vitals if v.systolic is not None]
        hr = [v for v in ctx.vitals if v.heart_rate is not None]
        self.sys.setData([v.measured_at.timestamp() for v in bp], [v.systolic for v in bp])
        self.dia.setData([v.measured_at.timestamp() for v in bp], [v.diastolic for v in bp])
        self.hr.setData([v.measured_at.timestamp() for v in hr], [v.heart_rate for v in hr])
        self._show_artefacts([r.vitals for r in ctx.artefacts])
        self.raised.setPos(ctx.alert.raised_at.timestamp())
        self.raised.show()
        self.setXRange(ctx.window[0].timestamp(), ctx.window[1].timestamp(), padding=0.02)
        # the readings and every limit line in view, with room for the labels above the top line
        ys = [y for name in ("sys", "dia", "hr", "artefact") for y in self.series(name)] + \
             [line.value() for line in self.limit_lines]
        if ys:
            self.setYRange(min(ys) - 8, max(ys) + 14, padding=0)

    def _show_artefacts(self, sets) -> None:
        """One hollow mark per plotted value of each set. One symbol for all: the
        legend's sample cannot draw a list of symbols (pyqtgraph 0.13 crashes)."""
        points = [(v.measured_at.timestamp(), value) for v in sets
                  for value in (v.systolic, v.diastolic, v.heart_rate) if value is not None]
        self.artefact.setData([p[0] for p in points], [p[1] for p in points])
        self.legend.removeItem(self.artefact)
        if points:
            self.legend.addItem(self.artefact, ARTEFACT_LEGEND)

    def series(self, name: str) -> list[float]:
        ys = getattr(self, name).getData()[1]
        return [] if ys is None else [float(y) for y in ys]


class ReviewQueue(QWidget):
    """The page. `open_session(int)` asks the window to show a session's chart."""

    open_session = Signal(int)

    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.rows: list[alerts.AlertView] = []
        self.context: alerts.AlertContext | None = None
        self.limits_dialog = None

        title = QLabel("Alert review")
        title.setObjectName("reviewTitle")
        self.show_filter = QComboBox()
        for label, _kw in SHOW:
            self.show_filter.addItem(label)
        self.priority_filter = QComboBox()
        for label, value in PRIORITY_CHOICES:
            self.priority_filter.addItem(label, value)
        self.session_filter = QComboBox()
        self.session_filter.addItem("All sessions", None)
        self.count = QLabel()
        self.count.setObjectName("reviewCount")
        self.refresh_button = QPushButton("Refresh")
        self.previous_button = QPushButton(f"◀ Previous {PAGE}")
        self.next_button = QPushButton(f"Next {PAGE} ▶")
        self.previous_button.clicked.connect(lambda: self.show_page_at(self.offset - PAGE))
        self.next_button.clicked.connect(lambda: self.show_page_at(self.offset + PAGE))
        #: the first row of the page shown, and how many alerts the filters hold
        self.offset, self.total = 0, 0
        #: the alert to choose at the next reload (the one after a reviewed one)
        self._choose_next: int | None = None
        for w in (self.show_filter, self.priority_filter, self.session_filter):
            w.currentIndexChanged.connect(lambda _i: self.show_page_at(0))
        self.refresh_button.clicked.connect(self.reload)
        filters = QHBoxLayout()
        filters.addWidget(title)
        filters.addSpacing(12)
        filters.addWidget(self.show_filter)
        filters.addWidget(self.priority_filter)
        filters.addWidget(self.session_filter)
        filters.addStretch(1)
        filters.addWidget(self.previous_button)
        filters.addWidget(self.count)
        filters.addWidget(self.next_button)
        filters.addWidget(self.refresh_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("reviewTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        # the whole alert text, wrapped: a cut-off alert is a different alert
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if COLUMNS[col] == "Alert"
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        # rows re-fit their wrapped text once the columns settle (a timer: never once per
        # column resize while 500 rows are being filled)
        self._fit_rows = QTimer(self)
        self._fit_rows.setSingleShot(True)
        self._fit_rows.setInterval(0)
        self._fit_rows.timeout.connect(self.table.resizeRowsToContents)
        header.sectionResized.connect(lambda *_: self._fit_rows.start())
        self.table.itemSelectionChanged.connect(self._selection_changed)

        # detail
        self.detail_title = QLabel("Choose an alert")
        self.detail_title.setObjectName("reviewDetailTitle")
        self.detail_title.setWordWrap(True)
        self.detail_facts = QLabel()
        self.detail_facts.setWordWrap(True)
        self.plot = ContextPlot()
        self.readings = QTableWidget(0, 3)
        self.readings.setHorizontalHeaderLabels(("Time", "Entry", ""))
        self.readings.verticalHeader().hide()
        self.readings.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.readings.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.readings.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.readings.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.comment = QPlainTextEdit()
        self.comment.setPlaceholderText("Review comment (required): what you saw and what was done")
        self.comment.setMaximumHeight(80)
        self.review_button = QPushButton("Review")
        set_role(self.review_button, "primary")
        self.review_button.clicked.connect(self.review)
        self.limits_button = QPushButton("Edit patient limits…")
        self.limits_button.clicked.connect(self.edit_limits)
        self.open_button = QPushButton("Open chart")
        self.open_button.clicked.connect(self._open_chart)
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.review_button)
        buttons.addWidget(self.limits_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        detail = QFrame()
        detail.setObjectName("reviewDetail")
        dl = QVBoxLayout(detail)
        dl.addWidget(self.detail_title)
        dl.addWidget(self.detail_facts)
        dl.addWidget(self.plot, 2)
        dl.addWidget(self.readings, 2)
        dl.addWidget(self.comment)
        dl.addLayout(buttons)
        dl.addWidget(self.message)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([700, 600])
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(filters)
        layout.addWidget(split, 1)

        #: loaded when first shown, and again when shown after a change: a hidden
        #: page does no work (alerts change every few seconds on a busy day)
        self._stale = True
        runner.changed.connect(self._on_changed)
        runner.actor_changed.connect(self._actor_changed)
        self._update_buttons()

    # ------------------------------------------------------------ data

    def _on_changed(self, changes: Changes) -> None:
        if changes.any_of("alerts", "lifecycle", "limits"):
            if self.isVisible():
                self.reload()
            else:
                self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._stale:
            self.reload()

    def filters(self) -> dict:
        kwargs = dict(SHOW[self.show_filter.currentIndex()][1])
        kwargs["priority"] = self.priority_filter.currentData()
        kwargs["session_id"] = self.session_filter.currentData()
        return kwargs

    def show_page_at(self, offset: int) -> None:
        """Show the page starting at `offset` (a filter change goes back to the first)."""
        self.offset = max(0, offset)
        self.table.clearSelection()
        self.reload()

    @screen_read
    def reload(self) -> None:
        self._stale = False
        kwargs = self.filters()
        keep = set(self.selected_ids())
        self.total = alerts.count_review_queue(self.runner.store, **kwargs)
        if self.offset >= self.total:
            self.offset = max(0, (self.total - 1) // PAGE * PAGE)
        self.rows = alerts.review_queue(self.runner.store, limit=PAGE, offset=self.offset, **kwargs)
        self._fill_sessions()
        self._fill_table(self.runner.store.clock.now())
        self._fit_rows.stop()
        self.table.resizeRowsToContents()
        self._show_count()
        self._choose(keep)
        self._selection_changed()

    def _fill_table(self, now: datetime) -> None:
        """One row per alert of the page. The columns that fit their contents are
        fixed while the cells are set, then fit once: fitting after every cell made
        a page of 500 take the better part of a minute."""
        header = self.table.horizontalHeader()
        modes = [header.sectionResizeMode(c) for c in range(len(COLUMNS))]
        for c in range(len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rows))
        bold = QFont()
        bold.setBold(True)
        for r, a in enumerate(self.rows):
            cells = [a.mark or a.priority_label, f"{a.raised_at.astimezone():%d %b} {local_hm(a.raised_at)}",
                     a.patient_name or "—", a.message, state_summary(a, now)]
            for c, text in enumerate(cells):
                item = _cell(text)
                item.setData(Qt.ItemDataRole.UserRole, a.id)
                item.setToolTip(a.message)
                if c == 0 and a.priority in ("high", "medium", "low"):
                    item.setBackground(QColor(colour(f"alert_{a.priority}")))
                    item.setForeground(QColor(colour(f"alert_{a.priority}_text")))
                    item.setFont(bold)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                elif not a.active:
                    item.setForeground(QColor(colour("alert_cleared_text")))
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        for c, mode in enumerate(modes):
            header.setSectionResizeMode(c, mode)

    def _show_count(self) -> None:
        n = self.total
        if n <= PAGE and self.offset == 0:
            self.count.setText(f"{n} alert{'s' if n != 1 else ''}")
        else:
            self.count.setText(f"{self.offset + 1:,}–{self.offset + len(self.rows):,} of {n:,} alerts")
        self.previous_button.setVisible(n > PAGE)
        self.next_button.setVisible(n > PAGE)
        self.previous_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(self.offset + len(self.rows) < n)

    def _choose(self, keep: set[int]) -> None:
        """What to show after a reload: after a review the next alert; else the
        alerts chosen before if still listed; else the most urgent unreviewed one
        (the queue never opens on empty axes while something waits)."""
        shown = {a.id for a in self.rows}
        chosen = {self._choose_next} if self._choose_next in shown else keep & shown
        self._choose_next = None
        if not chosen:
            first = next((a for a in self.rows if a.reviewed_at is None), self.rows[0] if self.rows else None)
            chosen = {first.id} if first is not None else set()
        self.table.blockSignals(True)  # the detail is shown once, after (reload)
        try:
            self.select_ids(chosen)
        finally:
            self.table.blockSignals(False)
        rows = [r for r, a in enumerate(self.rows) if a.id in chosen]
        if rows:
            self.table.scrollToItem(self.table.item(rows[0], 0))

    def _fill_sessions(self) -> None:
        """The session filter lists every session that has alerts in view (kept)."""
        known = {self.session_filter.itemData(i) for i in range(self.session_filter.count())}
        for a in self.rows:
            if a.session_id is not None and a.session_id not in known:
                self.session_filter.blockSignals(True)
                self.session_filter.addItem(f"{a.patient_name} — session {a.session_id}", a.session_id)
                self.session_filter.blockSignals(False)
                known.add(a.session_id)

    # ------------------------------------------------------------ selection and detail

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.rows[r].id for r in rows if r < len(self.rows)]

    def select_ids(self, ids) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for r, a in enumerate(self.rows):
            if a.id in ids:
                self.table.selectRow(r)
        self.table.setSelectionMode(mode)

    def current(self) -> alerts.AlertView | None:
        ids = self.selected_ids()
        return next((a for a in self.rows if ids and a.id == ids[0]), None)

    def _selection_changed(self) -> None:
        a = self.current()
        self.context = alerts.alert_context(self.runner.store, a.id) if a else None
        self._show_detail(a)
        self._update_buttons()

    def _show_detail(self, a: alerts.AlertView | None) -> None:
        if a is None:
            self.detail_title.setText("Choose an alert")
            self.detail_facts.setText("")
            self.plot.show_context(None)
            self.readings.setRowCount(0)
            return
        n = len(self.selected_ids())
        self.detail_title.setText(f"{a.mark} {a.message}" + (f"   (+{n - 1} selected)" if n > 1 else ""))
        facts = [f"{a.patient_name} ({a.mrn})" if a.patient_name else "No session",
                 a.protocol_name, f"raised {local_hm(a.raised_at)}"]
        if a.escalated_at:
            facts.append(f"escalated {local_hm(a.escalated_at)}")
        facts.append(f"cleared {local_hm(a.cleared_at)}" if a.cleared_at else "still present")
        if a.acknowledged_by:
            facts.append(f"acknowledged by {a.acknowledged_by} at {local_hm(a.acknowledged_at)}")
        if closed_as_void(a.review_comment):
            facts.append(f"{a.review_comment} by {a.reviewed_by or '—'} at {local_hm(a.reviewed_at)}")
        elif a.reviewed_by:
            facts.append(f"reviewed by {a.reviewed_by} at {local_hm(a.reviewed_at)}: {a.review_comment}")
        self.detail_facts.setText(" · ".join(f for f in facts if f))
        self.plot.show_context(self.context, alerts.session_limits(self.runner.store, a.session_id)
                               if a.session_id is not None else None)
        self._fill_readings(a)

    def _fill_readings(self, a: alerts.AlertView) -> None:
        from ketamon.core.chart import describe_vitals

        ctx = self.context
        # (time, text, the alert's finding, marked artefact)
        lines: list[tuple[datetime, str, bool, bool]] = []
        if ctx is not None:
            src_id = ctx.source.id if ctx.source is not None else None
            found = src_id if a.rule != "technical" and type(ctx.source).__name__ == "VitalSigns" else None
            for v in ctx.vitals:
                lines.append((v.measured_at, describe_vitals(v), v.id == found, False))
            for x in ctx.artefacts:  # the set that raised an alert closed as artefact among them
                v, verdict = x.vitals, x.verdict
                lines.append((v.measured_at, f"Artefact, not in force: {describe_vitals(v)} — {verdict.reason} "
                              f"(marked by {verdict.by} at {local_hm(verdict.at)})", v.id == found, True))
            for e in ctx.side_effects:
                lines.append((e.observed_at, describe_side_effect(e), e.id == src_id
                              and type(ctx.source).__name__ == "SideEffect", False))
        lines.sort(key=lambda x: x[0])
        self.readings.setRowCount(len(lines))
        grey = QColor(colour("superseded"))
        for r, (at, text, is_source, artefact) in enumerate(lines):
            cells = (_cell(local_hm(at)), _cell(text), _cell("◀ finding" if is_source else ""))
            for c, item in enumerate(cells):
                if artefact:
                    item.setForeground(grey)
                self.readings.setItem(r, c, item)

    def readings_text(self) -> list[str]:
        return [" ".join(self.readings.item(r, c).text() for c in range(3)).strip()
                for r in range(self.readings.rowCount())]

    def _update_buttons(self) -> None:
        actor = self.runner.actor
        a = self.current()
        can_review = bool(actor and actor.can(Permission.REVIEW))
        unreviewed = [x for x in self.rows if x.id in set(self.selected_ids()) and x.reviewed_at is None]
        self.review_button.setEnabled(can_review and bool(unreviewed))
        self.comment.setEnabled(can_review)
        self.limits_button.setVisible(bool(actor and actor.can(Permission.SET_LIMITS)))
        self.limits_button.setEnabled(a is not None and a.session_id is not None)
        self.open_button.setEnabled(a is not None and a.session_id is not None)
        if not can_review:
            self.message.setText(NOT_A_REVIEWER)
            set_role(self.message, None)
        elif self.message.text() == NOT_A_REVIEWER:
            self.message.clear()

    def _actor_changed(self, _actor) -> None:
        """Another user: nothing said to the previous one stays on screen."""
        self.message.clear()
        set_role(self.message, None)
        self._update_buttons()

    # ------------------------------------------------------------ actions

    def review(self) -> None:
        ids = [a.id for a in self.rows if a.id in set(self.selected_ids()) and a.reviewed_at is None]
        if not ids:
            return
        self._choose_next = self._next_after(ids)
        changes = self.runner.run(alerting.review_alerts, ids, self.comment.toPlainText())
        if changes is None:
            self.message.setText(self.runner.last_refusal or "Not saved.")
            set_role(self.message, "refusal")
            return
        self.comment.clear()
        self.message.setText(changes.message)
        set_role(self.message, "ok")

    def _next_after(self, reviewed: list[int]) -> int | None:
        """The unreviewed alert below the last one reviewed (else the nearest above)."""
        rows = [r for r, a in enumerate(self.rows) if a.id in reviewed]
        waiting = [(r, a.id) for r, a in enumerate(self.rows) if a.reviewed_at is None and a.id not in reviewed]
        below = [aid for r, aid in waiting if r > rows[-1]]
        above = [aid for r, aid in waiting if r < rows[0]]
        return below[0] if below else (above[-1] if above else None)

    def edit_limits(self):
        from ketamon.core.models import Session
        from ketamon.gui.limits_dialog import LimitsDialog

        a = self.current()
        if a is None or a.session_id is None:
            return None
        with self.runner.store.read() as db:
            patient_id = db.get(Session, a.session_id).patient_id
        self.limits_dialog = LimitsDialog(self.runner, patient_id, session_id=a.session_id, parent=self)
        self.limits_dialog.finished.connect(self._limits_closed)
        self.limits_dialog.open()
        return self.limits_dialog

    def _limits_closed(self, _result: int) -> None:
        dialog, self.limits_dialog = self.limits_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def _open_chart(self) -> None:
        a = self.current()
        if a is not None and a.session_id is not None:
            self.open_session.emit(a.session_id)
