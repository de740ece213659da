"""Quick side-effect entry: one click records a score or an observed effect at
the current time; a wrong click is fixed from the event log ("Entered in
error…"). Other effects are typed, Enter saves. (Notes: the event log's note field.)"""
from __future__ import annotations

from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ketamon.core import ops
from ketamon.core.models import SIDE_EFFECT_KINDS
from ketamon.gui.runner import OpRunner, send_here
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine

MOAAS_HELP = {
    5: "Responds readily to name in normal tone",
    4: "Lethargic response to name in normal tone",
    3: "Responds only after name is called loudly and/or repeatedly",
    2: "Responds only after mild prodding or shaking",
    1: "Responds only after painful trapezius squeeze",
    0: "No response after painful trapezius squeeze",
}
DISSOCIATION_HELP = {0: "None", 1: "Mild", 2: "Moderate", 3: "Marked", 4: "Severe"}
#: one-click effects: (kind, button label)
EFFECTS = (
    ("vomiting", "Vomiting"),
    ("dizziness", "Dizziness"),
    ("headache", "Headache"),
    ("anxiety", "Anxiety / agitation"),
    ("hallucinations", "Hallucinations"),
    ("respiratory_depression", "Resp. depression"),
)


class SideEffectPanel(QFrame):
    """A full-width strip under the vital-signs row:

        Side effects  Dissociation 0–4 · MOAA/S 5–0 · Nausea 0–10
                      Vomiting · Dizziness · … · Other [text]
    """

    def __init__(self, runner: OpRunner, session_id: int | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sideEffects")
        self.runner = runner
        self.session_id = session_id
        self.score_buttons: dict[str, dict[int, QPushButton]] = {}
        self.effect_buttons: dict[str, QPushButton] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 5, 10, 5)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        title = QLabel("Side effects")
        title.setObjectName("sideEffectsTitle")
        grid.addWidget(title, 0, 0)
        scales = QHBoxLayout()
        scales.setSpacing(6)
        self._scale(scales, "dissociation", "Dissociation", "0 none – 4 severe", range(0, 5), DISSOCIATION_HELP)
        scales.addSpacing(14)
        self._scale(scales, "sedation", "MOAA/S", "sedation: 5 alert – 0 no response", range(5, -1, -1),
                    MOAAS_HELP)
        scales.addSpacing(14)
        self._scale(scales, "nausea", "Nausea", "0 none – 10 worst", range(0, 11), {})
        scales.addStretch(1)
        grid.addLayout(scales, 0, 1)
        effects = QHBoxLayout()
        effects.setSpacing(6)
        for kind, label in EFFECTS:
            b = QPushButton(label)
            b.setToolTip(f"Record {SIDE_EFFECT_KINDS[kind].lower()} now")
            b.clicked.connect(lambda _c=False, k=kind: self.record(k))
            self.effect_buttons[kind] = b
            effects.addWidget(b)
        effects.addSpacing(8)
        effects.addWidget(QLabel("Other"))
        self.other = QLineEdit()
        self.other.setPlaceholderText("describe, Enter saves")
        self.other.setMinimumWidth(110)
        self.other.returnPressed.connect(self.record_other)
        effects.addWidget(self.other, 1)
        grid.addLayout(effects, 1, 1)
        self.message = MessageLine()
        grid.addWidget(self.message, 2, 1)
        grid.setColumnStretch(1, 1)

    def _scale(self, row: QHBoxLayout, kind: str, title: str, hint: str, values, help_: dict[int, str]) -> None:
        label = QLabel(title)
        label.setToolTip(hint)
        row.addWidget(label)
        buttons = {}
        group = QHBoxLayout()
        group.setSpacing(2)
        for v in values:
            b = QPushButton(str(v))
            set_role(b, "score")
            b.setFixedWidth(30)
            b.setToolTip(f"{title} {v}: {help_[v]}" if v in help_ else f"{title} {v} ({hint})")
            b.clicked.connect(lambda _c=False, k=kind, v=v: self.record(k, score=v))
            buttons[v] = b
            group.addWidget(b)
        row.addLayout(group)
        self.score_buttons[kind] = buttons

    def record(self, kind: str, score: int | None = None) -> None:
        send_here(self.runner, self.message, ops.record_side_effect, self.session_id, kind, when="observed_at",
                  score=None if score is None else float(score))

    def record_other(self) -> None:
        if send_here(self.runner, self.message, ops.record_side_effect, self.session_id, "other",
                     when="observed_at", text=self.other.text()) is not None:
            self.other.clear()
