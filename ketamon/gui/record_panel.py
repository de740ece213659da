"""The session record on screen: pre-dose checks (checklist, PHQ-9 with the item-9
flag), discharge (score from its items, checklist, ready-to-leave time), signing,
addenda, and cancelling or stopping early.

Each part lists exactly what is still missing before its step; the lists come from
`ketamon.core.record.missing_for`, the same function the operations use to refuse
the step, so screen and rule never disagree.

A checklist is saved with its button, as one entry (an "unsaved"
marker shows ticks not yet saved); taking a tick away asks for the reason. The
PHQ-9 and the discharge score are saved with their button once every item is
answered; a refresh of the record never discards answers still being chosen.

`RecordBar` sits in the chart's actions bar: what the next step needs in one
line, and buttons that open the `RecordPanel` in a window beside the chart (not
modal: the nurse keeps charting while it is open).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops, scores
from ketamon.core.changes import CHART_FLAGS
from ketamon.core.models import CONCOMITANT_MEDICATIONS, CONTRAINDICATIONS
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.core.protocols import _fmt
from ketamon.core.lifecycle import AFTER_DOSING, BEFORE_DOSE, ENDED_EARLY, available_steps, may_end_early
from ketamon.core.chart import Chart
from ketamon.core.record import DISCHARGE_ITEMS, PREDOSE_ITEMS, SessionRecord, fasting_text, load_record
from ketamon.core.record import fit_for_discharge, record_around
from ketamon.gui import prompts
from ketamon.gui.dialogs import SignDialog
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine, format_elapsed, local_hm, parse_time_of_day, run_here

#: which tab each state opens on
TAB_FOR_STATE = {"planned": 0, "pre_dose": 0, "dosing": 1, "monitoring": 1, "recovery": 1, "discharged": 2,
                 "stopped": 2, "cancelled": 2, "signed": 2}


class MissingList(QLabel):
    """"Still needed before …" and one line per missing thing, or a calm ✓ line."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("missingList")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMargin(4)
        self.items: list[str] = []

    def show_missing(self, heading: str, items: list[str], done: str) -> None:
        self.items = list(items)
        if items:
            self.setText(heading + "\n" + "\n".join(f"•  {m}" for m in items))
            set_role(self, "missing")
        else:
            self.setText(f"✓  {done}")
            set_role(self, "complete")


def _answer_combo(item: scores.Item, descending: bool = False) -> QComboBox:
    """A combo of an item's answers, starting blank so every answer is a choice."""
    combo = QComboBox()
    combo.addItem("— choose —", None)
    choices = sorted(item.choices, key=lambda c: -c.points) if descending else item.choices
    for c in choices:
        combo.addItem(f"{c.points}  {c.text}", c.points)
    combo.setAccessibleName(item.label)
    return combo


def _set_combo(combo: QComboBox, points: int | None) -> None:
    combo.setCurrentIndex(max(combo.findData(points), 0) if points is not None else 0)


def _show_saved_answers(combos: dict[str, QComboBox], shown_id: int | None, saved) -> int | None:
    """Only a newly saved assessment replaces the answers on screen: a refresh (a
    checklist saved, a vital sign) never takes away answers still being chosen.
    Returns the id now shown."""
    saved_id = saved.id if saved else None
    if saved_id != shown_id:
        for key, combo in combos.items():
            combo.blockSignals(True)
            _set_combo(combo, (saved.items or {}).get(key) if saved else None)
            combo.blockSignals(False)
    return saved_id


def _answers(combos: dict[str, QComboBox]) -> dict[str, int | None]:
    return {key: combo.currentData() for key, combo in combos.items()}


# ---------------------------------------------------------------- before dosing


