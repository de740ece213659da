"""The central station: every chair with a session today, at once, as a bedside
monitor's central station shows every bed.

One tile per session: chair (when sessions have one), patient, protocol, state,
elapsed time since the first dose, the newest BP, HR and SpO2 with their age, the
highest active alert (its colour and `***`/`**`/`*`; an unacknowledged high alert
flashes fast, a medium one slowly, as the chart's alert banner does, low is
steady), and what is due next with a countdown. A click opens the chart. F11
(or the button) makes it a wall screen: full screen, large type.

The tiles come from one batched read (ketamon.core.station) run off the GUI
thread; it is read again on every notice that can change a tile, from this
workstation or another, and every 30 s (ages and countdowns move every second
from what was read).
"""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from ketamon.core import settings
from ketamon.core.changes import OpChanges
from ketamon.core.station import Tile, station_tiles
from ketamon.gui.alerts_panel import FLASH_MS
from ketamon.gui.background import Background
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import repolish, set_role
from ketamon.gui.widgets import format_elapsed

#: the notices after which the tiles are read again
STATION_FLAGS = ("vitals", "doses", "alerts", "lifecycle", "session_details", "patients", "limits", "record")
#: a full re-read this often even without notices (the alert timer's overdue alerts)
RELOAD_MS = 30_000
FULL_SCREEN_KEY = "F11"


class TileView(QFrame):
    """One session's tile. Clicking anywhere on it opens the chart."""

    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("stationTile")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.tile: Tile | None = None
        layout = QVBoxLayout(self)
        self.title = self._label("stationTitle", layout)
        self.detail = self._label("stationDetail", layout)
        self.vitals = self._label("stationVitals", layout)
        self.alert = self._label("stationAlert", layout)
        self.due = self._label("stationDue", layout)

    @staticmethod
    def _label(name: str, layout: QVBoxLayout) -> QLabel:
        label = QLabel("")
        label.setObjectName(name)
        label.setWordWrap(True)
        layout.addWidget(label)
        return label

    def show_tile(self, tile: Tile, now: datetime) -> None:
        self.tile = tile
        self.title.setText(f"{tile.chair} · {tile.patient}" if tile.chair else tile.patient)
        elapsed = ("not dosed yet" if tile.first_dose_at is None else
                   f"elapsed {format_elapsed(now - tile.first_dose_at)}")
        self.detail.setText(f"{tile.protocol} · {tile.state_label} · {elapsed}")
        readings = [f"{name} {r.text} ({r.age(now)})" for name, r in (("BP", tile.bp), ("HR", tile.hr),
                                                                        ("SpO2", tile.spo2)) if r is not None]
        self.vitals.setText("   ".join(readings) or "No vital signs yet")
        self.alert.setText(f"{tile.alert_mark} {tile.alert_message}".strip() if tile.alert_priority else "No alert")
        self.due.setText(f"Next due: {tile.due_text(now)} — {tile.due.label}" if tile.due else "Nothing due")
        if self.property("role") != (tile.alert_priority or "none"):
            set_role(self, tile.alert_priority or "none")

    @property
    def flashes_at(self) -> int:
        """The flash interval this tile calls for (ms between phases), 0 for steady."""
        t = self.tile
        if t is None or t.alert_acknowledged or settings.get("no_flash"):
            return 0
        return FLASH_MS.get(t.alert_priority or "", 0)

    def set_flash(self, on: bool) -> None:
        if bool(self.property("flash")) != on:
            self.setProperty("flash", on)
            repolish(self)  # a high tile's labels turn white on red in the flash's red phase

    def mousePressEvent(self, event) -> None:
        if self.tile is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.tile.session_id)
        super().mousePressEvent(event)


