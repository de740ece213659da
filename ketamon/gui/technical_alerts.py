"""The Technical alerts page: every active technical alert of the clinic (a
silent monitor, a lost connection, refused monitor messages), session-less ones
included, kept apart from the patients' alerts, with Acknowledge and Resolve.

Resolving is for someone who has checked the device (the operation refuses the
front desk); the feed resolves its own alerts when data flows again.
"""
from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.changes import OpChanges
from ketamon.core.ops.device import TechnicalAlert, technical_alerts
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.widgets import MessageLine, local_hm

COLUMNS = ("Raised", "Where", "Problem", "Acknowledged")


class TechnicalAlertsPage(QWidget):
    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.rows: list[TechnicalAlert] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("technicalAlerts")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = QLabel("No technical alerts: every monitor and connection is as it should be.")
        self.acknowledge_button = QPushButton("Acknowledge")
        self.resolve_button = QPushButton("Resolve")
        self.resolve_button.setToolTip("The device has been checked and the problem is gone")
        self.acknowledge_button.clicked.connect(self.acknowledge_selected)
        self.resolve_button.clicked.connect(self.resolve_selected)
        self.message = MessageLine()
        title = QLabel("Technical alerts")
        title.setStyleSheet("font-weight: bold; font-size: 15pt;")
        note = QLabel("Monitors, connections and refused monitor messages. ketamon's alerts are documentation "
                      "aids beside the monitor's own alarms, never a replacement for them.")
        note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.acknowledge_button)
        buttons.addWidget(self.resolve_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(note)
        layout.addWidget(self.message)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        runner.changed.connect(self._changed)
        self._update_buttons()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name): hidden pages do no work until shown
        super().showEvent(event)
        self.reload()

    def _changed(self, changes: OpChanges) -> None:
        if self.isVisible() and changes.any_of("alerts", "vitals"):
            self.reload()

    @screen_read
    def reload(self) -> None:
        self.rows = technical_alerts(self.runner.store)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, text in enumerate((local_hm(row.raised_at), row.where, row.message, row.acknowledged or "—")):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.empty.setVisible(not self.rows)
        self._update_buttons()

    def selected(self) -> TechnicalAlert | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        row = self.selected()
        self.acknowledge_button.setEnabled(row is not None and not row.acknowledged)
        self.resolve_button.setEnabled(row is not None)

    def acknowledge_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self._said(self.runner.run(ops.acknowledge_alert, row.alert_id))

    def resolve_selected(self) -> None:
        row = self.selected()
        if row is not None:
            self._said(self.runner.run(ops.technical_problem_resolved, row.key, session_id=row.session_id))

    def _said(self, changes) -> None:
        if changes is None:
            self.message.show_refusal(self.runner.last_refusal or "refused")
        else:
            self.message.show_ok(changes.message or "Done")
            self.reload()
