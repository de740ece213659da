"""The session chart: everything a nurse at the chair needs on one screen.

    header (patient, age, sex, weight, MRN, protocol, dose, lot, state, elapsed clock)
    alert banner (most urgent alert, audio, what is due next)       self.alerts.banner
    record bar (pre-dose checks, discharge, signing)                self.record_bar
    plot | dose panel, alert list, limits                            self.plot, self.dose_panel, self.alerts
    vital-signs row                                                  self.vitals_row
    side effects                                                     self.side_effects
    event log                                                        self.event_log

The chart builds every part itself, here, in plain code: to add a part, add it
to `__init__` (no registry, nothing inserted from outside).

Data comes only from `ketamon.core.chart.load_chart` (after each saved entry:
OpRunner.changed) and the clock (`tick`, every second while shown; no query).
Signals `refreshed(Chart)` after every reload and `ticked(datetime)` each second
keep the parts in step. A `refreshed` listener runs after every saved entry: it
must not walk every set (`chart.vitals` can hold 43 200 with a 1 Hz monitor; it is
in measured order, so the newest are at the end; don't mutate it or the sets in
it: they are kept).
"""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from ketamon.core.chart import Chart, load_chart, refresh_chart
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.models import CONCOMITANT_MEDICATIONS, CONTRAINDICATIONS
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.gui.alerts_panel import SessionAlerts
from ketamon.gui.chart_plot import VitalsPlot
from ketamon.gui.dose_panel import DosePanel, dose_panel_for
from ketamon.gui.elided import ElidedLabel
from ketamon.gui import heap
from ketamon.gui.event_log import EventLog
from ketamon.gui.record_panel import RecordBar
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.side_effects import SideEffectPanel
from ketamon.gui.theme import set_role
from ketamon.gui.vitals_row import VitalsRow
from ketamon.gui.widgets import MessageLine, format_elapsed, local_hm

#: change flags that alter an entry, the session or the patient: the whole chart reloads.
#: Alerts, limits and the clinic's alarm setting reload only the alert parts; a
#: print or an export changes nothing the chart shows.
ENTRY_FLAGS = ("vitals", "doses", "side_effects", "notes", "assessments", "lifecycle", "session_details",
               "record", "patients")


#: the column beside the plot: dose panel, the session's alerts, limits
SIDE_WIDTH = 410
#: the safety flags are cut ("…", whole on hover) only beyond this width
SAFETY_MIN_WIDTH = 440
#: of the height beyond every part's minimum, what goes to the log (the plot has the rest)
LOWER_SHARE = 0.3


def keep_room_for(widget: QWidget) -> None:
    """Keep a widget's place while it is hidden, so showing it moves nothing."""
    policy = widget.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(policy)


def planned_dose_text(chart: Chart) -> str:
    """The planned dose, with the weight it came from for mg/kg protocols."""
    s, rule = chart.session, chart.protocol.dose
    if s.planned_dose_mg is None:
        return "dose not entered"
    mg = f"{s.planned_dose_mg:g} mg"
    if rule.kind == "per_kg" and s.dose_weight_kg is not None:
        return f"{mg} ({rule.mg_per_kg:g} mg/kg × {s.dose_weight_kg:.1f} kg)"
    if rule.kind == "fixed" and rule.devices:
        return f"{mg} ({rule.devices} devices × {rule.mg_per_device:g} mg)"
    if rule.kind == "prescriber":
        return f"{mg} (prescriber's dose)"
    return mg


