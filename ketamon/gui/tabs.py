"""A tab widget that repaints its pages only when their layout can have changed.

Qt's QTabWidget answers every LayoutRequest that reaches it by laying out its
tab bar and page stack again and repainting its whole area (QTabWidget::
setUpLayout ends in update()). A LayoutRequest climbs from any label deep in a
page whose text changes: every QLayout that is activated asks its widget's
parent to lay out again, whether or not its size hint changed. So each Enter
in the vitals row ("✓ Vital signs saved (14:05): …" on the row's message line)
repainted the whole chart — plot, 28 side-effect buttons, event log — once
more after the parts that did change had painted (measured with
`benchmarks/bench.py`'s Enter on a 2-hour session: about 8 % of the median,
15 % of the p95; `tests/gui/test_enter_repaints.py` counts the paints).

`CalmTabWidget` lets a LayoutRequest through only when what it lays out may
have moved: its own size, its tab bar's size hint, the current page, or its
minimum size hint (the pages' minimum, which the window's follows).
The pages' own layouts are not affected: each was activated before the request
reached the tab widget.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QTabWidget


class CalmTabWidget(QTabWidget):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._laid_out_for: tuple | None = None

    def _layout_key(self) -> tuple:
        bar = self.tabBar()
        return (self.size().toTuple(), bar.sizeHint().toTuple(), bar.isVisible(), self.currentIndex(),
                self.minimumSizeHint().toTuple())

    def event(self, event: QEvent) -> bool:  # noqa: D102 (Qt override)
        if event.type() == QEvent.Type.LayoutRequest:
            key = self._layout_key()
            if key == self._laid_out_for:
                return True  # nothing the tab widget places has changed: no relayout, no repaint
            self._laid_out_for = key
        return super().event(event)
