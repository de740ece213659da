"""The event log: every entry of the session in time order (corrections and
retractions included, superseded lines struck through), and the two ways to
fix one: "Correct…" (new values + reason) and "Entered in error…" (reason).

A correction is always a new entry superseding the old one (ops with
`supersedes_id`); nothing is edited in place.

Routine device readings (a monitor feeding a set every second: 43 200 lines in
12 hours) are folded away unless "Show device readings" is ticked; a device
reading that was corrected, or a correction of one, is always shown. The table
must stay fast with all of them shown: fixed row height and fixed column widths
(nothing that makes Qt measure every row), text formatted once per line.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.chart import Chart, LogLine
from ketamon.core.device_sets import NOT_VALIDATED, Verdict
from ketamon.core.models import SCALES, DoseEvent, Note, SideEffect
from ketamon.core.stored_vitals import is_vital_signs
from ketamon.gui import prompts
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import colour, set_role
from ketamon.gui.widgets import MessageLine, local_hm, parse_number, parse_time_of_day

KIND_LABELS = {"vitals": "Vital signs", "dose": "Dose", "side_effect": "Side effect", "note": "Note",
               "assessment": "Assessment", "state": "Session"}
COLUMNS = ("Time", "Type", "Entry", "By", "Entered", "Remarks")
#: rows the log always shows, however crowded the screen (with alerts and messages at 1366×768)
MIN_ROWS = 6
#: pixels between a row's text and the next row
ROW_PADDING = 4
CORRECTABLE = ("vital_signs", "dose_event", "side_effect", "note")


class WholeRowsTable(QTableView):
    """A table that shows whole rows only: the height below the last whole row is
    left blank (a bottom viewport margin). Scrolled to the newest line, Qt aligns
    the last row with the bottom edge, so any part-row of height cut the top
    visible row in half."""

    def updateGeometries(self) -> None:  # noqa: N802 (Qt name)
        super().updateGeometries()  # sets the header margins (left, top), bottom 0
        margins = self.viewportMargins()
        row = self.verticalHeader().defaultSectionSize()
        rows_area = self.height() - 2 * self.frameWidth() - margins.top()
        if self.horizontalScrollBar().isVisible():
            rows_area -= self.horizontalScrollBar().height()
        spare = rows_area % row if row > 0 and rows_area > 0 else 0
        if margins.bottom() != spare:
            margins.setBottom(spare)
            self.setViewportMargins(margins)


def _row_of(lines: list[LogLine], line: LogLine) -> int | None:
    """Where the entry behind `line` is in `lines` (sorted by time), if there."""
    key = (line.at, line.entered_at)
    row = bisect_left(lines, key, key=lambda x: (x.at, x.entered_at))
    while row < len(lines) and (lines[row].at, lines[row].entered_at) == key:
        if (lines[row].entity, lines[row].entity_id) == (line.entity, line.entity_id):
            return row
        row += 1
    return None


def remarks(line: LogLine, verdict: Verdict | None = None) -> str:
    parts = []
    if line.device and line.entity == "vital_signs" and not line.retracted:
        parts.append(verdict.text() if verdict is not None else NOT_VALIDATED)
    if line.retracted:
        parts.append(f"Entered in error: {line.reason}" if line.reason else "Entered in error")
    elif line.correction:
        parts.append(f"Correction: {line.reason}" if line.reason else "Correction")
    elif line.late:
        parts.append("Late entry")
    if line.superseded:
        parts.append("Superseded")
    return " · ".join(parts)


#: the roles EventLogModel.data answers (the others are None)
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole,
                    Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.UserRole})


class EventLogModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.lines: list[LogLine] = []
        self._grey = QColor(colour("superseded"))
        self._late = QColor(colour("warning"))
        #: the nurse's verdict on each device set (a set without one is shown lighter)
        self.verdicts: dict[int, Verdict] = {}
        #: id(line) -> (line, its columns as shown); lines outlive a reload (core keeps them)
        self._texts: dict[int, tuple[LogLine, tuple[str, ...]]] = {}

    def set_lines(self, lines: list[LogLine], verdicts: dict[int, Verdict] | None = None) -> bool:
        """Show `lines`. When they are the lines shown with more after them (an
        entry saved now: the usual case), only the new rows are inserted; the
        view keeps its layout and repaints the new rows alone. Anything else
        (a late entry placed earlier, a correction, another verdict) resets the
        model; the same lines again change nothing. Returns True when the model was
        reset."""
        new_verdicts = verdicts is not None and verdicts != self.verdicts
        old, n = self.lines, len(self.lines)
        if not new_verdicts and n == len(lines) and all(a is b or a == b for a, b in zip(old, lines)):
            # the same lines (a device reading, hidden here, came in): nothing to lay
            # out or paint again (a reset repainted the whole table once a second)
            return False
        if not new_verdicts and n < len(lines) and all(a is b for a, b in zip(old, lines)):
            self.beginInsertRows(QModelIndex(), n, len(lines) - 1)
            self.lines = list(lines)
            self.endInsertRows()
            return False
        self.beginResetModel()
        self.lines = list(lines)
        if new_verdicts:
            self.verdicts = verdicts
            self._texts.clear()
        if len(self._texts) > 2 * len(self.lines) + 2000:
            self._texts.clear()
        self.endResetModel()
        return True

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def text(self, row: int, column: int) -> str:
        line = self.lines[row]
        hit = self._texts.get(id(line))
        if hit is None or hit[0] is not line:
            hit = self._texts[id(line)] = (line, (local_hm(line.at), KIND_LABELS.get(line.kind, line.kind),
                                                  line.text, line.who, local_hm(line.entered_at),
                                                  remarks(line, self.verdicts.get(line.entity_id))))
        return hit[1][column]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # asked ~7 times per cell each time the table paints (after every saved entry):
        # the roles the log does not use are answered first, at once
        if role not in _ROLES or not index.isValid():
            return None
        line = self.lines[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.FontRole:
            if line.superseded or line.retracted:
                font = QFont()
                font.setStrikeOut(line.superseded)
                font.setItalic(line.retracted)
                return font
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if line.superseded or line.retracted or self._unvalidated(line):
                return self._grey
            if index.column() == 5 and line.late:
                return self._late
            return None
        if role == Qt.ItemDataRole.UserRole:
            return line
        return None

    def _unvalidated(self, line: LogLine) -> bool:
        """A device set no nurse has validated (or one marked an artefact): lighter."""
        if not (line.device and line.entity == "vital_signs"):
            return False
        verdict = self.verdicts.get(line.entity_id)
        return verdict is None or verdict.verdict == "artefact"


class EventLog(QWidget):
    """The log table with its Correct… / Entered in error… buttons."""

    #: a correction dialog was opened (tests and screenshots pick it up here)
    correction_opened = Signal(object)

    def __init__(self, runner: OpRunner, session_id: int | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.session_id = session_id
        self.chart: Chart | None = None
        self.correction_dialog: CorrectionDialog | None = None
        #: the note kept while the database cannot be reached: (Pending, its text)
        self._pending_note: tuple | None = None
        runner.settled.connect(self._settled)
        self.model = EventLogModel(self)
        self.table = WholeRowsTable(self)
        self.table.setObjectName("eventLog")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        # one row height for all rows and widths from the font, never from the rows:
        # "resize to contents" would make Qt ask every row for its text
        self.table.ensurePolished()
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setMinimumSectionSize(1)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + ROW_PADDING)
        self.table.setMinimumHeight(self.height_for_rows(MIN_ROWS))
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(5, 220)
        self._names_width_for: frozenset[str] = frozenset()
        self._size_columns(["—"])
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        self.correct_button = QPushButton("Correct…")
        self.correct_button.setToolTip("Enter the right values; the original stays in the record")
        self.error_button = QPushButton("Entered in error…")
        self.error_button.setToolTip("Mark the selected entry as entered in error (it stays, struck through)")
        self.correct_button.clicked.connect(self.correct_selected)
        self.error_button.clicked.connect(self.retract_selected)
        #: whether the user may chart (set by the chart; front desk only reads)
        self.may_chart = True
        #: the nurse's verdict on a device set, one key each in the table: V, A
        self.validate_button = QPushButton("Valid (V)")
        self.validate_button.setToolTip("Confirm the selected monitor set as the patient's values")
        self.artefact_button = QPushButton("Artefact (A)")
        self.artefact_button.setToolTip("Mark the selected monitor set as an artefact, with the reason")
        self.validate_button.clicked.connect(self.validate_selected)
        self.artefact_button.clicked.connect(self.mark_artefact_selected)
        self._keys = {Qt.Key.Key_V: self.validate_selected, Qt.Key.Key_A: self.mark_artefact_selected}
        self.table.installEventFilter(self)
        self.message = MessageLine()

        self.note = QLineEdit()
        self.note.setObjectName("noteField")
        self.note.setPlaceholderText("Add a note to the record — Enter saves")
        self.note.returnPressed.connect(self.add_note)
        self.note_button = QPushButton("Add note")
        self.note_button.clicked.connect(self.add_note)
        self.device_toggle = QCheckBox("Show device readings")
        self.device_toggle.setObjectName("showDeviceReadings")
        self.device_toggle.setToolTip("Readings the monitor sent on its own. Corrected ones are always shown.")
        self.device_toggle.setVisible(False)
        self.device_toggle.toggled.connect(self._device_toggled)

        title = QLabel("Event log")
        title.setStyleSheet("font-weight: bold;")
        top = QHBoxLayout()
        #: the log's title line: title, note field, message, buttons (the chart may add a message line)
        self.top_bar = top
        top.addWidget(title)
        top.addSpacing(12)
        # the note field keeps half of the line's room beside the messages (two long
        # messages took two thirds of it, and a nurse typing a note saw 20 letters)
        top.addWidget(self.note, 2)
        top.addWidget(self.note_button)
        # what the last note, correction or retraction did: on this line, so the
        # table keeps its rows when a message appears
        top.addWidget(self.message, 1)
        top.addSpacing(12)
        top.addWidget(self.device_toggle)
        top.addSpacing(12)
        top.addWidget(self.validate_button)
        top.addWidget(self.artefact_button)
        top.addWidget(self.correct_button)
        top.addWidget(self.error_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    def add_message_line(self, line: QWidget) -> None:
        """Show another part's message line on the title line, after the log's own
        (the side effects': what a click recorded appears beside the log it went into)."""
        self.top_bar.insertWidget(self.top_bar.indexOf(self.message) + 1, line, 1)

    def height_for_rows(self, n: int) -> int:
        """The table's height showing `n` whole rows under its header."""
        header = self.table.horizontalHeader().sizeHint().height()
        frame = 2 * self.table.frameWidth()
        return header + n * self.table.verticalHeader().defaultSectionSize() + frame

    def visible_rows(self) -> int:
        """Whole rows the table has room for now."""
        return self.table.viewport().height() // self.table.verticalHeader().defaultSectionSize()

    # ------------------------------------------------------------ content

    def show_chart(self, chart: Chart) -> None:
        self.chart = chart
        n = chart.device_readings
        self.device_toggle.setText(f"Show device readings ({n:,})")
        self.device_toggle.setVisible(n > 0 or self.device_toggle.isChecked())
        self._size_columns({u.display_name for u in chart.users.values()})
        self._show_lines()

    def _device_toggled(self, _on: bool) -> None:
        if self.chart is not None:
            self._show_lines()

    def _show_lines(self) -> None:
        chart = self.chart
        assert chart is not None
        lines = chart.log if self.device_toggle.isChecked() else chart.log_without_device_readings
        selected = self.selected_line()
        grew = len(lines) != len(self.model.lines)
        bar = self.table.verticalScrollBar()
        # follow the newest line, unless the nurse has scrolled back to read
        position = bar.value()
        follow = position >= bar.maximum() - 2 or not self.table.isVisible()
        reset = self.model.set_lines(lines, chart.verdicts)  # read with the sets: no query here
        if reset and selected is not None:
            row = _row_of(lines, selected)
            if row is not None:
                self.table.selectRow(row)
        if grew and follow:
            self.table.scrollToBottom()
            QTimer.singleShot(0, self.table, self.table.scrollToBottom)  # again once the rows are laid out
        elif not follow:
            bar.setValue(position)
        self._update_buttons()

    def _size_columns(self, names) -> None:
        """Column widths from the font (and the users' names), so no row is measured."""
        names = frozenset(names) | {"—"}
        if names == self._names_width_for:
            return
        self._names_width_for = names
        self.table.ensurePolished()
        fm = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        pad = 28
        time_w = max(fm.horizontalAdvance("00:00"), header.fontMetrics().horizontalAdvance("Entered")) + pad
        header.resizeSection(0, time_w)
        header.resizeSection(1, max(fm.horizontalAdvance(t) for t in KIND_LABELS.values()) + pad)
        header.resizeSection(3, min(max(fm.horizontalAdvance(n) for n in names) + pad, 320))
        header.resizeSection(4, time_w)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.selected_line() is None:
            QTimer.singleShot(0, self.table, self.table.scrollToBottom)  # the newest entries first in view

    def rows_text(self) -> list[str]:
        """Each line as shown, columns joined by ' | ' (for tests and quick checks)."""
        return [" | ".join(self.model.text(r, c) for c in range(len(COLUMNS))) for r in range(self.model.rowCount())]

    def select_entry(self, entity: str, entity_id: int) -> None:
        for row, line in enumerate(self.model.lines):
            if (line.entity, line.entity_id) == (entity, entity_id):
                self.table.selectRow(row)
                return
        raise KeyError((entity, entity_id))

    def selected_line(self) -> LogLine | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.model.lines[rows[0].row()] if rows else None

    def _entry(self, line: LogLine):
        """The entry in force behind a log line (None if superseded or a retraction)."""
        if self.chart is None or line.superseded or line.retracted:
            return None
        if line.entity == "vital_signs":
            # in force, by (measured_at, entered_at, id): find it without walking 43 200 sets
            vitals = self.chart.vitals
            i = bisect_left(vitals, (line.at, line.entered_at, line.entity_id),
                            key=lambda v: (v.measured_at, v.entered_at, v.id))
            if i < len(vitals) and vitals[i].id == line.entity_id:
                return vitals[i]
            if line.artefact:  # out of force for its verdict only: still validated again, corrected
                return self.chart.artefact_sets.get(line.entity_id)
        pool = {"vital_signs": self.chart.vitals, "dose_event": self.chart.doses,
                "side_effect": self.chart.side_effects, "note": self.chart.notes}.get(line.entity, [])
        return next((e for e in pool if e.id == line.entity_id), None)

    def set_may_chart(self, may: bool) -> None:
        """Validate/Artefact show only to someone who may chart (front desk reads)."""
        self.may_chart = may
        self._update_buttons()

    def _update_buttons(self, *_args) -> None:
        line = self.selected_line()
        ok = line is not None and line.entity in CORRECTABLE and self._entry(line) is not None
        self.correct_button.setEnabled(ok)
        self.error_button.setEnabled(ok)
        device = ok and line.device and line.entity == "vital_signs"
        self.validate_button.setVisible(self.may_chart and (
            self.chart is not None and self.chart.device_readings > 0 or device))
        self.artefact_button.setVisible(self.validate_button.isVisible())
        self.validate_button.setEnabled(device)
        self.artefact_button.setEnabled(device)

    # ------------------------------------------------------------ device sets

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        """V and A in the table: the verdict on the selected device set in one keystroke."""
        if watched is self.table and event.type() == QEvent.Type.KeyPress \
                and event.modifiers() == Qt.KeyboardModifier.NoModifier and event.key() in self._keys \
                and self._selected_device_set() is not None:
            self._keys[event.key()]()
            return True
        return super().eventFilter(watched, event)

    def _selected_device_set(self) -> LogLine | None:
        line = self.selected_line()
        if line is None or not line.device or line.entity != "vital_signs" or self._entry(line) is None:
            return None
        return line

    def validate_selected(self) -> None:
        line = self._selected_device_set()
        if line is not None:
            self._said(self.runner.run(ops.validate_device_set, line.entity_id))

    def mark_artefact_selected(self) -> None:
        line = self._selected_device_set()
        if line is None:
            return
        reason = prompts.ask_text(self, "Artefact", f"Why is this monitor set an artefact?\n{line.text}")
        if reason is not None:
            self._said(self.runner.run(ops.mark_device_artefact, line.entity_id, reason))

    def _said(self, changes) -> None:
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
        else:
            self.message.show_ok(changes.message)

    def add_note(self) -> None:
        """Save the note; while the database is away it waits, kept in its field,
        and is sent by itself when the database answers (OpRunner.send)."""
        changes = self.runner.send(ops.add_note, self.session_id, self.note.text(), owner=self, when="at")
        if self.runner.last_pending is not None:
            self._pending_note = (self.runner.last_pending, self.note.text())
        self._note_said(changes, self.runner.last_refusal)

    def _note_said(self, changes, refusal: str | None) -> None:
        if changes is None:
            self.message.show_refusal(refusal or "refused")
        else:
            self.note.clear()
            self.message.show_ok(changes.message or "Note saved")

    def _settled(self, pending) -> None:
        """A note kept while the database was away has been sent."""
        if self._pending_note is not None and pending is self._pending_note[0]:
            text, self._pending_note = self._pending_note[1], None
            if pending.changes is not None and self.note.text() != text:
                self.message.show_ok(pending.changes.message)  # another note typed since: keep it
            else:
                self._note_said(pending.changes, pending.refusal)

    # ------------------------------------------------------------ corrections

    def correct_selected(self) -> None:
        line = self.selected_line()
        entry = self._entry(line) if line else None
        if entry is None:
            return
        self.correction_dialog = CorrectionDialog(self.runner, self.session_id, entry, self)
        self.correction_dialog.finished.connect(self._correction_closed)
        self.correction_opened.emit(self.correction_dialog)
        self.correction_dialog.open()

    def _correction_closed(self, _result: int) -> None:
        dialog, self.correction_dialog = self.correction_dialog, None
        if dialog is not None:
            if dialog.result() == QDialog.DialogCode.Accepted:
                self.message.show_ok(dialog.saved_message)
            dialog.deleteLater()

    def retract_selected(self) -> None:
        line = self.selected_line()
        entry = self._entry(line) if line else None
        if entry is None:
            return
        reason = prompts.ask_text(self, "Entered in error",
                                  f"Why was this entry wrong?\n{line.text}")
        if reason is None:
            return
        sid = self.session_id
        if is_vital_signs(entry):
            changes = self.runner.run(ops.record_vitals, sid, measured_at=entry.measured_at, supersedes_id=entry.id,
                                      correction_reason=reason, retracted=True)
        elif isinstance(entry, SideEffect):
            changes = self.runner.run(ops.record_side_effect, sid, entry.kind, observed_at=entry.observed_at,
                                      supersedes_id=entry.id, correction_reason=reason, retracted=True)
        elif isinstance(entry, Note):
            changes = self.runner.run(ops.add_note, sid, "", at=entry.at, supersedes_id=entry.id,
                                      correction_reason=reason, retracted=True)
        else:
            changes = self.runner.run(ops.correct_dose, sid, entry.id, reason=reason, retract=True)
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
        else:
            self.message.show_ok(changes.message or "Marked as entered in error")


def _num(value) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


class CorrectionDialog(QDialog):
    """New values for one entry, plus the reason. Saving runs the correcting
    operation; a refusal keeps the dialog open with the reason shown."""

    def __init__(self, runner: OpRunner, session_id: int, entry, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.session_id = session_id
        self.entry = entry
        self.saved_message = ""
        self.setWindowTitle("Correct an entry")
        self.setModal(True)
        self.fields: dict[str, QWidget] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        if is_vital_signs(entry):
            what = f"Vital signs measured at {local_hm(entry.measured_at)}"
            for name, label in (("systolic", "Systolic (mmHg)"), ("diastolic", "Diastolic (mmHg)"),
                                ("heart_rate", "Heart rate (/min)"), ("spo2", "SpO2 (%)"),
                                ("resp_rate", "Resp. rate (/min)"), ("temperature", "Temperature (°C)")):
                self.fields[name] = QLineEdit(_num(getattr(entry, name)))
                form.addRow(label, self.fields[name])
            o2 = QCheckBox("On oxygen")
            o2.setChecked(bool(entry.on_oxygen))
            self.fields["on_oxygen"] = o2
            form.addRow("", o2)
            acvpu = QComboBox()
            acvpu.addItems(["", "A", "C", "V", "P", "U"])
            acvpu.setCurrentText(entry.consciousness or "")
            self.fields["consciousness"] = acvpu
            form.addRow("ACVPU", acvpu)
            self.fields["comment"] = QLineEdit(entry.comment or "")
            form.addRow("Comment", self.fields["comment"])
        elif isinstance(entry, SideEffect):
            what = f"{entry.kind.replace('_', ' ').capitalize()} at {local_hm(entry.observed_at)}"
            if entry.scale:
                lo, hi = SCALES.get(entry.scale, (0, 10))
                self.fields["score"] = QLineEdit(_num(entry.score))
                form.addRow(f"Score ({entry.scale}, {lo}–{hi})", self.fields["score"])
            self.fields["text"] = QLineEdit(entry.text or "")
            form.addRow("Description", self.fields["text"])
        elif isinstance(entry, Note):
            what = f"Note at {local_hm(entry.at)}"
            self.fields["text"] = QLineEdit(entry.text)
            form.addRow("Note", self.fields["text"])
        else:
            assert isinstance(entry, DoseEvent)
            what = f"Dose event at {local_hm(entry.at)}"
            self.fields["at"] = QLineEdit(local_hm(entry.at))
            form.addRow("Time (HH:MM)", self.fields["at"])
            if entry.kind in ("nasal_device", "im_injection"):
                self.fields["amount_mg"] = QLineEdit(_num(entry.amount_mg))
                form.addRow("Amount (mg)", self.fields["amount_mg"])
            if entry.kind in ("infusion_start", "infusion_rate"):
                self.fields["rate_mg_per_h"] = QLineEdit(_num(entry.rate_mg_per_h))
                form.addRow("Rate (mg/h)", self.fields["rate_mg_per_h"])
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("what was wrong, e.g. typed 185 for 135" if is_vital_signs(entry)
                                       else "what was wrong")
        form.addRow("Reason (required)", self.reason)
        title = QLabel(f"Correct: {what}")
        title.setObjectName("dialogTitle")
        note = QLabel("The original entry stays in the record, struck through.")
        note.setProperty("role", "muted")
        self.message = MessageLine()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save correction")
        set_role(self.save_button, "primary")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        for w in self.fields.values():
            if isinstance(w, QLineEdit):
                w.setCursorPosition(0)

    def _text(self, name: str) -> str:
        w = self.fields[name]
        return w.text() if isinstance(w, QLineEdit) else ""

    def accept(self) -> None:
        e, sid, reason = self.entry, self.session_id, self.reason.text()
        try:
            if is_vital_signs(e):
                values = {n: parse_number(self._text(n), label, decimal=(n == "temperature"))
                          for n, label in (("systolic", "Systolic"), ("diastolic", "Diastolic"),
                                           ("heart_rate", "Heart rate"), ("spo2", "SpO2"),
                                           ("resp_rate", "Resp. rate"), ("temperature", "Temperature"))}
                acvpu = self.fields["consciousness"].currentText() or None
                o2 = self.fields["on_oxygen"].isChecked()
                call = (ops.record_vitals, (sid,), dict(
                    measured_at=e.measured_at, **values, mean_arterial=e.mean_arterial if e.mean_measured else None,
                    on_oxygen=True if o2 else (False if e.on_oxygen is not None or values["spo2"] is not None
                                               else None),
                    consciousness=acvpu, comment=self._text("comment"), source=e.source,
                    supersedes_id=e.id, correction_reason=reason))
            elif isinstance(e, SideEffect):
                score = parse_number(self._text("score"), "Score", decimal=True) if "score" in self.fields else None
                call = (ops.record_side_effect, (sid, e.kind), dict(
                    observed_at=e.observed_at, scale=e.scale if score is not None else None, score=score,
                    items=None, text=self._text("text"), supersedes_id=e.id, correction_reason=reason))
            elif isinstance(e, Note):
                call = (ops.add_note, (sid, self._text("text")), dict(at=e.at, supersedes_id=e.id,
                                                                       correction_reason=reason))
            else:
                kwargs: dict[str, Any] = dict(reason=reason)
                at = parse_time_of_day(self._text("at"), self.runner.store.clock.now(), "Time")
                if at is not None and local_hm(at) != local_hm(e.at):
                    kwargs["at"] = at
                if "amount_mg" in self.fields:
                    kwargs["amount_mg"] = parse_number(self._text("amount_mg"), "Amount", decimal=True)
                if "rate_mg_per_h" in self.fields:
                    kwargs["rate_mg_per_h"] = parse_number(self._text("rate_mg_per_h"), "Rate", decimal=True)
                call = (ops.correct_dose, (sid, e.id), kwargs)
        except ValueError as exc:
            self.message.show_refusal(str(exc))
            return
        operation, args, kwargs = call
        changes = self.runner.run(operation, *args, **kwargs)
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
            return
        self.saved_message = changes.message or "Correction saved"
        super().accept()