class CentralStation(QWidget):
    #: a tile was clicked: open that session's chart
    open_session = Signal(int)
    #: the tiles were read and shown (tests wait for it)
    shown = Signal()

    def __init__(self, runner: OpRunner, parent: QWidget | None = None, *, wall: bool = False):
        """`wall`: the wall-screen copy, a window of its own (full screen, large
        type) that F11 or Escape closes."""
        super().__init__(parent)
        self.setObjectName("centralStation")
        self.runner = runner
        self.is_wall = wall
        #: the wall-screen window while it is open (on the page, not on the wall itself)
        self.wall: CentralStation | None = None
        self.background = Background(self)
        self.tiles: list[TileView] = []
        self._stale = True
        self.heading = QLabel("Central station — today")
        self.heading.setObjectName("stationHeading")
        self.full_screen_button = QPushButton(f"Leave wall screen ({FULL_SCREEN_KEY})" if wall
                                              else f"Wall screen ({FULL_SCREEN_KEY})")
        self.full_screen_button.clicked.connect(self.toggle_full_screen)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.full_screen_button)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.empty = QLabel("No sessions today.")
        self.empty.setObjectName("emptyChart")
        self.empty.hide()  # until the first read says so
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.empty)
        layout.addWidget(scroll, 1)
        QShortcut(QKeySequence(FULL_SCREEN_KEY), self, self.toggle_full_screen,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        if wall:
            QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.close,
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.setWindowTitle("ketamon — central station")
            self.setProperty("large", True)
        self._flash = {ms: self._flash_timer(ms) for ms in set(FLASH_MS.values())}
        self.clock = QTimer(self)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._tick)
        self.reloader = QTimer(self)
        self.reloader.setInterval(RELOAD_MS)
        self.reloader.timeout.connect(self.reload)
        runner.changed.connect(self._on_changed)

    def _flash_timer(self, ms: int) -> QTimer:
        timer = QTimer(self)
        timer.setInterval(ms)
        timer.timeout.connect(lambda: self._toggle(ms))
        return timer

    # ------------------------------------------------------------ reading

    def reload(self) -> None:
        """Read the tiles again off the GUI thread; a hidden page only notes it is stale."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        store = self.runner.store
        self.background.run("station", lambda: station_tiles(store), self._show)

    def _on_changed(self, changes: OpChanges) -> None:
        if changes.any_of(*STATION_FLAGS):
            self.reload()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.clock.start()
        self.reloader.start()
        if self._stale:
            self.reload()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        for timer in (self.clock, self.reloader, *self._flash.values()):
            timer.stop()

    def closeEvent(self, event) -> None:  # the wall screen's window
        self.stop()
        super().closeEvent(event)

    def stop(self) -> None:
        """The window closes: the wall screen with it, no timer, a running read waited for."""
        if self.wall is not None:
            self.wall.close()
        for timer in (self.clock, self.reloader, *self._flash.values()):
            timer.stop()
        self.background.stop()

    # ------------------------------------------------------------ showing

    def _show(self, tiles: list[Tile]) -> None:
        while len(self.tiles) < len(tiles):
            view = TileView()
            view.clicked.connect(self.open_session)
            self.tiles.append(view)
        now = self.runner.store.clock.now()
        for i, view in enumerate(self.tiles):
            if i < len(tiles):
                view.show_tile(tiles[i], now)
                view.show()
            else:
                view.tile = None
                view.hide()
        self._place()
        self.empty.setVisible(not tiles)
        self._tick()
        self.shown.emit()

    def _place(self) -> None:
        """As many columns as fit the width (fewer, wider tiles on the wall)."""
        columns = max(1, self.width() // (480 if self.is_wall else 320))
        for i, view in enumerate(self.visible_tiles()):
            self.grid.addWidget(view, i // columns, i % columns)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place()

    def _tick(self) -> None:
        now = self.runner.store.clock.now()
        wanted = set()
        for view in self.visible_tiles():
            view.show_tile(view.tile, now)
            if view.flashes_at:
                wanted.add(view.flashes_at)
            else:
                view.set_flash(False)
        for ms, timer in self._flash.items():
            if ms in wanted and self.isVisible():
                if not timer.isActive():
                    timer.start()
            else:
                timer.stop()

    def _toggle(self, ms: int) -> None:
        for view in self.visible_tiles():
            if view.flashes_at == ms:
                view.set_flash(not view.property("flash"))

    def visible_tiles(self) -> list[TileView]:
        return [v for v in self.tiles if v.tile is not None]

    def flashing(self, session_id: int) -> int:
        """The flash interval (ms) running for a session's tile; 0 when steady."""
        view = next((v for v in self.visible_tiles() if v.tile.session_id == session_id), None)
        if view is None or not view.flashes_at:
            return 0
        timer = self._flash[view.flashes_at]
        return timer.interval() if timer.isActive() else 0

    def toggle_full_screen(self) -> None:
        """A wall screen: a window of its own, full screen, in large type; on the
        wall itself, close it."""
        if self.is_wall:
            self.close()
            return
        if self.wall is not None:
            self.wall.close()
            return
        # a window of its own, owned by the page: it goes when the main window goes
        self.wall = CentralStation(self.runner, self, wall=True)
        self.wall.setWindowFlag(Qt.WindowType.Window)
        self.wall.open_session.connect(self._open_from_wall)
        self.wall.destroyed.connect(self._wall_closed)
        self.wall.showFullScreen()

    def _open_from_wall(self, session_id: int) -> None:
        self.wall.close()
        self.open_session.emit(session_id)

    def _wall_closed(self) -> None:
        self.wall = None
