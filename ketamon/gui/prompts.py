"""The seam for modal questions. Widgets call these functions, never QMessageBox or
QInputDialog directly, so tests can answer them (set `prompts.responder`).

A responder is any object with the methods of `QtResponder`."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


class QtResponder:
    def inform(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.information(parent, title, text)

    def warn(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.warning(parent, title, text)

    def confirm(self, parent: QWidget | None, title: str, text: str) -> bool:
        return QMessageBox.question(parent, title, text) == QMessageBox.StandardButton.Yes

    def ask_text(self, parent: QWidget | None, title: str, label: str, default: str = "") -> str | None:
        text, ok = QInputDialog.getText(parent, title, label, text=default)
        return text if ok else None

    def ask_save_path(self, parent: QWidget | None, title: str, suggested: str, file_filter: str = "") -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, title, suggested, file_filter)
        return path or None


class ScriptedResponder:
    """For tests: answers from queues and records what was shown."""

    def __init__(self, confirms: list[bool] | None = None, texts: list[str | None] | None = None,
                 paths: list[str | None] | None = None):
        self.confirms = list(confirms or [])
        self.texts = list(texts or [])
        self.paths = list(paths or [])
        self.shown: list[tuple[str, str, str]] = []  # (kind, title, text)

    def inform(self, parent, title, text):
        self.shown.append(("inform", title, text))

    def warn(self, parent, title, text):
        self.shown.append(("warn", title, text))

    def confirm(self, parent, title, text):
        self.shown.append(("confirm", title, text))
        return self.confirms.pop(0) if self.confirms else False

    def ask_text(self, parent, title, label, default=""):
        self.shown.append(("ask_text", title, label))
        return self.texts.pop(0) if self.texts else None

    def ask_save_path(self, parent, title, suggested, file_filter=""):
        self.shown.append(("ask_save_path", title, suggested))
        return self.paths.pop(0) if self.paths else None


responder = QtResponder()


def inform(parent, title: str, text: str) -> None:
    responder.inform(parent, title, text)


def warn(parent, title: str, text: str) -> None:
    responder.warn(parent, title, text)


def confirm(parent, title: str, text: str) -> bool:
    return responder.confirm(parent, title, text)


def ask_text(parent, title: str, label: str, default: str = "") -> str | None:
    return responder.ask_text(parent, title, label, default)


def ask_save_path(parent, title: str, suggested: str, file_filter: str = "") -> str | None:
    """Where to save a file (None: cancelled)."""
    return responder.ask_save_path(parent, title, suggested, file_filter)
