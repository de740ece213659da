"""Alarm tones and the timer that keeps alerts on time.

- `AlarmSound` is anything with `play(priority)`. `SystemAlarmSound` plays the WAV
  files in resources/sounds/ with `paplay` or `aplay` when present (PySide6-Essentials
  has no QtMultimedia), else QApplication.beep(). Tests use `RecordingSound` and
  look at what was requested.
- `AlarmMonitor` runs the core's `tick` every few seconds (overdue vitals fire on
  time while nobody types; unacknowledged alerts escalate) and sounds the tone the
  active alerts call for (core.alerts.alarm_status), repeating it at the interval
  in resources/sounds/sounds.toml until acknowledged or cleared. The logic is in
  the core; this only connects it to a timer and a speaker. The tick and the
  status query run off the GUI thread (ketamon.gui.background): their cost grows
  with the clinic's data and must never stall typing.

`python -m ketamon.gui.sound --write-tones` regenerates the WAV files.
"""
from __future__ import annotations

import logging
import math
import shutil
import struct
import subprocess
import sys
import wave
from datetime import datetime
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from ketamon.core import alert_views as alerts
from ketamon.core.ops import alerting
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import SYSTEM
from ketamon.core.resources import resource, resources_dir
from ketamon.gui.background import Background
from ketamon.gui.runner import OpRunner

log = logging.getLogger(__name__)

#: how often the monitor runs the core's tick (ms): an overdue alert is at most this late
TICK_MS = 2000


class AlarmSound(Protocol):
    def play(self, priority: str) -> None: ...


class RecordingSound:
    """For tests: remembers each tone requested."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def play(self, priority: str) -> None:
        self.requests.append(priority)


class SystemAlarmSound:
    """Plays resources/sounds/alarm-<priority>.wav without blocking the window."""

    def __init__(self) -> None:
        self.player = shutil.which("paplay") or shutil.which("aplay")
        self._proc: subprocess.Popen | None = None

    def play(self, priority: str) -> None:
        cfg = alerts.sound_config().get(priority)
        if cfg is None:
            return
        if self._proc is not None and self._proc.poll() is None:
            return  # still sounding the last one
        if self.player:
            try:
                path = resource("sounds", cfg["file"])
                self._proc = subprocess.Popen([self.player, str(path)], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
                return
            except (OSError, FileNotFoundError):
                log.warning("could not play the alarm tone with %s", self.player)
        from PySide6.QtWidgets import QApplication

        QApplication.beep()


def default_sound() -> AlarmSound:
    """The speaker, unless there is none to use: headless (offscreen, as in tests
    and screenshots) or KETAMON_SOUND=off gives a silent RecordingSound."""
    from PySide6.QtGui import QGuiApplication

    from ketamon.core import settings

    if not settings.get("sound") or QGuiApplication.platformName() in ("offscreen", "minimal"):
        return RecordingSound()
    return SystemAlarmSound()


class AlarmMonitor(QObject):
    """One per main window. `status_changed(AlarmStatus)` after every poll and
    after every change the runner broadcasts; `polled(changes)` when a tick's
    result has arrived (both on the GUI thread)."""

    status_changed = Signal(object)
    #: after every tick of the timer, with what the tick changed (maybe nothing)
    polled = Signal(object)

    def __init__(self, runner: OpRunner, sound: AlarmSound | None = None, parent: QObject | None = None,
                 interval_ms: int = TICK_MS):
        super().__init__(parent)
        self.runner = runner
        self.sound: AlarmSound = sound if sound is not None else default_sound()
        self.status: alerts.AlarmStatus | None = None
        self._last_tone: str | None = None
        self._last_played: datetime | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        #: where the tick and the status query run (never the GUI thread)
        self.background = Background(self)
        runner.changed.connect(self._on_changed)

    def start(self) -> None:
        self.timer.start()
        self.poll()

    def stop(self) -> None:
        """For good (the window closes): the timer stops and a running tick is waited for."""
        self.timer.stop()
        self.background.stop()

    def poll(self) -> None:
        """Start the core's tick and the alarm status off the GUI thread (as the
        system: it must go on while the screen is locked); `_polled` broadcasts what
        changed and updates the tone when they are back."""
        store = self.runner.store

        def tick() -> tuple[Changes, alerts.AlarmStatus]:
            changes = alerting.tick(store, SYSTEM)
            return changes, alerts.alarm_status(store, store.clock.now())

        self.background.run("tick", tick, self._polled, self._tick_failed)

    def _polled(self, result: tuple[Changes, alerts.AlarmStatus]) -> None:
        changes, status = result
        if changes:
            changes.initiator = self
            self.runner.changed.emit(changes)
        self._sound(status)
        self.polled.emit(changes)

    def _tick_failed(self, error: BaseException) -> None:
        # the timer must survive a database hiccup; the next tick retries
        log.error("alert tick failed", exc_info=error)
        self.update_sound()
        self.polled.emit(Changes())

    def _on_changed(self, changes: Changes) -> None:
        if changes.initiator is self:
            return  # poll() updates the tone right after
        # An entry that raised, cleared or worsened an alert carries the "alerts" flag
        # (core.alerts.apply marks it); one that did not leaves the active alerts,
        # hence the tone, as they were. With 16 chairs each sending a set a second,
        # asking again for every set kept the worker and the GIL busy for nothing.
        if changes.any_of("alerts", "settings", "lifecycle"):
            self.update_sound()

    def update_sound(self) -> None:
        """Ask the core which tone the active alerts call for (off the GUI thread),
        then sound it."""
        store = self.runner.store
        self.background.run("status", lambda: alerts.alarm_status(store, store.clock.now()), self._sound)

    def _sound(self, status: alerts.AlarmStatus) -> None:
        now = self.runner.store.clock.now()
        self.status = status
        tone = status.tone
        if tone is not None:
            repeat = alerts.sound_config().get(tone, {}).get("repeat_seconds", 10)
            due = (self._last_tone != tone or self._last_played is None
                   or (now - self._last_played).total_seconds() >= repeat)
            if due:
                self.sound.play(tone)
                self._last_played = now
        else:
            self._last_played = None
        self._last_tone = tone
        self.status_changed.emit(status)


def measure_overdue_lateness(monitor: AlarmMonitor, session_id: int, overdue_at: datetime, *,
                             busy=None, timeout_s: float = 30.0) -> float:
    """For the benchmark: seconds from `overdue_at` (see
    core.scenario.overdue_session) until the monitor's timer has raised the
    overdue alert, while `busy()` keeps the window busy (e.g. redrawing a 12-hour
    plot) between event-loop turns. Uses the store's (real) clock."""
    import time

    from PySide6.QtWidgets import QApplication

    raised: list[datetime] = []

    def seen(changes: Changes) -> None:
        if session_id in changes.sessions and changes.alerts and not raised:
            raised.append(monitor.runner.store.clock.now())

    monitor.polled.connect(seen)
    try:
        deadline = time.monotonic() + timeout_s
        while not raised and time.monotonic() < deadline:
            if busy is not None:
                busy()
            QApplication.processEvents()
            time.sleep(0.005)
    finally:
        monitor.polled.disconnect(seen)
    if not raised:
        raise TimeoutError("the overdue alert was not raised in time")
    return (raised[0] - overdue_at).total_seconds()