class ChartHeader(QFrame):
    """Who and what, in three lines that keep their height: the name with age,
    sex, weight, MRN and state, and the clock since the first dose; the
    protocol, dose, lot and supervisor (and what is due next); the safety flags (allergies,
    contraindications, sedating medicines) with the record bar beside them. A
    line too long for the screen ends in "…" and shows whole on hover."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("chartHeader")
        grid = QGridLayout(self)
        grid.setContentsMargins(12, 2, 12, 2)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(0)
        self.name = QLabel()
        self.name.setObjectName("patientName")
        self.patient_facts = ElidedLabel()
        self.patient_facts.setObjectName("patientFacts")
        self.session_facts = ElidedLabel()
        self.session_facts.setObjectName("sessionFacts")
        self.safety = ElidedLabel()
        self.safety.setObjectName("safetyFacts")
        self.state = QLabel()
        self.state.setObjectName("statePill")
        self.elapsed = QLabel("—")
        self.elapsed.setObjectName("elapsedClock")
        self.elapsed.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.elapsed_caption = QLabel()
        self.elapsed_caption.setObjectName("elapsedCaption")
        self.elapsed_caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        top = QHBoxLayout()
        top.setSpacing(14)
        top.addWidget(self.name)
        top.addWidget(self.patient_facts)
        top.addWidget(self.state)
        top.addStretch(1)
        top.addWidget(self.elapsed_caption, 0, Qt.AlignmentFlag.AlignBottom)
        top.addWidget(self.elapsed)
        for line in (self.patient_facts, self.session_facts, self.safety):  # natural width, shrinking with "…"
            line.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.safety.setMinimumWidth(0)
        grid.addLayout(top, 0, 0)
        #: the second line: the session facts, then what the chart puts beside them (what is due next)
        self.second_line = QHBoxLayout()
        self.second_line.setSpacing(14)
        self.second_line.addWidget(self.session_facts, 1)
        grid.addLayout(self.second_line, 1, 0)
        #: the third line: the safety flags, then what the chart puts beside them (the record bar)
        self.third_line = QHBoxLayout()
        self.third_line.setSpacing(14)
        self.third_line.addWidget(self.safety, 1)
        grid.addLayout(self.third_line, 2, 0)

    def show_chart(self, chart: Chart) -> None:
        s, p = chart.session, chart.patient
        today = chart.now.astimezone().date()
        weight = s.dose_weight_kg if s.dose_weight_kg is not None else p.weight_kg
        self.name.setText(p.display_name)
        facts = [f"{p.age_on(today)} y", p.sex.capitalize(),
                 f"{weight:.1f} kg" if weight is not None else "weight not recorded", p.mrn]
        self.patient_facts.setText("  ·  ".join(facts))
        self.state.setText(STATE_LABELS.get(s.state, s.state))
        parts = [chart.protocol.name, f"Dose {planned_dose_text(chart)}"]
        if s.route == "nasal" or s.lot_number:
            parts.append(f"Lot {s.lot_number or '—'}")
        if s.physician_id:
            parts.append(f"Supervising {chart.who(s.physician_id)}")
        self.session_facts.setText("  ·  ".join(parts))
        flags = []
        if p.allergies:
            flags.append(f"Allergies: {p.allergies}")
        ci = [CONTRAINDICATIONS.get(k, k) for k in p.contraindications or []]
        if ci:
            flags.append(f"Contraindication: {', '.join(ci)}")
        meds = [CONCOMITANT_MEDICATIONS.get(k, k) for k in p.concomitant_medications or []]
        if meds:
            flags.append(f"Takes: {', '.join(meds)}")
        # the flags keep their whole width up to SAFETY_MIN_WIDTH (the record bar has the rest)
        self.safety.setMinimumWidth(0)
        if flags:
            set_role(self.safety, "flag")
            self.safety.setText("  ·  ".join(flags))
            self.safety.setMinimumWidth(min(self.safety.sizeHint().width(), SAFETY_MIN_WIDTH))
        else:
            self.safety.setText("No allergies, contraindications or sedating medicines recorded")
            set_role(self.safety, None)
        self.tick(chart)

    def tick(self, chart: Chart, now: datetime | None = None) -> None:
        now = now or chart.now
        first = chart.first_dose_at
        if first is None:
            self.elapsed.setText("—")
            self.elapsed_caption.setText(f"not dosed yet · scheduled {local_hm(chart.session.scheduled_at)}")
        else:
            self.elapsed.setText(format_elapsed(now - first))
            self.elapsed_caption.setText(f"since {local_hm(first)}")
            self.elapsed_caption.setToolTip(f"Time since the first dose, given at {local_hm(first)}")


class SessionChart(QWidget):
    #: after every reload from the database, with the new Chart
    refreshed = Signal(object)
    #: every second while shown (and whenever tick() is called), with the clock's now
    ticked = Signal(object)

    def __init__(self, runner: OpRunner, session_id: int | None, parent: QWidget | None = None,
                 plot: VitalsPlot | None = None):
        """`plot`: a VitalsPlot built ahead and never shown, else one is built.
        `session_id` None: the chart's widgets only, built ahead while the window is
        idle (ketamon.gui.spare_chart), hidden; `bind` gives it its session, once,
        before it is shown."""
        super().__init__(parent)
        self.runner = runner
        self.session_id: int | None = None

        # Built from the outside in, each part made inside its final parent: with the
        # clinic's style sheet, every move of a built part into another parent
        # restyles all of its widgets again (built inside out, each widget was
        # restyled about five times: most of the time to build a chart).
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 0)
        layout.setSpacing(4)
        self.header = ChartHeader(self)
        #: the top of the chart: the alert banner
        self.alert_area = QVBoxLayout()
        self.alert_area.setContentsMargins(0, 0, 0, 0)
        self.alert_area.setSpacing(4)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        layout.addWidget(self.header)
        layout.addLayout(self.alert_area)
        layout.addWidget(self.splitter, 1)
        upper = QWidget(self.splitter)
        lower = QWidget(self.splitter)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(lower)
        upper_layout = QHBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.setSpacing(8)
        if plot is None:
            self.plot = VitalsPlot(upper)
        else:
            self.plot = plot
            plot.setParent(upper)
            plot.show()  # shown with the chart (it was hidden while it waited)
        self.side_scroll = QScrollArea(upper)
        upper_layout.addWidget(self.plot, 1)
        upper_layout.addWidget(self.side_scroll)
        self.side = QWidget(self.side_scroll)
        self.side_layout = QVBoxLayout(self.side)
        self.side_layout.setContentsMargins(0, 0, 4, 0)
        self.side_layout.setSpacing(8)
        self.side_scroll.setWidget(self.side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_scroll.setFixedWidth(SIDE_WIDTH)
        self.side_scroll.setMinimumHeight(0)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.setSpacing(4)
        self.vitals_row = VitalsRow(runner, None, lower)
        self.side_effects = SideEffectPanel(runner, None, lower)
        self.event_log = EventLog(runner, None, lower)
        #: the alert banner, the session's alert list, its limits (and the plot's limit lines)
        self.alerts = SessionAlerts(runner, self)

        self.alert_area.addWidget(self.alerts.banner)
        #: what is due next, beside the session facts (the banner keeps its line for the alert)
        self.header.second_line.addWidget(self.alerts.banner.due)
        #: beside the header's safety flags: the record bar (placed by `bind`)
        self.actions_bar = self.header.third_line

        #: under the dose panel (placed first by `bind`): the session's alerts and the patient's limits
        self.side_area = QVBoxLayout()
        self.side_area.setSpacing(8)
        self.side_area.addWidget(self.alerts.list)
        self.side_area.addWidget(self.alerts.limits_box)
        self.side_layout.addLayout(self.side_area)
        self.side_layout.addStretch(1)

        # the entry rows keep their height; their messages keep to one line
        for line in (self.vitals_row.message, self.side_effects.message, self.event_log.message):
            line.set_one_line()
        keep_room_for(self.vitals_row.message)
        self.event_log.add_message_line(self.side_effects.message)  # a line saved for the log's rows
        for part in (self.vitals_row, self.side_effects):
            part.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        lower_layout.addWidget(self.vitals_row)
        lower_layout.addWidget(self.side_effects)
        lower_layout.addWidget(self.event_log, 1)

        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(4)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        #: the nurse moved the split between plot and log: keep it (else share_height on each resize)
        self._split_by_hand = False
        self.splitter.splitterMoved.connect(self._split_moved)

        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)
        #: what changed while the chart was hidden (behind another chart or page),
        #: reloaded when it is shown again: a hidden chart does no work
        self._stale_chart = self._stale_alerts = False
        self._was_shown = False  # before the first show, changes are shown at once
        #: the notice being shown by `refresh` (None outside it, or when unknown)
        self.reason: Changes | None = None
        if session_id is not None:
            self.bind(session_id)

    def bind(self, session_id: int) -> None:
        """Give the chart its session (once): read it, add the parts that depend on it
        (the dose panel of its route, the record bar) and show it in every part."""
        assert self.session_id is None, "a chart shows one session"
        runner = self.runner
        self.chart: Chart = load_chart(runner.store, session_id)
        self.session_id = session_id
        for part in (self.vitals_row, self.side_effects, self.event_log, self.alerts):
            part.session_id = session_id
        self.dose_panel: DosePanel = dose_panel_for(runner, session_id, self.chart, self.side)
        self.side_layout.insertWidget(0, self.dose_panel)
        self.dose_panel.message.set_one_line()
        #: what the record still needs: pre-dose checks, discharge, signing, addenda
        self.record_bar = RecordBar(runner, session_id, self.header, chart=self.chart)
        self.actions_bar.addWidget(self.record_bar)
        self.refreshed.connect(lambda chart: self.record_bar.show_chart(chart, self.reason))
        self.ticked.connect(self.record_bar.tick)
        self.alerts.bind()
        runner.changed.connect(self._on_changed)
        #: what only those who chart see: front desk and administrators view the
        #: chart without them (the operations refuse them anyway)
        self.charting_controls = (self.vitals_row, self.side_effects, self.dose_panel, self.event_log.note,
                                  self.event_log.note_button, self.event_log.correct_button,
                                  self.event_log.error_button)
        #: whom the chart's message lines speak to (cleared when another user takes over)
        self._user_id = runner.actor.user_id if runner.actor else None
        runner.actor_changed.connect(self.fit_role)
        self.fit_role(runner.actor)
        self._show(self.chart)
        heap.settle_soon()  # the chart and its sets stay: out of the collector's walks

    def holds_input(self) -> bool:
        """Whether closing the chart would lose something typed here and not saved: a
        field edited by hand and not empty (the vitals row, a dose, a note, a lot), an
        "unsaved" marker shown (checklist ticks), or an entry waiting to be sent while
        the database cannot be reached. The main window closes only charts without."""
        for field in self.findChildren(QLineEdit):
            if field.isModified() and field.text().strip():
                return True
        for edit in [*self.findChildren(QPlainTextEdit), *self.findChildren(QTextEdit)]:
            if not edit.isReadOnly() and edit.document().isModified() and edit.toPlainText().strip():
                return True
        if any(label.property("role") == "unsaved" and not label.isHidden() for label in self.findChildren(QLabel)):
            return True
        return any(self._owns(p.owner) for p in self.runner.pending)

    def _owns(self, widget) -> bool:
        if widget is self:
            return True
        try:
            return isinstance(widget, QWidget) and self.isAncestorOf(widget)
        except RuntimeError:  # a widget already deleted (a closed dialog's): not this chart's
            return False

    def fit_role(self, actor) -> None:
        """Show the charting controls only to someone who may chart; what the chart
        said to the previous user ("✓ Vital signs saved", a refusal) goes with them."""
        can_chart = bool(actor and actor.can(Permission.CHART))
        for widget in self.charting_controls:
            widget.setVisible(can_chart)
        self.event_log.set_may_chart(can_chart)
        user_id = actor.user_id if actor else None
        if user_id != self._user_id:
            for line in self.findChildren(MessageLine):
                line.clear_message()
        self._user_id = user_id

    # ------------------------------------------------------------ refresh

    def _on_changed(self, changes: Changes) -> None:
        mine = self.session_id in changes.sessions or self.chart.patient.id in changes.patient_ids
        whole = mine and changes.any_of(*ENTRY_FLAGS)
        alerts_only = not whole and (changes.settings or (mine and changes.any_of("alerts", "limits")))
        if not (whole or alerts_only):
            return
        if not self.isVisible() and self._was_shown:
            self._stale_chart |= whole
            self._stale_alerts |= alerts_only
        elif whole:
            self.refresh(changes)  # the alert parts and the record bar follow through `refreshed`
        else:
            self.alerts.refresh()
            self.record_bar.reload()  # what is left to review before signing

    @screen_read
    def refresh(self, changes: Changes | None = None) -> None:
        """Reload the chart from the database and redraw every part. Runs after every
        saved entry, so each part must cost little with 43 200 sets: a notice of vital
        signs only reads the new sets (refresh_chart keeps the rest of the chart), the
        plot appends, the event log folds device readings.
        `changes` (the notice that caused it; None: anything may have changed) is kept
        in `reason` while the parts redraw, so a part may skip what did not change."""
        self._stale_chart = self._stale_alerts = False
        self.chart = refresh_chart(self.runner.store, self.chart, changes)
        self.reason = changes
        try:
            self._show(self.chart)
        finally:
            self.reason = None

    def _show(self, chart: Chart) -> None:
        self.header.show_chart(chart)
        self.dose_panel.show_chart(chart)
        self.plot.show_chart(chart)
        self.event_log.show_chart(chart)
        self.refreshed.emit(chart)

    def tick(self) -> None:
        """The once-a-second update: clock, countdown, running total. No query."""
        now = self.runner.store.clock.now()
        self.header.tick(self.chart, now)
        self.dose_panel.tick(now)
        self.vitals_row.set_now(now)
        self.plot.set_now(now)
        self.ticked.emit(now)
        heap.settle_if_due()

    def share_height(self) -> None:
        """Split the height between the plot (above) and the entry rows and the log
        (below): each gets its minimum, the log LOWER_SHARE of the rest. On every
        resize, until the nurse drags the split: then it stays where she put it."""
        upper, lower = self.splitter.widget(0), self.splitter.widget(1)
        spare = self.splitter.height() - self.splitter.handleWidth() - upper.minimumSizeHint().height() \
            - lower.minimumSizeHint().height()
        if spare < 0:
            return
        below = lower.minimumSizeHint().height() + int(spare * LOWER_SHARE)
        self.splitter.blockSignals(True)
        self.splitter.setSizes([self.splitter.height() - self.splitter.handleWidth() - below, below])
        self.splitter.blockSignals(False)

    def _split_moved(self, *_args) -> None:
        self._split_by_hand = True

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if not self._split_by_hand:
            self.share_height()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._split_by_hand:
            self.share_height()
        self._was_shown = True
        if self._stale_chart:
            self.refresh()
        elif self._stale_alerts:
            self._stale_alerts = False
            self.alerts.refresh()
            self.record_bar.reload()
        self.tick()
        self.timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.timer.stop()
        super().hideEvent(event)
