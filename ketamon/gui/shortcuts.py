"""Keyboard shortcuts: made in one way, said in the tooltip of what they press,
and listed by F1 from the window itself.

The F1 list is collected from the live widgets (QShortcuts, QActions, buttons
with a mnemonic, labels with a buddy, and keys an event filter handles, which
declare themselves with `describe_key`), so it cannot drift from what the keys
really do.
"""
from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

HELP_KEY = "F1"
#: a widget's keys handled by an event filter: "key\tdescription" lines
_KEY_HELP = "ketamonKeyHelp"


def key_text(key: str | QKeySequence) -> str:
    """A key as the user reads it ("Alt+M", "F9")."""
    seq = key if isinstance(key, QKeySequence) else QKeySequence(key)
    return seq.toString(QKeySequence.SequenceFormat.NativeText) or str(key)


def with_key(tip: str, key: str) -> str:
    """`tip` ending with its key in brackets (once)."""
    shown = key_text(key)
    return tip if f"({shown})" in tip else f"{tip} ({shown})"


def bind(parent: QWidget, key: str, description: str, slot: Callable[[], object], *,
         button: QAbstractButton | None = None, widget: QWidget | None = None) -> QShortcut:
    """A window-wide shortcut (a hidden page's shortcuts do not fire). Its key is
    added to the tooltip of the button it presses or the field it reaches."""
    shortcut = QShortcut(QKeySequence(key), parent)
    shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
    shortcut.setWhatsThis(description)
    shortcut.activated.connect(slot)
    for target in (button, widget):
        if target is not None:
            target.setToolTip(with_key(target.toolTip() or description, key))
    return shortcut


def describe_key(widget: QWidget, key: str, description: str) -> None:
    """Declare a key `widget` handles itself (e.g. Enter saves the vitals row),
    so F1 lists it and its tooltip says it."""
    lines = [line for line in (widget.property(_KEY_HELP) or "").split("\n") if line]
    lines.append(f"{key_text(key)}\t{description}")
    widget.setProperty(_KEY_HELP, "\n".join(lines))
    widget.setToolTip(with_key(widget.toolTip() or description, key))


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def collect(root: QObject) -> list[tuple[str, str]]:
    """(key, what it does) for every shortcut under `root`, each once, in the
    order the widgets were made."""
    found: list[tuple[str, str]] = []
    for sc in root.findChildren(QShortcut):
        if sc.isEnabled() and not sc.key().isEmpty():
            found.append((key_text(sc.key()), sc.whatsThis() or "—"))
    for action in root.findChildren(QAction):
        if not action.shortcut().isEmpty():
            found.append((key_text(action.shortcut()), _plain(action.text())))
    for button in root.findChildren(QAbstractButton):
        if not button.shortcut().isEmpty():
            key = key_text(button.shortcut())
            found.append((key, _plain(button.toolTip() or button.text()).removesuffix(f" ({key})")))
    for label in root.findChildren(QLabel):
        if label.buddy() is not None and "&" in label.text().replace("&&", ""):
            letter = label.text().replace("&&", "")[label.text().replace("&&", "").index("&") + 1]
            found.append((key_text(f"Alt+{letter.upper()}"), f"Go to {_plain(label.text())}"))
    for widget in root.findChildren(QWidget):
        for line in (widget.property(_KEY_HELP) or "").split("\n"):
            if line:
                key, description = line.split("\t", 1)
                found.append((key, description))
    out: list[tuple[str, str]] = []
    for entry in found:
        if entry not in out:
            out.append(entry)
    return out


class ShortcutsDialog(QDialog):
    """F1: every shortcut of the window, as collected from it."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.entries = collect(window)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(self.entries), 2)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(("Key", "Does"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (key, description) in enumerate(self.entries):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            self.table.setItem(row, 1, QTableWidgetItem(description))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 420)


def install_help(window: QWidget) -> QShortcut:
    """F1 anywhere in `window` opens the list of its shortcuts."""
    def show() -> None:
        dialog = getattr(window, "shortcuts_dialog", None)
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.close()
        window.shortcuts_dialog = ShortcutsDialog(window)
        window.shortcuts_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.shortcuts_dialog.show()

    return bind(window, HELP_KEY, "List the keyboard shortcuts (this list)", show)