# ---------------------------------------------------------------- the tones


RATE = 22050


def _pulse(freq: float, ms: int, volume: float = 0.35) -> list[int]:
    """A tone with its first harmonics and soft edges (IEC 60601-1-8 asks for
    harmonics so the tone can be located; soft edges so it does not click)."""
    n = int(RATE * ms / 1000)
    ramp = int(RATE * 0.012)
    out = []
    for i in range(n):
        t = i / RATE
        s = (math.sin(2 * math.pi * freq * t) + 0.5 * math.sin(2 * math.pi * 2 * freq * t)
             + 0.3 * math.sin(2 * math.pi * 3 * freq * t) + 0.2 * math.sin(2 * math.pi * 4 * freq * t)) / 2.0
        env = min(1.0, i / ramp, (n - i) / ramp)
        out.append(int(32767 * volume * env * s))
    return out


def _silence(ms: int) -> list[int]:
    return [0] * int(RATE * ms / 1000)


def tone_samples(priority: str) -> list[int]:
    """high: two bursts of five pulses; medium: three slower pulses (IEC 60601-1-8 rhythm)."""
    if priority == "high":
        burst = []
        for i in range(5):
            burst += _pulse(880, 150) + _silence(100 if i < 4 else 0)
        return burst + _silence(400) + burst
    if priority == "medium":
        out = []
        for i in range(3):
            out += _pulse(660, 200) + _silence(250 if i < 2 else 0)
        return out
    raise KeyError(priority)


def write_tones(directory: Path | None = None) -> list[Path]:
    directory = directory or resources_dir() / "sounds"
    written = []
    for priority in ("high", "medium"):
        path = directory / alerts.sound_config()[priority]["file"]
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            samples = tone_samples(priority)
            w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        written.append(path)
    return written


if __name__ == "__main__":
    if "--write-tones" in sys.argv:
        for p in write_tones():
            print(p)
