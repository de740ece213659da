"""The records screen for front-desk staff (and anyone finding a past session):
search by patient name or MRN, date range and state; see at a glance whether each
record is signed and where its esketamine monitoring form stands; print or export
the selected session, or open its record (sign, addenda). Below the list, the
forms still to file with the REMS across all sessions, due soonest first, overdue
ones marked; "Mark form sent…" records how and when one was sent.

The form's status comes from its filing rows in one batch per search
(`ketamon.core.rems.form_statuses`, `forms_to_file`), never one report per row.

The search runs in the core (`ketamon.core.record.find_sessions`); printing and
exporting are the functions of `ketamon.gui.printing` (each one audited there).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.ops.base import Changes
from ketamon.core.lifecycle import ENDED
from ketamon.core.permissions import Permission
from ketamon.core.record import STATE_FILTERS, RecordRow, find_sessions
from ketamon.core.rems import FormStatus, form_statuses, forms_to_file
from ketamon.gui import prompts
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.tables import FittedColumns
from ketamon.gui.theme import colour
from ketamon.gui.widgets import MessageLine, local_hm

COLUMNS = ("Scheduled", "Began", "Patient", "MRN", "Protocol", "State", "Signed", "Monitoring form")
#: the queue of forms still to file (the REMS asks for each within 7 days of the treatment)
BEGAN_TIP = "When the session began: the first dose, or the start of the pre-dose checks before it"
QUEUE_COLUMNS = ("Due", "Patient", "MRN", "Treatment", "Status")
#: why the form buttons are greyed out for an IV or IM ketamine session
NOT_ESKETAMINE = "The SPRAVATO® REMS monitoring form applies only to esketamine sessions."
#: change flags after which the list is searched again (what the table shows: state,
#: signature, patient, and the monitoring form's status, which follows the entries)
RELOAD_FLAGS = ("lifecycle", "session_details", "patients", "assessments", "record", "exports", "vitals",
                "doses", "side_effects")


def signature_text(row: RecordRow) -> str:
    if row.signed:
        when = row.signed_at.astimezone() if row.signed_at else None
        return f"✓ {row.signed_by or 'signed'}" + (f", {when:%d %b}" if when else "")
    if row.state in ENDED:
        return "Waiting for signature"
    return "Open"


def form_tooltip(status: FormStatus | None) -> str:
    """The form's filing in full: version, when printed, how and when sent."""
    if status is None or not status.required:
        return ""
    parts = [status.text]
    if status.version is not None:
        parts.append(f"Form template v{status.version}")
    if status.sent_at is not None and status.sent_reference:
        parts.append(f"Reference {status.sent_reference}")
    return "\n".join(parts)


def queue_due_text(status: FormStatus) -> str:
    """E.g. "OVERDUE since 27 Nov 2026" or "27 Nov 2026 (6 days)"."""
    from ketamon.core.report import fmt_date

    if status.overdue:
        return f"OVERDUE since {fmt_date(status.deadline)}"
    left = status.days_left
    return fmt_date(status.deadline) + ("" if left is None else " (today)" if left == 0
                                        else f" ({left} day{'s' * (left != 1)})")