class ChecklistBox(QGroupBox):
    """A checklist whose ticks are the nurse's answers until "Save checklist"
    (one entry in the record, not one per tick); an "unsaved" marker says so
    meanwhile, and a refresh of the record never takes an unsaved tick away.
    Subclasses name the items, the record's attribute and what Save does."""

    #: the SessionRecord attribute holding the saved checklist
    record_attr = ""

    def __init__(self, panel: "RecordPanel", title: str, items: dict[str, str], prefix: str):
        super().__init__(title)
        self.panel = panel
        self.boxes: dict[str, QCheckBox] = {}
        self._shown_id: int | None = -1  # the saved checklist the boxes show
        self.body = QVBoxLayout(self)
        for key, label in items.items():
            box = QCheckBox(label)
            box.setObjectName(f"{prefix}_{key}")
            box.toggled.connect(self._show_unsaved)
            self.boxes[key] = box
            self.body.addWidget(box)
            self._after_box(key)
        self.unsaved = QLabel("unsaved")
        set_role(self.unsaved, "unsaved")
        self.unsaved.setToolTip("The ticks are not in the record yet: press Save checklist.")
        self.save = QPushButton("Save checklist")
        self.save.setObjectName(f"save_{prefix}")
        self.save.clicked.connect(self.save_checklist)
        self.message = MessageLine()

    def _after_box(self, key: str) -> None:
        """Room for a line under an item (the pre-dose details)."""

    def _finish(self) -> None:
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.unsaved)
        bottom.addWidget(self.save)
        self.body.addLayout(bottom)
        self.body.addWidget(self.message)

    def _saved(self, r: SessionRecord | None = None):
        return getattr(r or self.panel.record, self.record_attr)

    def _saved_items(self) -> dict:
        saved = self._saved()
        return (saved.items if saved else {}) or {}

    def _values(self) -> dict[str, bool]:
        return {k: b.isChecked() for k, b in self.boxes.items()}

    def _show_unsaved(self, *_args) -> None:
        saved = self._saved_items()
        unsaved = any(v != bool(saved.get(k)) for k, v in self._values().items())
        self.unsaved.setVisible(unsaved)
        self.save.setEnabled(unsaved)

    def show_record(self, r: SessionRecord) -> None:
        saved = self._saved(r)
        if (saved.id if saved else None) != self._shown_id:
            # a newly saved checklist (here or at another workstation) replaces the ticks
            self._shown_id = saved.id if saved else None
            items = (saved.items if saved else {}) or {}
            for key, box in self.boxes.items():
                box.setChecked(bool(items.get(key)))
        self._show_unsaved()

    def save_checklist(self) -> None:
        raise NotImplementedError


class PredoseChecklist(ChecklistBox):
    record_attr = "predose_checklist"

    def __init__(self, panel: "RecordPanel"):
        super().__init__(panel, "Pre-dose checklist", PREDOSE_ITEMS, "predose")
        self._finish()

    def _after_box(self, key: str) -> None:
        if key in ("fasting", "contraindications_reviewed", "medications_reviewed"):
            detail = QLabel()
            detail.setWordWrap(True)
            set_role(detail, "muted")
            detail.setIndent(28)
            self.body.addWidget(detail)
            setattr(self, f"{key}_detail", detail)

    def show_record(self, r: SessionRecord) -> None:
        super().show_record(r)
        fasting = fasting_text(r.protocol)
        self.boxes["fasting"].setText(f"Fasting: {fasting}" if fasting else "Fasting: this protocol asks none")
        self.fasting_detail.setText("Ask when the patient last ate and drank.")
        patient = r.chart.patient
        ci = [CONTRAINDICATIONS.get(k, k) for k in patient.contraindications or []]
        self.contraindications_reviewed_detail.setText(
            ("On file: " + ", ".join(ci) + " — a physician decides, with the reason")
            if ci else "None on file: ask about aneurysm, AVM, brain bleed, (es)ketamine allergy.")
        set_role(self.contraindications_reviewed_detail, "flag" if ci else "muted")
        meds = [CONCOMITANT_MEDICATIONS.get(k, k) for k in patient.concomitant_medications or []]
        self.medications_reviewed_detail.setText(
            ("Takes: " + ", ".join(meds)) if meds else "No sedating medicines on file: ask what they take today.")

    def save_checklist(self) -> None:
        """One entry with every answer; a tick taken back asks why, a reviewed
        contraindication asks for the physician's decision."""
        values, saved = self._values(), self._saved_items()
        kwargs: dict = {}
        taken_back = [k for k in PREDOSE_ITEMS if saved.get(k) and not values[k]]
        if taken_back:
            reason = prompts.ask_text(self, "Take back a tick",
                                      f"Why is “{PREDOSE_ITEMS[taken_back[0]]}” no longer true?")
            if not (reason or "").strip():
                self.message.show_refusal("a tick taken back needs the reason.")
                return
            kwargs["correction_reason"] = reason
        patient = self.panel.record.chart.patient
        if values["contraindications_reviewed"] and not saved.get("contraindications_reviewed") \
                and patient.contraindications:
            decision = prompts.ask_text(self, "Contraindication on file",
                                        "Treat despite the contraindication? Write the decision and its reason:")
            if not (decision or "").strip():
                self.message.show_refusal("treating despite a contraindication needs the decision and its reason.")
                return
            kwargs["comment"] = decision
        run_here(self.panel.runner, self.message, ops.record_predose_checklist, self.panel.session_id,
                 **values, **kwargs)


