"""The "Settings" page: an administrator changes the clinic-wide settings (clinic
name, paper size, idle lock, sign-in lock-out, alarm sound) for every workstation,
with a reason; each change is audited. Beside each field: who set it and when, or
that this workstation's variable (or the default) applies.

One field per clinic setting declared in ketamon.core.settings, its editor chosen
by the declared type: a new clinic setting appears here without a change to this
file. The operation decides who may change them and what is allowed; the page
only shows the answer. Workstation settings are environment variables and are not
edited here.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ketamon.core import ops, settings
from ketamon.core.clock import to_local
from ketamon.core.errors import ValidationError
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import Permission
from ketamon.gui.runner import OpRunner, screen_read
from ketamon.gui.theme import set_role
from ketamon.gui.widgets import MessageLine

UNSET = "By the locale"  # the words for a choice left unset (paper size)
_NOT_LOADED = object()


class SettingField:
    """A typed editor for one clinic setting: `value()` reads it, `set_value()` shows one."""

    def __init__(self, s: settings.Setting):
        self.setting = s
        kind = s.type
        if isinstance(kind, settings.Switch):
            self.editor: QWidget = QCheckBox("On")
        elif isinstance(kind, settings.Whole):
            box = QSpinBox()
            box.setRange(kind.low, kind.high)
            if kind.unit:
                box.setSuffix(f" {kind.unit}")
            self.editor = box
        elif isinstance(kind, settings.Choice):
            combo = QComboBox()
            if s.default is None:
                combo.addItem(UNSET, None)
            for v in kind.values:
                combo.addItem(v, v)
            self.editor = combo
        else:
            self.editor = QLineEdit()
        self.editor.setObjectName(f"setting_{s.name}")
        self.editor.setToolTip(f"{s.help}\nAllowed: {kind.allowed}.")
        self.source = QLabel()
        self.source.setObjectName(f"setting_{s.name}_source")
        self.source.setProperty("role", "muted")
        self.source.setWordWrap(True)
        #: the value in force when last loaded; a field differing from it has an unsaved edit
        self.loaded: Any = _NOT_LOADED

    def value(self) -> Any:
        e = self.editor
        if isinstance(e, QCheckBox):
            return e.isChecked()
        if isinstance(e, QSpinBox):
            return e.value()
        if isinstance(e, QComboBox):
            return e.currentData()
        return e.text()

    def set_value(self, value: Any) -> None:
        e = self.editor
        if isinstance(e, QCheckBox):
            e.setChecked(bool(value))
        elif isinstance(e, QSpinBox):
            e.setValue(int(value))
        elif isinstance(e, QComboBox):
            e.setCurrentIndex(max(0, e.findData(value)))
        else:
            e.setText("" if value is None else str(value))

    @property
    def edited(self) -> bool:
        if self.loaded is _NOT_LOADED:
            return False
        value = self.value()
        return (value.strip() if isinstance(value, str) else value) != self.loaded


def describe_source(entry: settings.ClinicValue) -> str:
    """Who set the value in force and when, or where it comes from."""
    s = entry.setting
    if entry.source == "clinic":
        when = to_local(entry.set_at).strftime("%d %b %Y %H:%M") if entry.set_at else "–"
        text = f"Set by {entry.set_by or 'the system'}, {when}"
        return f"{text}: {entry.reason}" if entry.reason else text
    if entry.source == "workstation":
        return f"Not set for the clinic: this workstation's {s.env} applies."
    return "Not set for the clinic: the default applies."


def protocol_files_text(registry) -> str:
    """What the Settings page says about the protocol files: how many loaded, and
    each refused file with its path, field and why (ProtocolRegistry.problems)."""
    loaded = len(registry.current())
    problems = list(getattr(registry, "problems", []))
    if not problems:
        return f"All protocol files loaded ({loaded} protocols)."
    lines = [f"{loaded} protocols loaded. {len(problems)} protocol file problem(s) — the file is not used "
             "until it is fixed:"]
    lines += [f"• {p}" for p in problems]
    return "\n".join(lines)


class SettingsPage(QWidget):
    def __init__(self, runner: OpRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self.runner = runner
        self.fields: dict[str, SettingField] = {}
        box = QGroupBox("Clinic settings — for every workstation")
        form = QFormLayout(box)
        for s in settings.clinic_settings():
            f = SettingField(s)
            self.fields[s.name] = f
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(f.editor)
            column.addWidget(f.source)
            form.addRow(s.title, column)
        self.reason = QLineEdit()
        self.reason.setObjectName("settingsReason")
        self.reason.setPlaceholderText("why the setting changes, e.g. clinic policy 12")
        form.addRow("Reason", self.reason)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("saveSettingsButton")
        set_role(self.save_button, "primary")
        self.save_button.clicked.connect(self.save)
        self.note = QLabel("Only an administrator can change these settings.")
        self.note.setProperty("role", "muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.note)
        buttons.addStretch(1)
        form.addRow("", buttons)
        self.message = MessageLine()
        #: the protocol files this workstation refused on load (path, field, why):
        #: the other protocols keep working, and the administrator sees why one is missing
        self.protocols_box = QGroupBox("Protocol files")
        self.protocol_problems = QLabel(protocol_files_text(runner.store.protocols))
        self.protocol_problems.setObjectName("protocolProblems")
        self.protocol_problems.setWordWrap(True)
        self.protocol_problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.protocols_box).addWidget(self.protocol_problems)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(box)
        layout.addWidget(self.message)
        layout.addWidget(self.protocols_box)
        layout.addStretch(1)
        runner.changed.connect(self._on_changed)
        runner.actor_changed.connect(lambda _actor: self._update_note())
        self.reload()

    def _update_note(self) -> None:
        actor = self.runner.actor
        self.note.setVisible(actor is None or not actor.can(Permission.MANAGE_SETTINGS))

    @screen_read
    def reload(self) -> None:
        """Show the values in force; a field with an unsaved edit keeps what was typed."""
        for entry in settings.clinic_entries(self.runner.store, list(self.fields)):
            f = self.fields[entry.setting.name]
            if not f.edited:
                f.set_value(entry.value)
            f.loaded = entry.value
            f.source.setText(describe_source(entry))
        self._update_note()

    def _on_changed(self, changes: Changes) -> None:
        if changes.settings:
            self.reload()

    def save(self) -> bool:
        """Save every edited field, each an audited change with the one reason.
        Stops at the first refusal and says why beside the form."""
        edited = [f for f in self.fields.values() if f.edited]
        if not edited:
            self.message.show_ok("Nothing changed.")
            return True
        said = []
        for f in edited:
            changes = self.runner.run(ops.set_clinic_setting, f.setting.name, f.value(), self.reason.text())
            if changes is None:
                err = self.runner.last_error
                field = getattr(err, "field", None) if isinstance(err, ValidationError) else None
                (self.reason if field == "reason" else f.editor).setFocus()
                self.message.show_refusal(self.runner.last_refusal or "refused")
                return False
            said.append(changes.message)
        self.reason.clear()
        self.message.show_ok("; ".join(said))
        return True