class RecordsPage(QWidget):
    def __init__(self, runner: OpRunner, parent: QWidget | None = None,
                 open_chart: Callable[[int], object] | None = None):
        super().__init__(parent)
        self.setObjectName("recordsPage")
        self.runner = runner
        self.open_chart = open_chart
        self.rows: list[RecordRow] = []
        self.record_windows: dict[int, QWidget] = {}
        #: the list is searched when the page is first shown, and again when shown
        #: after a change: a hidden page does no work (the search costs a query per row)
        self._stale = True

        today = runner.store.clock.now().astimezone().date()
        self.search = QLineEdit()
        self.search.setObjectName("recordsSearch")
        self.search.setPlaceholderText("Patient name or MRN")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self.run_search)
        self.date_from = self._date_edit(today - timedelta(days=7), "recordsFrom")
        self.date_to = self._date_edit(today, "recordsTo")
        self.state = QComboBox()
        self.state.setObjectName("recordsState")
        for key, (label, _states) in STATE_FILTERS.items():
            self.state.addItem(label, key)
        self.state.currentIndexChanged.connect(self.run_search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.run_search)

        filters = QHBoxLayout()
        for label, widget in (("Patient", self.search), ("From", self.date_from), ("To", self.date_to),
                              ("State", self.state)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            filters.addWidget(caption)
            filters.addWidget(widget, 3 if widget is self.search else 0)
        filters.addWidget(self.search_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("recordsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        #: the protocol, signature and form share the width the others leave (elided,
        #: whole on hover): no horizontal scroll bar on a 1366×768 screen
        self.columns = FittedColumns(self.table, [COLUMNS.index(c) for c in ("Protocol", "Signed",
                                                                             "Monitoring form")],
                                     first_extra=COLUMNS.index("Protocol"))
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.open_record())

        # the queue of forms still to file, across all sessions (not only the search's)
        self.queue_statuses: list[FormStatus] = []
        self.queue = QTableWidget(0, len(QUEUE_COLUMNS))
        self.queue.setObjectName("formsToFileTable")
        self.queue.setHorizontalHeaderLabels(QUEUE_COLUMNS)
        self.queue.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queue.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queue.verticalHeader().setVisible(False)
        self.queue.setWordWrap(False)
        self.queue.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.queue.horizontalHeader().setStretchLastSection(True)
        self.queue.itemSelectionChanged.connect(self._queue_selection_changed)
        self.queue.doubleClicked.connect(lambda _index: self._show_queued_session())
        self.queue_count = QLabel()
        self.queue_count.setObjectName("formsToFileCount")
        self.queue_print_button = QPushButton("Print form…")
        self.queue_print_button.clicked.connect(lambda: self.print_form(self.queue_session_id()))
        self.queue_sent_button = QPushButton("Mark sent…")
        self.queue_sent_button.setToolTip("Record how and when the form was sent to the REMS")
        self.queue_sent_button.clicked.connect(lambda: self.mark_sent(self.queue_session_id()))
        queue_actions = QHBoxLayout()
        queue_actions.addWidget(self.queue_count, 1)
        queue_actions.addWidget(self.queue_print_button)
        queue_actions.addWidget(self.queue_sent_button)
        self.queue_box = QGroupBox("Forms to file")
        self.queue_box.setObjectName("formsToFile")
        queue_layout = QVBoxLayout(self.queue_box)
        queue_layout.addWidget(self.queue, 1)
        queue_layout.addLayout(queue_actions)

        self.count = QLabel()
        self.count.setObjectName("recordsCount")
        self.open_button = QPushButton("Open record…")
        self.open_button.setToolTip("Sign, read or add an addendum")
        self.open_button.clicked.connect(self.open_record)
        self.chart_button = QPushButton("Open chart")
        self.chart_button.clicked.connect(self._open_chart)
        self.chart_button.setVisible(open_chart is not None)
        self.print_summary_button = QPushButton("Print summary…")
        self.print_summary_button.clicked.connect(self.print_summary)
        self.print_form_button = QPushButton("Print monitoring form…")
        self.print_form_button.clicked.connect(lambda: self.print_form())
        self.mark_sent_button = QPushButton("Mark form sent…")
        self.mark_sent_button.setObjectName("markFormSent")
        self.mark_sent_button.clicked.connect(lambda: self.mark_sent())
        self.export_fhir_button = QPushButton("Export FHIR…")
        self.export_fhir_button.clicked.connect(lambda: self.export("fhir"))
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.clicked.connect(lambda: self.export("csv"))
        self.message = MessageLine()
        actions = QHBoxLayout()
        actions.addWidget(self.count, 1)
        for b in (self.open_button, self.chart_button, self.print_summary_button, self.print_form_button,
                  self.mark_sent_button, self.export_fhir_button, self.export_csv_button):
            actions.addWidget(b)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(filters)
        layout.addWidget(self.table, 3)
        layout.addLayout(actions)
        layout.addWidget(self.queue_box, 2)
        layout.addWidget(self.message)

        runner.changed.connect(self._on_changed)
        runner.actor_changed.connect(lambda _a: self._selection_changed())
        self._selection_changed()

    def _date_edit(self, day: date, name: str) -> QDateEdit:
        edit = QDateEdit(QDate(day.year, day.month, day.day))
        edit.setObjectName(name)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setCalendarPopup(True)
        edit.dateChanged.connect(self.run_search)
        return edit

    # ------------------------------------------------------------ search

    @screen_read
    def run_search(self) -> None:
        self._stale = False
        d_from, d_to = self.date_from.date().toPython(), self.date_to.date().toPython()
        selected = self.selected_session_id()
        self.rows, more = find_sessions(self.runner.store, self.search.text(), d_from, d_to,
                                        self.state.currentData() or "any")
        now = self.runner.store.clock.now()
        self.statuses = form_statuses(self.runner.store, [r.session_id for r in self.rows if r.form_required], now)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            when = row.scheduled_at.astimezone()
            status = self.statuses.get(row.session_id)
            form = status.text if status is not None else ""
            began = local_hm(row.began_at) if row.began_at else "not begun"
            values = (f"{when:%Y-%m-%d} {local_hm(row.scheduled_at)}", began, row.patient_name, row.mrn,
                      row.protocol_name, row.state_label, signature_text(row), form)
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.session_id)
                item.setToolTip(f"{text}, born {row.birth_date:%d %b %Y}" if COLUMNS[col] == "Patient"
                                else BEGAN_TIP if COLUMNS[col] == "Began"
                                else form_tooltip(status) if COLUMNS[col] == "Monitoring form" else text)
                if COLUMNS[col] == "Signed":
                    item.setForeground(QColor(colour("ok" if row.signed else "warning" if text.startswith(
                        "Waiting") else "text_muted")))
                if COLUMNS[col] == "Monitoring form" and "OVERDUE" in text:
                    item.setForeground(QColor(colour("refusal")))
                self.table.setItem(i, col, item)
        self.columns.refit()
        n = len(self.rows)
        self.count.setText(("No sessions found." if n == 0 else f"{n} session{'s' * (n != 1)}")
                           + (f" (the newest {n}; narrow the search to see older ones)" if more else ""))
        if selected is not None:
            self.select(selected)
        elif self.rows:
            self.table.selectRow(0)
        self.fill_queue(now)
        self._selection_changed()

    def fill_queue(self, now=None) -> None:
        """The forms still to file across all sessions, due soonest first (overdue on top)."""
        selected = self.queue_session_id()
        self.queue_statuses = forms_to_file(self.runner.store, now)
        self.queue.setRowCount(len(self.queue_statuses))
        for i, st in enumerate(self.queue_statuses):
            values = (queue_due_text(st), st.patient_name, st.mrn,
                      f"{st.treatment_date:%Y-%m-%d}" if st.treatment_date else "", st.state.capitalize())
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, st.session_id)
                item.setToolTip(form_tooltip(st))
                if st.overdue:
                    item.setForeground(QColor(colour("refusal")))
                self.queue.setItem(i, col, item)
            if selected == st.session_id:
                self.queue.selectRow(i)
        n, late = len(self.queue_statuses), sum(st.overdue for st in self.queue_statuses)
        self.queue_count.setText("No forms to file." if n == 0 else
                                 f"{n} form{'s' * (n != 1)} to file" + (f", {late} OVERDUE" if late else ""))
        self._queue_selection_changed()

    def queue_texts(self) -> list[list[str]]:
        """What the queue shows, row by row (tests and screen readers)."""
        return [[self.queue.item(r, c).text() for c in range(self.queue.columnCount())]
                for r in range(self.queue.rowCount())]

    def queue_session_id(self) -> int | None:
        items = self.queue.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _queue_selection_changed(self) -> None:
        actor = self.runner.actor
        can = self.queue_session_id() is not None and bool(actor and actor.can(Permission.PRINT))
        self.queue_print_button.setEnabled(can)
        self.queue_sent_button.setEnabled(can)

    def _show_queued_session(self) -> None:
        """Double-click in the queue: that session in the list above, if the search shows it."""
        sid = self.queue_session_id()
        if sid is not None and not self.select(sid):
            self.message.show_refusal(f"Session {sid} is outside the search above; widen the dates to see it.")

    def _on_changed(self, changes: Changes) -> None:
        """Searched again at once when shown; otherwise when next shown (the form
        status costs a record read per esketamine row)."""
        if changes.any_of(*RELOAD_FLAGS):
            if self.isVisible():
                self.run_search()
            else:
                self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._stale:
            self.run_search()

    def texts(self) -> list[list[str]]:
        """What the table shows, row by row (tests and screen readers)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    def selected_session_id(self) -> int | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select(self, session_id: int) -> bool:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == session_id:
                self.table.selectRow(r)
                return True
        return False

    def _selection_changed(self) -> None:
        sid = self.selected_session_id()
        row = next((r for r in self.rows if r.session_id == sid), None)
        actor = self.runner.actor
        has = row is not None
        self.open_button.setEnabled(has)
        self.chart_button.setEnabled(has)
        self.print_summary_button.setEnabled(has and bool(actor and actor.can(Permission.PRINT)))
        can_print = has and bool(actor and actor.can(Permission.PRINT))
        self.print_form_button.setEnabled(can_print and row.form_required)
        self.mark_sent_button.setEnabled(can_print and row.form_required)
        for b in (self.print_form_button, self.mark_sent_button):
            b.setToolTip(NOT_ESKETAMINE if has and not row.form_required else "")
        can_export = has and bool(actor and actor.can(Permission.EXPORT))
        self.export_fhir_button.setEnabled(can_export)
        self.export_csv_button.setEnabled(can_export)

    # ------------------------------------------------------------ actions

    def open_record(self):
        """The record panel of the selected session, in its own window."""
        from ketamon.gui.record_panel import RecordWindow

        sid = self.selected_session_id()
        if sid is None:
            return None
        window = self.record_windows.get(sid)
        if window is None:
            window = RecordWindow(self.runner, sid, self)
            self.record_windows[sid] = window
        window.show()
        window.raise_()
        return window

    def _open_chart(self) -> None:
        sid = self.selected_session_id()
        if sid is not None and self.open_chart is not None:
            self.open_chart(sid)

    def print_summary(self):
        from ketamon.gui import printing

        sid = self.selected_session_id()
        return printing.print_preview(self, self.runner, sid, "summary") if sid is not None else None

    def print_form(self, session_id: int | None = None):
        """The monitoring form's print preview (the core refuses it, with a sentence
        the runner shows, for a session that is not esketamine)."""
        from ketamon.gui import printing

        sid = session_id if session_id is not None else self.selected_session_id()
        return printing.print_form_preview(self, self.runner, sid) if sid is not None else None

    def mark_sent(self, session_id: int | None = None) -> bool:
        """Ask how the form was sent (and an optional reference), then record it
        (`ops.mark_form_sent`): the form leaves the queue of forms to file."""
        sid = session_id if session_id is not None else self.selected_session_id()
        if sid is None:
            return False
        how = prompts.ask_text(self, "Monitoring form sent",
                               f"How was the form of session {sid} sent (fax, REMS portal, email)?", "fax")
        if how is None:
            return False
        reference = prompts.ask_text(self, "Monitoring form sent",
                                     "Reference (fax confirmation, portal number), if any:", "")
        if reference is None:
            return False
        return self.runner.run(ops.mark_form_sent, sid, how, reference) is not None

    def export(self, fmt: str):
        """FHIR or CSV export of the selected session: `printing.export_session`
        asks where to save, audits the export and writes the file."""
        from ketamon.gui import printing

        sid = self.selected_session_id()
        if sid is None:
            return None
        export_session = getattr(printing, "export_session", None)
        if export_session is None:
            prompts.inform(self, "Export", "Export from this screen is not available in this version yet; "
                                           f"use `ketamon export {sid} --{fmt} FILE` on the command line.")
            return None
        return export_session(self, self.runner, sid, fmt)