class Phq9Form(QGroupBox):
    def __init__(self, panel: "RecordPanel"):
        super().__init__("PHQ-9  ·  over the last 2 weeks, how often bothered by …")
        self.panel = panel
        self.combos: dict[str, QComboBox] = {}
        self._shown_id: int | None = -1  # the saved PHQ-9 the answers show
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        for row, item in enumerate(scores.PHQ9.items):
            label = QLabel(f"{item.key}.  {item.label}")
            label.setWordWrap(True)
            combo = _answer_combo(item)
            combo.setObjectName(f"phq9_{item.key}")
            combo.currentIndexChanged.connect(self._update_total)
            label.setBuddy(combo)
            grid.addWidget(label, row, 0)
            grid.addWidget(combo, row, 1)
            self.combos[item.key] = combo
        grid.setColumnStretch(0, 1)
        layout.addLayout(grid)
        bottom = QHBoxLayout()
        self.total = QLabel()
        self.total.setObjectName("phq9Total")
        bottom.addWidget(self.total, 1)
        self.save = QPushButton("Save PHQ-9")
        self.save.setObjectName("savePhq9")
        self.save.clicked.connect(self._save)
        bottom.addWidget(self.save)
        layout.addLayout(bottom)
        self.flag = QLabel()
        self.flag.setObjectName("item9Flag")
        self.flag.setWordWrap(True)
        layout.addWidget(self.flag)
        follow = QHBoxLayout()
        self.followup = QLineEdit()
        self.followup.setObjectName("item9Followup")
        self.followup.setPlaceholderText("Follow-up: who assessed the patient, what was decided")
        self.followup.returnPressed.connect(self._save_followup)
        self.followup_save = QPushButton("Save follow-up")
        self.followup_save.clicked.connect(self._save_followup)
        follow.addWidget(self.followup, 1)
        follow.addWidget(self.followup_save)
        self.followup_row = QWidget()
        self.followup_row.setLayout(follow)
        follow.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.followup_row)
        self.message = MessageLine()
        layout.addWidget(self.message)
        self._update_total()

    def show_record(self, r: SessionRecord) -> None:
        a = r.phq9
        self._shown_id = _show_saved_answers(self.combos, self._shown_id, a)
        self.save.setText("Correct PHQ-9" if a else "Save PHQ-9")
        self._update_total()
        followup = r.phq9_followup
        self.followup_row.setVisible(r.phq9_needs_followup)
        if followup is not None:
            self.followup.setText(followup.comment or "")

    def _update_total(self) -> None:
        answers = _answers(self.combos)
        given = [v for v in answers.values() if v is not None]
        total = sum(given)
        if len(given) == len(answers):
            self.total.setText(f"Total {total}  ·  {scores.phq9_band(total)}")
        else:
            self.total.setText(f"Total so far {total}  ·  {len(answers) - len(given)} of 9 not answered")
        item9 = answers.get(scores.PHQ9_SELF_HARM_ITEM)
        record = getattr(self.panel, "record", None)
        followed = record is not None and record.phq9_followup is not None
        if item9:
            if followed:
                self.flag.setText(f"⚑  Item 9 (self-harm) answered {item9}: follow-up recorded.")
                set_role(self.flag, "complete")
            else:
                self.flag.setText(f"⚑  Item 9 (self-harm) answered {item9}: needs follow-up before dosing — "
                                  "the patient is assessed and the decision recorded below.")
                set_role(self.flag, "flag")
            self.flag.setVisible(True)
        else:
            self.flag.setVisible(False)

    def _save(self) -> None:
        answers = _answers(self.combos)
        missing = [k for k, v in answers.items() if v is None]
        if missing:
            self.message.show_refusal(f"answer item {', '.join(missing)} first.")
            self.combos[missing[0]].setFocus()
            return
        saved = self.panel.record.phq9
        kwargs: dict = {}
        if saved is not None:
            if {k: int(v) for k, v in (saved.items or {}).items()} == answers:
                self.message.show_ok("Unchanged")
                return
            reason = prompts.ask_text(self, "Correct the PHQ-9", "Reason for the correction:")
            if not (reason or "").strip():
                return
            kwargs = {"supersedes_id": saved.id, "correction_reason": reason}
        run_here(self.panel.runner, self.message, ops.record_phq9, self.panel.session_id, answers, **kwargs)

    def _save_followup(self) -> None:
        run_here(self.panel.runner, self.message, ops.record_phq9_followup, self.panel.session_id,
                 self.followup.text())


# ---------------------------------------------------------------- discharge


