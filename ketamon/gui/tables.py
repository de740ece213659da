"""Tables whose columns fit the screen: short columns (dates, MRN, state) keep
their text's width, and the long ones (protocol, signature, monitoring form)
share what is left, each elided only as much as it must be, its whole text on
hover. A horizontal scroll bar on a 1366×768 screen hid the Records table's last
column (the monitoring form, which the REMS asks the clinic to file)."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHeaderView, QTableView

#: the narrowest a shared column is made (px): about a word and an ellipsis
MIN_SHARED_PX = 60


def share_width(wanted: dict[int, int], room: int, first_extra: int | None = None) -> dict[int, int]:
    """Widths for the columns in `wanted` (column → width its text wants) within
    `room` px: each gets what it wants when all fit (the rest goes to
    `first_extra`, so the table fills its width); otherwise the room is shared
    fairly, a column that wants less than its fair share keeping what it wants
    and giving the rest to the others, none narrower than MIN_SHARED_PX (or
    its text, when that is narrower)."""
    if not wanted:
        return {}
    if sum(wanted.values()) <= room:
        widths = dict(wanted)
        if first_extra in widths:
            widths[first_extra] += room - sum(wanted.values())
        return widths
    widths: dict[int, int] = {}
    left = max(room, 0)
    pending = sorted(wanted, key=wanted.get)
    while pending:
        fair = left // len(pending)
        col = pending[0]
        if wanted[col] <= fair:
            widths[col] = wanted[col]
            left -= wanted[col]
            pending.pop(0)
            continue
        for col in pending:
            widths[col] = max(fair, min(MIN_SHARED_PX, wanted[col]))
        break
    return widths


class FittedColumns(QObject):
    """Keeps `table`'s `shared` columns within its width (share_width) whenever
    the table is resized or `refit()` is called after it was filled; the other
    columns keep their contents' width. Installed on the table's viewport."""

    def __init__(self, table: QTableView, shared: Sequence[int], first_extra: int | None = None):
        super().__init__(table)
        self.table = table
        self.shared = tuple(shared)
        self.first_extra = first_extra
        header = table.horizontalHeader()
        header.setStretchLastSection(False)
        for col in range(header.count()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive if col in self.shared
                                        else QHeaderView.ResizeMode.ResizeToContents)
        table.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Resize:
            self.refit()
        return False

    def refit(self) -> None:
        table, header = self.table, self.table.horizontalHeader()
        # the contents' widths, as ResizeToContents gives them (it sets the sizes
        # later, at the header's next layout, so its sectionSize may be stale here)
        wanted = {col: max(table.sizeHintForColumn(col), header.sectionSizeHint(col))
                  for col in range(header.count()) if not header.isSectionHidden(col)}
        fixed = sum(width for col, width in wanted.items() if col not in self.shared)
        wanted = {col: width for col, width in wanted.items() if col in self.shared}
        for col, width in share_width(wanted, table.viewport().width() - fixed, self.first_extra).items():
            if header.sectionSize(col) != width:
                header.resizeSection(col, width)
