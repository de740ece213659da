"""Pages other than the chart are built when their tab is first shown (the window
shows sooner): built late, each still works the first time it is shown."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ketamon.core import ops
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner


def shown_window(qtbot, runner) -> MainWindow:
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.resize(1440, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_the_records_page_is_built_when_its_tab_is_first_shown_and_lists_sessions(
        qtbot, runner, esketamine_session):
    from ketamon.gui.staff import RecordsPage

    w = shown_window(qtbot, runner)
    assert not isinstance(w.tabs.widget(w.records_page_index), RecordsPage)  # not built at start
    w.tabs.setCurrentIndex(w.records_page_index)  # as a click on the tab
    page = w.tabs.currentWidget()
    assert isinstance(page, RecordsPage) and page is w.records_page and page.isVisible()
    assert [w.tabs.tabText(i) for i in range(w.tabs.count())][:3] == ["Session chart", "Records", "Alert review"]
    qtbot.waitUntil(lambda: any("NGUYEN" in " ".join(row) for row in page.texts()))


def test_the_alert_review_page_built_late_opens_a_chart(qtbot, store, nurse, runner, esketamine_session,
                                                        ready_for_dose):
    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    ops.record_vitals(store, nurse, esketamine_session, systolic=186, diastolic=95, heart_rate=80, spo2=97)
    w = shown_window(qtbot, runner)
    w.tabs.setCurrentIndex(w.review_page_index)
    queue = w.tabs.currentWidget()
    assert queue is w.review_queue
    qtbot.waitUntil(lambda: bool(queue.rows))
    assert any("186" in r.message for r in queue.rows)
    queue.table.selectRow(0)
    qtbot.mouseClick(queue.open_button, Qt.MouseButton.LeftButton)
    assert w.current_chart().session_id == esketamine_session and w.tabs.currentIndex() == w.chart_page_index


def test_an_administrators_settings_page_built_late_lists_a_refused_protocol_file(
        qtbot, store, actors, monkeypatch, tmp_path):
    from ketamon.core.protocols import ProtocolRegistry
    from ketamon.core.resources import resource

    text = resource("protocols", "esketamine-56.toml").read_text().replace(
        'id = "esketamine-56"', 'id = "clinic-esk"').replace(
        "[ranges.spo2]\nabsolute = [50, 100]", "[ranges.spo2]\nabsolute = [0, 1000]")
    (tmp_path / "bad-spo2.toml").write_text(text)
    monkeypatch.setenv("KETAMON_PROTOCOLS", str(tmp_path))
    for _ in range(2):  # the second load finds the good files in the cache; the bad one is checked again
        store.protocols = ProtocolRegistry.load()
    w = shown_window(qtbot, OpRunner(store, actors["admin"]))
    assert w.tabs.currentWidget() is w.users_page  # an administrator's home page
    assert w.tabs.isTabVisible(w.settings_page_index)
    w.tabs.setCurrentIndex(w.settings_page_index)
    assert w.tabs.currentWidget().widget() is w.settings_page  # in its scroll area
    shown = w.settings_page.protocol_problems.text()
    assert "bad-spo2.toml" in shown and "ranges.spo2.absolute" in shown and "4 protocols loaded" in shown
    assert w.tabs.isTabVisible(w.settings_page_index) and w.tabs.tabText(w.settings_page_index) == "Settings"