class DischargeScoreForm(QGroupBox):
    def __init__(self, panel: "RecordPanel"):
        super().__init__("Discharge score")
        self.panel = panel
        self.scale: scores.Scale | None = None
        self.combos: dict[str, QComboBox] = {}
        self._shown_id: int | None = -1  # the saved score the answers show
        self.hints: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(4)
        layout.addLayout(self.grid)
        bottom = QHBoxLayout()
        self.total = QLabel()
        self.total.setObjectName("dischargeTotal")
        bottom.addWidget(self.total, 1)
        self.save = QPushButton("Save score")
        self.save.setObjectName("saveDischargeScore")
        self.save.clicked.connect(self._save)
        bottom.addWidget(self.save)
        layout.addLayout(bottom)
        self.history = QLabel()
        set_role(self.history, "muted")
        self.history.setWordWrap(True)
        layout.addWidget(self.history)
        self.message = MessageLine()
        layout.addWidget(self.message)

    def _build(self, scale: scores.Scale) -> None:
        self.scale = scale
        self.setTitle(f"{scale.name} (each item 2 best – 0 worst)")
        for row, item in enumerate(scale.items):
            label = QLabel(item.label)
            combo = _answer_combo(item, descending=True)
            combo.setObjectName(f"discharge_{item.key}")
            combo.currentIndexChanged.connect(self._update_total)
            label.setBuddy(combo)
            hint = QLabel()
            hint.setWordWrap(True)
            hint.setVisible(False)
            set_role(hint, "muted")
            self.grid.addWidget(label, 2 * row, 0)
            self.grid.addWidget(combo, 2 * row, 1)
            self.grid.addWidget(hint, 2 * row + 1, 1)
            self.combos[item.key] = combo
            self.hints[item.key] = hint
        self.grid.setColumnStretch(1, 1)

    def show_record(self, r: SessionRecord) -> None:
        if self.scale is None:
            self._build(r.discharge_scale)
        self._shown_id = _show_saved_answers(self.combos, self._shown_id, r.discharge_assessment)
        self._suggest(r)
        self.threshold = r.protocol.discharge_threshold
        self._update_total()
        taken = r.discharge_assessments
        self.history.setText("Taken: " + ", ".join(f"{_fmt(a.total)} at {local_hm(a.at)}" for a in taken)
                             if taken else "Not taken yet.")

    def _suggest(self, r: SessionRecord) -> None:
        """From the newest BP against the pre-dose baseline: a hint, never a silent answer."""
        for hint in self.hints.values():
            hint.setText("")
            hint.setVisible(False)
        base = r.chart.baseline
        latest = next((v for v in reversed(r.chart.vitals) if v.systolic is not None), None)
        if base is None or latest is None or latest is base:
            return
        if "circulation" in self.hints:
            points = scores.aldrete_circulation(base.systolic, latest.systolic)
            self.hints["circulation"].setText(
                f"suggests {points}: BP {latest.systolic} now, {base.systolic} before dosing")
            self.hints["circulation"].setVisible(True)
        if "vital_signs" in self.hints:
            points = scores.padss_vital_signs((base.systolic, base.heart_rate), (latest.systolic, latest.heart_rate))
            if points is not None:
                self.hints["vital_signs"].setText(
                    f"suggests {points}: BP {latest.systolic}, HR {latest.heart_rate} now; "
                    f"BP {base.systolic}, HR {base.heart_rate} before dosing")
                self.hints["vital_signs"].setVisible(True)

    def _update_total(self) -> None:
        answers = _answers(self.combos)
        given = [v for v in answers.values() if v is not None]
        total = sum(given)
        maximum = self.scale.maximum if self.scale else 10
        threshold = getattr(self, "threshold", 9)
        if given and len(given) == len(answers):
            verdict = "fit for discharge" if fit_for_discharge(total, threshold) else f"below {threshold}: not yet"
            self.total.setText(f"Total {total}/{maximum}  ·  {verdict}")
        else:
            self.total.setText(f"Total so far {total}/{maximum}  ·  {len(answers) - len(given)} not answered")

    def _save(self) -> None:
        answers = _answers(self.combos)
        missing = [self.scale.item(k).label for k, v in answers.items() if v is None]
        if missing:
            self.message.show_refusal(f"choose {', '.join(missing)} first.")
            return
        run_here(self.panel.runner, self.message, ops.record_discharge_assessment, self.panel.session_id, answers)


