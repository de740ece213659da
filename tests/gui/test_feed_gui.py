"""The device feed in the window (issue 11, points 2, 4, 5): a session placed at
a chair from the new-session dialog and moved from the sessions list; monitor
sets in the event log, lighter until a nurse validates them (V) or marks them an
artefact (A, with the reason); the app's own listener refreshing the screens."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.changes import OpChanges
from ketamon.core.feed.mllp import Decoder, frame
from ketamon.core.models import Session, VitalSigns
from ketamon.core.ops.device import LISTENER, technical_alerts
from ketamon.gui.feed_listener import FeedListener
from ketamon.gui.live_bridge import LiveBridge
from ketamon.gui.main_window import MainWindow
from tests.conftest import T0
from tests.feed_corpus import message, msa


@pytest.fixture
def window(small_window):
    return small_window


def chair_of(store, session_id: int) -> str | None:
    with store.read() as db:
        return db.get(Session, session_id).chair


def test_the_new_session_dialog_places_the_session_at_a_chair(qtbot, window, store, patient_id):
    qtbot.mouseClick(window.sessions.new_session_button, Qt.MouseButton.LeftButton)
    d = window.session_dialog
    d.select_patient(patient_id)
    d.select_protocol("iv-ketamine-0.5")
    d.chair.setCurrentText("CHAIR5")
    qtbot.mouseClick(d.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session_dialog is None)
    assert chair_of(store, window.current_chart().session_id) == "CHAIR5"


def test_move_to_chair_moves_the_chosen_session_and_says_a_refusal(qtbot, window, store, responder, nurse,
                                                                   infusion_session, esketamine_session):
    ops.place_session(store, nurse, esketamine_session, "CHAIR2")
    window.sessions.reload()
    window.sessions.select(infusion_session)
    responder.texts = ["chair4", "CHAIR2"]
    qtbot.mouseClick(window.sessions.move_button, Qt.MouseButton.LeftButton)
    assert chair_of(store, infusion_session) == "CHAIR4"
    assert "moved" in window.status_message.text() or "placed" in window.status_message.text()
    qtbot.mouseClick(window.sessions.move_button, Qt.MouseButton.LeftButton)
    assert chair_of(store, infusion_session) == "CHAIR4"
    assert "CHAIR2 already has" in window.runner.last_refusal


def test_device_sets_are_lighter_until_validated_with_one_key(qtbot, open_chart, store, nurse, responder,
                                                               infusion_session):
    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    for n in range(2):
        at = T0 - timedelta(seconds=30 - n)
        assert msa(ops.receive_device_message(store, message(obr_time=at, sent=at, control_id=str(n))))[1] == "CA"
    chart = open_chart(infusion_session)
    log = chart.event_log
    log.device_toggle.setChecked(True)
    device_rows = [r for r, text in enumerate(log.rows_text()) if "Device, not validated" in text]
    assert len(device_rows) == 2
    grey = log.model.data(log.model.index(device_rows[0], 2), Qt.ItemDataRole.ForegroundRole)
    assert grey is not None  # lighter than the nurse's own entries

    log.table.setFocus()
    log.table.selectRow(device_rows[0])
    qtbot.keyClick(log.table, Qt.Key.Key_V)
    qtbot.waitUntil(lambda: sum("Device, validated (Sam Carter RN" in t for t in log.rows_text()) == 1)
    assert log.model.data(log.model.index(device_rows[0], 2), Qt.ItemDataRole.ForegroundRole) is None

    responder.texts = ["patient moved during the reading"]
    log.table.selectRow(device_rows[1])
    qtbot.keyClick(log.table, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: any("artefact: patient moved during the reading" in t for t in log.rows_text()))


def test_the_apps_listener_stores_and_refreshes_the_screens(qtbot, runner, store, nurse, infusion_session):
    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    live = LiveBridge(runner).start()  # the window's: how it hears the listener process's sets
    qtbot.addWidget(live.banner)
    assert live.listener.wait_ready()
    feed = FeedListener(runner)
    assert feed.start(port=0) and feed.wait_ready()
    try:
        with qtbot.waitSignal(runner.changed, timeout=20_000) as heard:
            with socket.create_connection(("127.0.0.1", feed.port), timeout=20) as sock:
                sock.sendall(frame(message()))
                decoder, acks = Decoder(), []
                while not acks:
                    acks += decoder.feed(sock.recv(65536))
        assert msa(acks[0])[1] == "CA"
        assert heard.args[0].touches(infusion_session) and heard.args[0].vitals
    finally:
        feed.stop()
        live.stop()
    with store.read() as db:
        assert db.scalar(select(VitalSigns.source).where(VitalSigns.session_id == infusion_session)) == "device"


def test_the_technical_alerts_page_lists_acknowledges_and_resolves(qtbot, window, store, infusion_session):
    ops.receive_device_message(store, b"garbage")
    ops.receive_device_message(store, message(chair="CHAIR9"))
    page = window.technical_page
    window.tabs.setCurrentWidget(page)
    qtbot.waitUntil(lambda: len(page.rows) == 2)
    texts = [page.table.item(r, 1).text() + " | " + page.table.item(r, 2).text() for r in range(2)]
    assert any(t.startswith("CHAIR9 · no session | Messages from CHAIR9 refused: 1 since") for t in texts)
    assert any(t.startswith("No session | Messages from an unknown sender refused: 1 since")
               and "This is not an HL7 v2 message" in t for t in texts)
    page.table.selectRow(0)
    qtbot.mouseClick(page.acknowledge_button, Qt.MouseButton.LeftButton)
    assert page.table.item(0, 3).text().startswith("Sam Carter RN")
    page.table.selectRow(0)
    qtbot.mouseClick(page.resolve_button, Qt.MouseButton.LeftButton)
    assert len(page.rows) == 1 and page.empty.isHidden()


def listener_alerts(store) -> list[str]:
    return [a.message for a in technical_alerts(store) if a.key == LISTENER]


def test_the_listener_process_dying_is_alerted_and_started_again(qtbot, runner, store):
    feed = FeedListener(runner)
    assert feed.start(port=0) and feed.wait_ready()
    first = feed.process.processId()
    try:
        feed.process.kill()  # what a crash looks like from the window
        qtbot.waitUntil(lambda: any("stopped unexpectedly" in m for m in listener_alerts(store)), timeout=10_000)
        qtbot.waitUntil(lambda: feed.port is not None, timeout=20_000)
        assert feed.process.processId() != first
        assert listener_alerts(store) == []  # resolved by the feed once it listens again
        with socket.create_connection(("127.0.0.1", feed.port), timeout=20) as sock:
            sock.sendall(frame(message(chair="CHAIR9")))
            decoder, acks = Decoder(), []
            while not acks:
                acks += decoder.feed(sock.recv(65536))
        assert msa(acks[0])[1] == "CR"  # it answers again (no session at CHAIR9)
    finally:
        feed.stop()
    assert feed.process is None


def test_a_listener_that_cannot_listen_raises_a_technical_alert(qtbot, runner, store):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        feed = FeedListener(runner)
        assert feed.start(port=taken.getsockname()[1])
        try:
            qtbot.waitUntil(lambda: any("not started" in m for m in listener_alerts(store)), timeout=20_000)
            assert "not started" in feed.problem and feed.port is None
        finally:
            feed.stop()


def test_a_burst_of_notices_from_the_listener_process_reaches_the_screens_as_one(qtbot, runner):
    """16 monitors a second, stored by the listener process: the screens hear one
    gathered notice, not 16 refreshes (each screen would redraw 16 times a second)."""
    live = LiveBridge(runner)
    qtbot.addWidget(live.banner)
    heard: list[OpChanges] = []
    runner.changed.connect(heard.append)
    for session_id in range(1, 17):
        live.notice.emit(OpChanges(origin="monitors:4242").mark(vitals=True, session_id=session_id))
    qtbot.waitUntil(lambda: len(heard) == 1)
    assert live._pending is None and not live._gathering.isActive()  # nothing else follows
    assert len(heard) == 1 and heard[0].sessions == set(range(1, 17)) and heard[0].vitals
    live.stop()


def test_pressing_a_with_a_reason_takes_the_set_out_of_the_banner_and_the_plot(qtbot, open_chart, store, nurse,
                                                                               responder, infusion_session):
    from ketamon.core.report import build_report

    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    high = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "212", "266016^MDC_DIM_MMHG^MDC"),
            ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "96", "266016^MDC_DIM_MMHG^MDC")]
    for n, rows in enumerate((None, high)):
        at = T0 - timedelta(seconds=30 - n)
        raw = message(obr_time=at, sent=at, control_id=str(n)) if rows is None else \
            message(rows, obr_time=at, sent=at, control_id=str(n))
        assert msa(ops.receive_device_message(store, raw))[1] == "CA"
    chart = open_chart(infusion_session)
    qtbot.waitUntil(lambda: "212/96" in chart.alerts.banner.message.text())
    assert 212.0 in chart.plot.series("systolic")[1]
    log = chart.event_log
    log.device_toggle.setChecked(True)
    [row] = [r for r, text in enumerate(log.rows_text()) if "BP 212/96" in text]

    responder.texts = ["cuff squeezed while the patient moved"]
    log.table.setFocus()
    log.table.selectRow(row)
    qtbot.keyClick(log.table, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: "212/96" not in chart.alerts.banner.message.text())
    assert "1 alert closed" in log.message.text()
    assert chart.plot.series("systolic")[1] == [128.0]  # the patient's values only
    [line] = [t for t in log.rows_text() if "BP 212/96" in t]  # still listed, labelled with who and why
    assert "artefact: cuff squeezed while the patient moved (Sam Carter RN" in line
    assert any("Closed: device set marked artefact" in t for t in chart.alerts.list.items_text())
    report = build_report(store, infusion_session)
    assert [v.systolic for v in report.clinical_vitals] == [128]

    # validated again (V on the same line): back in the plot and the banner
    log.table.selectRow([r for r, text in enumerate(log.rows_text()) if "BP 212/96" in text][0])
    qtbot.keyClick(log.table, Qt.Key.Key_V)
    qtbot.waitUntil(lambda: "212/96" in chart.alerts.banner.message.text())
    assert chart.plot.series("systolic")[1] == [128.0, 212.0]


def test_the_sessions_list_names_each_sessions_chair_and_follows_a_move(qtbot, window, store, responder, nurse,
                                                                         infusion_session):
    def row_of(session_id: int) -> str:
        items = [window.sessions.list.item(i) for i in range(window.sessions.list.count())]
        return next(i.text() for i in items if i.data(Qt.ItemDataRole.UserRole) == session_id)

    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    window.sessions.reload()
    assert row_of(infusion_session).split("\n")[0] == "CHAIR3 · NGUYEN, Lan"  # one line: chair and who
    window.sessions.select(infusion_session)
    responder.texts = ["chair7"]
    qtbot.mouseClick(window.sessions.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row_of(infusion_session).split("\n")[0] == "CHAIR7 · NGUYEN, Lan")
    responder.texts = [""]  # off its chair: the row says no chair
    qtbot.mouseClick(window.sessions.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row_of(infusion_session).split("\n")[0] == "NGUYEN, Lan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def test_turning_the_setting_on_and_off_starts_and_stops_the_listener_without_a_restart(qtbot, store, actors):
    from ketamon.gui.runner import OpRunner

    admin = OpRunner(store, actors["admin"])  # the Settings page's operations, as an administrator
    window = MainWindow(admin)
    qtbot.addWidget(window)
    try:
        assert window.feed.process is None  # the clinic has not turned it on
        port = _free_port()
        assert admin.run(ops.set_clinic_setting, "feed_port", port, "the monitor network's port")
        assert window.feed.process is None  # still off: a port alone starts nothing
        assert admin.run(ops.set_clinic_setting, "feed_listen", True, "monitors installed at every chair")
        assert window.feed.process is not None and window.feed.wait_ready()
        assert window.feed.port == port and _answers(port)

        assert admin.run(ops.set_clinic_setting, "feed_listen", False, "monitor network down for maintenance")
        assert window.feed.process is None and window.feed.port is None
        assert not _answers(port)
        assert listener_alerts(store) == []  # turned off is not a fault
    finally:
        window.close()
        admin.deleteLater()
