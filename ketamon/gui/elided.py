"""A label that keeps to one line: text too long for its width ends in "…" and
the whole text is in its tooltip.

Why: a word-wrapped label asks for more height as its text grows, and a label
whose size hint is its text's width asks for more width; either way a long
message pushed the window's minimum size past the screen, so the window grew
itself (1440×900 → 1634×983) and the banner took nine lines. A one-line label
takes the width its layout gives it and never asks for more.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A QLabel that, while `one_line` (the default), shows a single line elided
    to its width. `text()` is always the whole text; with `one_line=False` it is
    an ordinary (wrapping) QLabel, for dialogs where a message may take lines."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, one_line: bool = True):
        super().__init__(parent)
        self._full = ""
        self._details = ""
        self._pad: int | None = None  # the style's padding, measured once per style or font
        self._one_line = False
        self.set_one_line(one_line)
        self.setText(text)

    def set_one_line(self, on: bool = True) -> None:
        """Keep to one elided line (True), or wrap like a QLabel (False)."""
        self._one_line = on
        self.setWordWrap(not on)
        if on:
            self.setTextFormat(Qt.TextFormat.PlainText)
            self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._show()

    @property
    def one_line(self) -> bool:
        return self._one_line

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        self._full = text or ""
        self._show()

    def text(self) -> str:
        return self._full

    def clear(self) -> None:
        """Empty, the whole text included (QLabel.clear would leave it in `text()`)."""
        self.setText("")

    def set_details(self, text: str) -> None:
        """What the tooltip shows (default: the whole text, when it is elided)."""
        self._details = text
        self._show()

    @property
    def elided(self) -> bool:
        """The line shown is shorter than the text (the rest is in the tooltip)."""
        return QLabel.text(self) != self._full

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        hint = super().sizeHint()
        if self._one_line:
            hint.setWidth(self._padding() + self.fontMetrics().horizontalAdvance(self._full))
        return hint

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        hint = super().minimumSizeHint()
        if self._one_line:
            hint.setWidth(self._padding() + self.fontMetrics().horizontalAdvance("…") * 4)
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self._one_line:
            self._show()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self._pad = None  # a new role or font: measure again
            if self._one_line:
                self._show()

    def _padding(self) -> int:
        """Width the style adds around the text (stylesheet padding and border,
        margins), measured on a probe letter the first time it is needed (the due
        countdown sets its text every second: no measuring then)."""
        if self._pad is None:
            self.ensurePolished()
            probe, saved = "M", QLabel.text(self)
            QLabel.setText(self, probe)
            self._pad = max(QLabel.sizeHint(self).width() - self.fontMetrics().horizontalAdvance(probe), 0) + 1
            QLabel.setText(self, saved)
        return self._pad

    def _show(self) -> None:
        full = self._full
        if not self._one_line:
            QLabel.setText(self, full)
            self.setToolTip(self._details)
            return
        first = full.replace("\n", "  ")
        room = self.width() - self._padding()
        shown = self.fontMetrics().elidedText(first, Qt.TextElideMode.ElideRight, max(room, 0))
        if shown != QLabel.text(self):
            QLabel.setText(self, shown)
        self.setToolTip(self._details or (full if shown != full else ""))