class DischargeChecklist(ChecklistBox):
    """The discharge checklist and the time the patient was ready to leave; the
    time's Save (or Now) saves the ticks with it, as one entry."""

    record_attr = "discharge_checklist"

    def __init__(self, panel: "RecordPanel"):
        super().__init__(panel, "Discharge checklist", DISCHARGE_ITEMS, "discharge")
        row = QHBoxLayout()
        label = QLabel("Ready to leave at")
        self.ready = QLineEdit()
        self.ready.setObjectName("readyToLeave")
        self.ready.setPlaceholderText("HH:MM")
        self.ready.setMaximumWidth(110)
        self.ready.setToolTip("When the patient would have been ready to leave, without the minimum monitoring time")
        label.setBuddy(self.ready)
        self.ready.returnPressed.connect(self._save_ready)
        self.ready_save = QPushButton("Save time")
        self.ready_save.clicked.connect(self._save_ready)
        self.ready_now = QPushButton("Now")
        self.ready_now.clicked.connect(self._ready_now)
        row.addWidget(label)
        row.addWidget(self.ready)
        row.addWidget(self.ready_save)
        row.addWidget(self.ready_now)
        row.addStretch(1)
        self.body.addLayout(row)
        hint = QLabel("(as if there were no minimum monitoring time — for the esketamine monitoring form)")
        set_role(hint, "muted")
        hint.setWordWrap(True)
        self.body.addWidget(hint)
        self._finish()

    def show_record(self, r: SessionRecord) -> None:
        super().show_record(r)
        if not self.ready.hasFocus():
            self.ready.setText(local_hm(r.ready_to_leave_at) if r.ready_to_leave_at else "")

    def _save(self, ready: datetime | None, **overrides) -> bool:
        r = self.panel.record
        saved = (r.discharge_checklist.items if r.discharge_checklist else {}) or {}
        values = {k: b.isChecked() for k, b in self.boxes.items()}
        values.update(overrides)
        kwargs: dict = {}
        taken_back = [k for k in DISCHARGE_ITEMS if saved.get(k) and not values[k]]
        changed_time = r.ready_to_leave_at is not None and ready != r.ready_to_leave_at
        if taken_back or changed_time:
            what = DISCHARGE_ITEMS[taken_back[0]] if taken_back else "the ready-to-leave time"
            reason = prompts.ask_text(self, "Change the discharge checklist", f"Why change “{what}”?")
            if not (reason or "").strip():
                self.message.show_refusal(f"changing “{what}” needs the reason.")
                return False
            kwargs["correction_reason"] = reason
        return run_here(self.panel.runner, self.message, ops.record_discharge_checklist, self.panel.session_id,
                        ready_to_leave_at=ready, **values, **kwargs) is not None

    def save_checklist(self) -> None:
        self._save(self.panel.record.ready_to_leave_at)

    def _save_ready(self) -> None:
        try:
            when = parse_time_of_day(self.ready.text(), self.panel.runner.store.clock.now(), "Ready to leave")
        except ValueError as exc:
            self.message.show_refusal(str(exc))
            return
        if when is None:
            self.message.show_refusal("type the time the patient was ready to leave (HH:MM), or press Now.")
            return
        self._save(when)

    def _ready_now(self) -> None:
        now = self.panel.runner.store.clock.now()
        self.ready.setText(local_hm(now))
        self._save(now.replace(second=0, microsecond=0))


# ---------------------------------------------------------------- the panel


