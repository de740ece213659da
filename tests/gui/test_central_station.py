"""The central station: one tile per chair with a session today, what a nurse at
the wall screen reads (newest values with their age, the highest alert flashing
as the bedside banner does, what is due next), a click opening the chart, and
F11 making it a wall screen."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.core.alert_views import session_alerts
from ketamon.gui.alerts_panel import FLASH_MS
from ketamon.gui.central_station import CentralStation


def shown_station(qtbot, runner) -> CentralStation:
    station = CentralStation(runner)
    qtbot.addWidget(station)
    station.resize(1366, 768)
    with qtbot.waitSignal(station.shown, timeout=10_000):
        station.show()
    station.activateWindow()
    qtbot.waitUntil(station.isActiveWindow)  # keys (F11) go to the active window
    return station


def tile(station: CentralStation, session_id: int):
    return next(v for v in station.visible_tiles() if v.tile.session_id == session_id)


def test_one_tile_per_session_with_the_newest_values_their_age_and_what_is_due(
        qtbot, runner, store, nurse, clock, infusion_session, esketamine_session, ready_for_dose):
    ready_for_dose(infusion_session)  # baseline 120/80, HR 72, SpO2 98
    clock.advance(minutes=1)
    ops.record_vitals(store, nurse, infusion_session, heart_rate=88)
    station = shown_station(qtbot, runner)
    assert {v.tile.session_id for v in station.visible_tiles()} == {infusion_session, esketamine_session}
    infusion = tile(station, infusion_session)
    assert "NGUYEN, Lan" in infusion.title.text() and "IV ketamine" in infusion.detail.text()
    assert "BP 120/80 (1 min ago)" in infusion.vitals.text()
    assert "HR 88 (0 s ago)" in infusion.vitals.text()  # the newest HR, not the set's
    assert "SpO2 98% (1 min ago)" in infusion.vitals.text()
    assert infusion.alert.text() == "No alert" and infusion.due.text() == "Nothing due"  # baseline taken
    esketamine = tile(station, esketamine_session)
    assert "No vital signs yet" in esketamine.vitals.text()
    assert esketamine.due.text().startswith("Next due: before dose")

    clock.advance(minutes=2)  # ages move with the clock, without a read
    qtbot.waitUntil(lambda: "BP 120/80 (3 min ago)" in infusion.vitals.text(), timeout=3000)


def test_the_highest_alert_shows_its_colour_and_mark_and_flashes_until_acknowledged(
        qtbot, runner, store, nurse, infusion_session, esketamine_session):
    station = shown_station(qtbot, runner)
    # entered through the runner, as a chart would: the station re-reads on the notice
    with qtbot.waitSignal(station.shown, timeout=10_000):
        runner.run(ops.record_vitals, infusion_session, systolic=186, diastolic=92)
    with qtbot.waitSignal(station.shown, timeout=10_000):
        runner.run(ops.record_vitals, esketamine_session, systolic=165, diastolic=85)
    high, medium = tile(station, infusion_session), tile(station, esketamine_session)
    assert high.property("role") == "high" and high.alert.text().startswith("*** ")
    assert medium.property("role") == "medium" and medium.alert.text().startswith("** ")
    # a phase change every 250 ms is 2 Hz; every 800 ms 0.625 Hz (high 1.4–2.8, medium 0.4–0.8)
    assert station.flashing(infusion_session) == FLASH_MS["high"] == 250
    assert station.flashing(esketamine_session) == FLASH_MS["medium"] == 800
    first = bool(high.property("flash"))
    qtbot.waitUntil(lambda: bool(high.property("flash")) != first, timeout=2000)

    alert_id = session_alerts(store, infusion_session)[0].id
    with qtbot.waitSignal(station.shown, timeout=10_000):
        runner.run(ops.acknowledge_alert, alert_id)
    assert station.flashing(infusion_session) == 0 and not high.property("flash")
    assert high.property("role") == "high"  # steady, still red
    assert station.flashing(esketamine_session) == 800


def test_a_click_opens_the_chart_and_f11_makes_a_wall_screen(qtbot, runner, infusion_session):
    station = shown_station(qtbot, runner)
    view = tile(station, infusion_session)
    with qtbot.waitSignal(station.open_session) as opened:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton)
    assert opened.args == [infusion_session]
    small = view.title.fontInfo().pixelSize()
    qtbot.keyClick(station, Qt.Key.Key_F11)
    wall = station.wall
    assert wall is not None and wall.isFullScreen()
    qtbot.waitUntil(lambda: bool(wall.visible_tiles()), timeout=10_000)
    big = tile(wall, infusion_session)
    assert big.title.fontInfo().pixelSize() > small * 1.3  # large type, readable across the room
    with qtbot.waitSignal(station.open_session) as opened:  # a click on the wall opens the chart here
        qtbot.mouseClick(big, Qt.MouseButton.LeftButton)
    assert opened.args == [infusion_session]
    qtbot.waitUntil(lambda: station.wall is None)  # and leaves the wall screen


def test_a_high_tiles_words_turn_white_in_the_flashs_red_phase(qtbot, runner, infusion_session):
    """In the red phase the tile is the alarm's red: its words must be the alarm's
    white, not the dark text of the tinted phase (they stayed dark on red)."""
    from ketamon.gui.theme import colour

    station = shown_station(qtbot, runner)
    with qtbot.waitSignal(station.shown, timeout=10_000):
        runner.run(ops.record_vitals, infusion_session, systolic=186, diastolic=92)
    high = tile(station, infusion_session)
    for red in (True, False, True):
        qtbot.waitUntil(lambda: bool(high.property("flash")) is red, timeout=2000)
        words = {label.palette().color(label.foregroundRole()).name() for label in (high.title, high.vitals)}
        assert (words == {colour("alert_high_text")}) is red, words
