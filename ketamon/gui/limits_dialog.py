"""A physician edits one patient's limits: per parameter, the abnormal and
critical low/high, with a reason. Shows the protocol's value beside each field
and the history of changes. Saving is one operation (all changes or none);
typing the protocol's own numbers returns that tier to the protocol."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import alerts
from ketamon.core.models import Session
from ketamon.core.ops import alerting
from ketamon.core.protocols import PARAMETERS, _fmt
from ketamon.core.rules import TIERS, effective_limits
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import local_hm

EDITABLE = ("systolic", "diastolic", "mean_arterial", "heart_rate", "spo2", "resp_rate", "temperature")


def _num(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    return float(text)


class LimitsDialog(QDialog):
    def __init__(self, runner: OpRunner, patient_id: int, *, session_id: int | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.patient_id, self.session_id = runner, patient_id, session_id
        self.setWindowTitle("Patient limits")
        self.saved = False
        store = runner.store
        with store.read() as db:
            if session_id is not None:
                s = db.get(Session, session_id)
                self.protocol = store.protocols.get(s.protocol_id, s.protocol_version)
            else:
                self.protocol = store.protocols.current()[0]
            history = alerts.limit_changes(db, patient_id)
        self.current = effective_limits(self.protocol, history)
        title = QLabel("Patient limits")
        title.setObjectName("dialogTitle")
        note = QLabel(f"Protocol: {self.protocol.name}. The fields show the limits in force; shaded ones are "
                      "this patient's own (point at a field for the protocol's value). An empty field has no limit "
                      "on that side. Alerts follow new limits at once, in every session of this patient.")
        note.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        heads = ["", "Abnormal low", "Abnormal high", "Critical low", "Critical high"]
        for col, h in enumerate(heads):
            lab = QLabel(f"<b>{h}</b>")
            grid.addWidget(lab, 0, col)
        #: (parameter, tier, "low"/"high") -> field
        self.fields: dict[tuple[str, str, str], QLineEdit] = {}
        for row, param in enumerate((p for p in EDITABLE if p in self.protocol.ranges), start=1):
            label, unit = PARAMETERS[param]
            grid.addWidget(QLabel(f"{label} ({unit})"), row, 0)
            for col, (tier, side) in enumerate((("abnormal", "low"), ("abnormal", "high"),
                                                ("critical", "low"), ("critical", "high")), start=1):
                field = QLineEdit()
                field.setFixedWidth(90)
                value = getattr(getattr(self.current.ranges[param], tier), side)
                base = getattr(getattr(self.protocol.ranges[param], tier), side)
                field.setText("" if value is None else _fmt(value))
                field.setPlaceholderText("—")
                field.setToolTip(f"Protocol: {'none' if base is None else _fmt(base)}")
                if (param, tier) in self.current.overridden:
                    set_role(field, "patient")
                self.fields[(param, tier, side)] = field
                grid.addWidget(field, row, col)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason (required), e.g. known hypertension, usual SBP 160s")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.hide()
        self.history = QListWidget()
        self.history.setMaximumHeight(110)
        for c in reversed(history):
            band = "protocol's" if c.low is None and c.high is None else \
                f"{'—' if c.low is None else _fmt(c.low)}–{'—' if c.high is None else _fmt(c.high)}"
            self.history.addItem(f"{c.set_at.astimezone():%d %b} {local_hm(c.set_at)}  {PARAMETERS[c.parameter][0]} "
                                 f"{c.tier} → {band}  ({c.set_by}: {c.reason})")
        if not history:
            self.history.addItem("No changes yet: the protocol's limits apply.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(note)
        layout.addLayout(grid)
        layout.addWidget(QLabel("Reason"))
        layout.addWidget(self.reason)
        layout.addWidget(self.error)
        layout.addWidget(QLabel("Changes so far"))
        layout.addWidget(self.history)
        layout.addWidget(buttons)

    def changes(self) -> list[tuple[str, str, float | None, float | None]]:
        """What differs from the limits in force; ValueError for a field that is not a number."""
        out = []
        for param in {p for p, _t, _s in self.fields}:
            for tier in TIERS:
                lo_f, hi_f = self.fields[(param, tier, "low")], self.fields[(param, tier, "high")]
                try:
                    low, high = _num(lo_f.text()), _num(hi_f.text())
                except ValueError:
                    raise ValueError(f"{PARAMETERS[param][0]} {tier}: type numbers only.") from None
                now = getattr(self.current.ranges[param], tier)
                if (low, high) == (now.low, now.high):
                    continue
                base = getattr(self.protocol.ranges[param], tier)
                if (low, high) == (base.low, base.high):
                    low = high = None  # back to the protocol's
                out.append((param, tier, low, high))
        order = {p: i for i, p in enumerate(EDITABLE)}
        return sorted(out, key=lambda c: (order[c[0]], c[1]))

    def save(self) -> None:
        try:
            changes = self.changes()
        except ValueError as exc:
            self._refuse(str(exc))
            return
        if not changes:
            self._refuse("Nothing was changed.")
            return
        done = self.runner.run(alerting.set_patient_limit_changes, self.patient_id, changes,
                               reason=self.reason.text(), session_id=self.session_id)
        if done is None:
            self._refuse(self.runner.last_refusal or "Not saved.")
            return
        self.saved = True
        self.accept()

    def _refuse(self, text: str) -> None:
        self.error.setText(text)
        set_role(self.error, "refusal")
        self.error.show()