class RecordPanel(QWidget):
    """The whole session record for one session, in three tabs."""

    #: after every reload, with the new SessionRecord
    refreshed = Signal(object)

    def __init__(self, runner: OpRunner, session_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("recordPanel")
        self.runner = runner
        self.session_id = session_id
        self.record: SessionRecord = load_record(runner.store, session_id)

        self.tabs = QTabWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.state_line = QLabel()
        self.state_line.setObjectName("recordState")
        self.state_line.setWordWrap(True)
        layout.addWidget(self.state_line)
        layout.addWidget(self.tabs, 1)

        # before dosing
        self.predose = PredoseChecklist(self)
        self.phq9 = Phq9Form(self)
        self.dose_missing = MissingList()
        self.tabs.addTab(self._page(self.dose_missing, self.predose, self.phq9), "1  Before dosing")

        # discharge
        self.monitoring_time = QLabel()
        self.monitoring_time.setObjectName("monitoringTime")
        self.monitoring_time.setWordWrap(True)
        self.recovery_button = QPushButton("Move to recovery")
        self.recovery_button.setObjectName("moveToRecovery")
        self.recovery_button.clicked.connect(self._to_recovery)
        self.score = DischargeScoreForm(self)
        self.discharge_checklist = DischargeChecklist(self)
        self.discharge_missing = MissingList()
        self.discharge_button = QPushButton("Discharge patient")
        self.discharge_button.setObjectName("dischargeButton")
        set_role(self.discharge_button, "primary")
        self.discharge_button.clicked.connect(self._discharge)
        self.discharge_message = MessageLine()
        top = QHBoxLayout()
        top.addWidget(self.monitoring_time, 1)
        top.addWidget(self.recovery_button)
        top.addWidget(self.discharge_button)
        self.tabs.addTab(self._page(top, self.discharge_message, self.discharge_missing, self.score,
                                    self.discharge_checklist), "2  Discharge")

        # signing and addenda
        self.sign_missing = MissingList()
        self.signature = QLabel()
        self.signature.setObjectName("signature")
        self.signature.setWordWrap(True)
        self.sign_button = QPushButton("Sign and lock the record")
        self.sign_button.setObjectName("signButton")
        set_role(self.sign_button, "primary")
        self.sign_button.clicked.connect(self._sign)
        self.sign_dialog: SignDialog | None = None
        self.sign_message = MessageLine()
        sign_row = QHBoxLayout()
        sign_row.addWidget(self.signature, 1)
        sign_row.addWidget(self.sign_button)
        addenda = QGroupBox("Addenda (after signing)")
        addenda_layout = QVBoxLayout(addenda)
        self.addenda_list = QLabel()
        self.addenda_list.setObjectName("addendaList")
        self.addenda_list.setWordWrap(True)
        self.addenda_list.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.addendum_reason = QLineEdit()
        self.addendum_reason.setObjectName("addendumReason")
        self.addendum_reason.setPlaceholderText("Reason, e.g. follow-up call the next day")
        self.addendum_text = QPlainTextEdit()
        self.addendum_text.setObjectName("addendumText")
        self.addendum_text.setPlaceholderText("What to add to the signed record")
        self.addendum_text.setFixedHeight(80)
        self.addendum_text.setTabChangesFocus(True)
        self.addendum_button = QPushButton("Add addendum")
        self.addendum_button.setObjectName("addAddendum")
        self.addendum_button.clicked.connect(self._add_addendum)
        self.addendum_message = MessageLine()
        addenda_layout.addWidget(self.addenda_list)
        addenda_layout.addWidget(self.addendum_reason)
        addenda_layout.addWidget(self.addendum_text)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.addendum_button)
        addenda_layout.addLayout(row)
        addenda_layout.addWidget(self.addendum_message)
        self.end_button = QPushButton("Cancel session…")
        self.end_button.setObjectName("endEarly")
        self.end_button.clicked.connect(self.end_early)
        end_row = QHBoxLayout()
        end_row.addStretch(1)
        end_row.addWidget(self.end_button)
        self.tabs.addTab(self._page(self.sign_missing, sign_row, self.sign_message, addenda, end_row),
                         "3  Sign and addenda")

        runner.changed.connect(self._on_changed)
        runner.actor_changed.connect(self._actor_changed)  # a method: it goes with the panel
        self.show_record(self.record)
        self.tabs.setCurrentIndex(TAB_FOR_STATE.get(self.record.state, 0))

    def _actor_changed(self, _actor) -> None:
        self.show_record(self.record)

    @staticmethod
    def _page(*parts) -> QScrollArea:
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setSpacing(10)
        for part in parts:
            if isinstance(part, QWidget):
                layout.addWidget(part)
            else:
                layout.addLayout(part)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return scroll

    # ------------------------------------------------------------ refresh

    def _on_changed(self, changes: Changes) -> None:
        if self.session_id in changes.sessions and changes.any_of(*CHART_FLAGS):
            self.refresh()

    @screen_read
    def refresh(self) -> None:
        self.record = load_record(self.runner.store, self.session_id)
        self.show_record(self.record)

    def tick(self, now: datetime) -> None:
        """Once a second from the chart: the monitoring countdown and the lists
        that depend on the time. No query."""
        self.record.chart.now = now
        self._show_lists(self.record)

    def show_record(self, r: SessionRecord) -> None:
        actor = self.runner.actor
        can_chart = bool(actor and actor.can(Permission.CHART))
        can_sign = bool(actor and actor.can(Permission.SIGN))
        open_ = r.state not in ("signed", "cancelled")
        predose_open = r.state in BEFORE_DOSE
        self.state_line.setText(self._state_text(r))
        self.predose.show_record(r)
        self.phq9.show_record(r)
        self.score.show_record(r)
        self.discharge_checklist.show_record(r)
        self.predose.setEnabled(can_chart and predose_open)
        self.phq9.setEnabled(can_chart and open_)
        after_dose = r.state in AFTER_DOSING
        self.score.setEnabled(can_chart and after_dose)
        self.discharge_checklist.setEnabled(can_chart and after_dose)
        self.recovery_button.setVisible("recovery" in available_steps(r.state))
        self.recovery_button.setEnabled(can_chart)
        self.discharge_button.setEnabled(can_chart and "discharge" in available_steps(r.state))
        self.sign_button.setEnabled(can_sign and "sign" in available_steps(r.state))
        self.sign_button.setToolTip("" if can_sign else "Only the supervising physician signs the record.")
        self.sign_button.setVisible(r.state != "signed")
        self.signature.setText(self._signature_text(r, can_sign))
        can_add = bool(actor and actor.can(Permission.ADDENDUM)) and r.signed
        for w in (self.addendum_reason, self.addendum_text, self.addendum_button):
            w.setEnabled(can_add)
        self.addenda_list.setText("\n\n".join(
            f"{a.at.astimezone():%d %b %Y} {local_hm(a.at)} · {r.who(a.author_id)} · reason: {a.reason}\n{a.text}"
            for a in r.addenda) or ("No addenda." if r.signed else "Addenda are added once the record is signed."))
        self.end_button.setText("Cancel session…" if predose_open else "Stop early…")
        self.end_button.setVisible(may_end_early(r.state))
        self.end_button.setEnabled(can_chart)
        self._show_lists(r)
        self.refreshed.emit(r)

    def _show_lists(self, r: SessionRecord) -> None:
        from ketamon.core.record import missing_for

        if r.state in BEFORE_DOSE:
            self.dose_missing.show_missing("Still needed before the first dose:", missing_for(r, "dose"),
                                           "Ready for the first dose.")
        else:
            self.dose_missing.show_missing("", [], f"Pre-dose checks done; first dose at {local_hm(r.first_dose_at)}."
                                           if r.first_dose_at else "No dose was given.")
        if r.state in ("discharged", "signed") or r.outcome in ENDED_EARLY:
            when = r.discharged_at
            self.discharge_missing.show_missing("", [], f"Discharged at {local_hm(when)}." if when else
                                                f"Session {r.outcome}: no discharge.")
        else:
            self.discharge_missing.show_missing("Still needed before discharge:", missing_for(r, "discharge"),
                                                "Everything is recorded: the patient may be discharged.")
        if r.signed:
            self.sign_missing.show_missing("", [], "Signed and locked.")
        else:
            self.sign_missing.show_missing("Still needed before signing:", missing_for(r, "sign"),
                                           "Complete: the supervising physician may sign.")
        self.monitoring_time.setText(self._monitoring_text(r))

    @staticmethod
    def _state_text(r: SessionRecord) -> str:
        p = r.chart.patient
        text = f"{p.display_name} · {r.protocol.name} · {r.state_label}"
        if r.state in ENDED_EARLY and r.session.state_reason:
            text += f" — {r.session.state_reason}"
        if r.signed and r.outcome in ENDED_EARLY:
            text += f" (session {r.outcome})"
        return text

    @staticmethod
    def _monitoring_text(r: SessionRecord) -> str:
        minimum = _fmt(r.protocol.minimum_monitoring_minutes)
        not_before = r.discharge_not_before
        if not_before is None:
            return f"Minimum monitoring time: {minimum} min from {r.monitoring_anchor}."
        text = f"Discharge not before {local_hm(not_before)} ({minimum} min from {r.monitoring_anchor})"
        if r.state in AFTER_DOSING and r.minutes_to_discharge is not None:
            text += f" — {format_elapsed(timedelta(minutes=r.minutes_to_discharge))} to go"
        return text + "."

    @staticmethod
    def _signature_text(r: SessionRecord, can_sign: bool) -> str:
        if r.signed:
            return f"Signed by {r.signed_by} at {local_hm(r.signed_at)} on {r.signed_at.astimezone():%d %b %Y}."
        supervising = r.who(r.session.physician_id) if r.session.physician_id else "not named yet"
        return f"Supervising physician: {supervising}." + ("" if can_sign else " Signing is for physicians.")

    # ------------------------------------------------------------ actions

    def _to_recovery(self) -> None:
        run_here(self.runner, self.discharge_message, ops.move_to_recovery, self.session_id)

    def _discharge(self) -> None:
        if not prompts.confirm(self, "Discharge", f"Discharge {self.record.chart.patient.display_name} now?"):
            return
        run_here(self.runner, self.discharge_message, ops.discharge, self.session_id)

    def _sign(self) -> SignDialog:
        """Signing asks for the signer's password again (the operation checks it)."""
        self.sign_dialog = SignDialog(self.runner, self.session_id, self.record.chart.patient.display_name, self)
        self.sign_dialog.finished.connect(self._sign_closed)
        self.sign_dialog.open()
        return self.sign_dialog

    def _sign_closed(self, _result: int) -> None:
        dialog, self.sign_dialog = self.sign_dialog, None
        if dialog is not None:
            if dialog.signed:
                self.sign_message.show_ok(dialog.signed)
            dialog.deleteLater()

    def _add_addendum(self) -> None:
        changes = run_here(self.runner, self.addendum_message, ops.add_addendum, self.session_id,
                           self.addendum_text.toPlainText(), reason=self.addendum_reason.text())
        if changes is not None:
            self.addendum_text.clear()
            self.addendum_reason.clear()

    def end_early(self) -> None:
        """Cancel (before any dose) or stop early (after), with the reason asked for."""
        cancel = self.record.state in BEFORE_DOSE
        title = "Cancel the session" if cancel else "Stop the session early"
        reason = prompts.ask_text(self, title, "Reason:" if cancel else "Why is the session stopped early?")
        if reason is None:
            return
        operation = ops.cancel_session if cancel else ops.stop_early
        run_here(self.runner, self.sign_message, operation, self.session_id, reason)


# ---------------------------------------------------------------- in the chart


class RecordWindow(QDialog):
    """The record panel in its own window beside the chart (not modal)."""

    def __init__(self, runner: OpRunner, session_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setModal(False)
        self.panel = RecordPanel(runner, session_id, self)
        self.setWindowTitle(f"Session record — {self.panel.record.chart.patient.display_name}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        self.resize(860, 820)


class RecordBar(QWidget):
    """One line in the chart's actions bar: where the record stands and what the
    next step still needs, with the buttons that open the record."""

    def __init__(self, runner: OpRunner, session_id: int, parent: QWidget | None = None, chart: Chart | None = None):
        """With `chart` (the session chart's), the bar follows that chart (`show_chart`,
        `reload`) instead of loading the chart again after every notice."""
        super().__init__(parent)
        self.setObjectName("recordBar")
        self.runner = runner
        self.session_id = session_id
        self.window_: RecordWindow | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.summary = QLabel()
        self.summary.setObjectName("recordSummary")
        self.summary.setWordWrap(False)
        self.open_button = QPushButton()
        self.open_button.setObjectName("openRecord")
        self.open_button.clicked.connect(self.open_record)
        layout.addWidget(self.summary, 1)
        layout.addWidget(self.open_button)
        if chart is None:
            self.record: SessionRecord = load_record(runner.store, session_id)
            runner.changed.connect(self._on_changed)
        else:
            self.record = record_around(runner.store, chart)
        self.show_record(self.record)

    def _on_changed(self, changes: Changes) -> None:
        if self.session_id in changes.sessions and changes.any_of(*CHART_FLAGS):
            self.reload()

    @screen_read
    def reload(self) -> None:
        self.record = load_record(self.runner.store, self.session_id)
        self.show_record(self.record)

    def show_chart(self, chart: Chart, changes: Changes | None = None) -> None:
        """The chart was reloaded (after `changes`; None: anything may have changed)."""
        if chart is not self.record.chart:
            self.record = record_around(self.runner.store, chart, self.record, changes)
        self.show_record(self.record)

    def tick(self, now: datetime) -> None:
        self.record.chart.now = now
        self.show_record(self.record)
        if self.window_ is not None:
            self.window_.panel.tick(now)

    def show_record(self, r: SessionRecord) -> None:
        """Calm while nothing is asked of anyone (dosing, monitoring time running);
        amber when the next step waits for entries; green when it can be taken."""
        from ketamon.core.record import missing_for

        step, button = {
            "planned": ("dose", "Pre-dose checks…"), "pre_dose": ("dose", "Pre-dose checks…"),
            "dosing": (None, "Session record…"), "monitoring": ("discharge", "Discharge…"),
            "recovery": ("discharge", "Discharge…"), "discharged": ("sign", "Sign…"),
            "stopped": ("sign", "Sign…"), "cancelled": ("sign", "Sign…"), "signed": (None, "Record and addenda…"),
        }[r.state]
        self.open_button.setText(button)
        role: str | None = None
        if r.signed:
            text, role = f"Signed by {r.signed_by} at {local_hm(r.signed_at)}", "complete"
        elif r.state == "dosing":
            text = "Dosing in progress"
        elif r.state == "monitoring":
            not_before = r.discharge_not_before
            if r.minutes_to_discharge is not None:
                left = format_elapsed(timedelta(minutes=r.minutes_to_discharge))
                text = f"Monitoring · discharge not before {local_hm(not_before)} ({left} to go)"
            else:
                text = "Monitoring · minimum time reached: move to recovery when the patient is ready"
        else:
            missing = missing_for(r, step)
            words = {"dose": "Before the first dose", "discharge": "Before discharge",
                     "sign": "Before signing"}[step]
            if missing:
                more = f"  (+{len(missing) - 1} more)" if len(missing) > 1 else ""
                text, role = f"{words}: {len(missing)} still needed — {missing[0]}{more}", "missing"
            else:
                text = {"dose": "Pre-dose checks complete: ready for the first dose",
                        "discharge": "Ready for discharge", "sign": "Ready for the physician's signature"}[step]
                role = "complete"
        set_role(self.summary, role)
        self.summary.setText(text)

    def open_record(self) -> RecordWindow:
        if self.window_ is None:
            self.window_ = RecordWindow(self.runner, self.session_id, self.window())
        self.window_.panel.tabs.setCurrentIndex(TAB_FOR_STATE.get(self.record.state, 0))
        self.window_.show()
        self.window_.raise_()
        self.window_.activateWindow()
        return self.window_
