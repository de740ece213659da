"""The physician's review queue: every chair's alerts, most urgent first; the
readings around the chosen one; a comment and Review; filters; limits; and the
page in the main window (with F9 working from anywhere in it)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ketamon.core import alert_views, alerts, ops
from ketamon.gui.main_window import MainWindow
from ketamon.gui.review_queue import ReviewQueue
from ketamon.gui.runner import OpRunner
from ketamon.gui.sound import RecordingSound


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def doctor_runner(store, actors):
    r = OpRunner(store, actors["physician"])
    yield r
    r.deleteLater()


@pytest.fixture
def two_chairs(store, nurse, clock, esketamine_session, infusion_session):
    """An infusion chair with a medium BP alert, an esketamine chair with nausea (low)
    and deep sedation (high)."""
    ops.record_vitals(store, nurse, infusion_session, systolic=130, diastolic=80, heart_rate=70)
    clock.advance(minutes=10)
    ops.record_vitals(store, nurse, infusion_session, systolic=166, diastolic=88, heart_rate=72)
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, esketamine_session, "nausea", score=8)
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, esketamine_session, "sedation", score=2)
    return esketamine_session, infusion_session


@pytest.fixture
def queue(qtbot, doctor_runner):
    def make() -> ReviewQueue:
        q = ReviewQueue(doctor_runner)
        qtbot.addWidget(q)
        q.resize(1300, 800)
        q.show()
        return q

    return make


def test_the_queue_lists_every_chair_most_urgent_first(qtbot, queue, two_chairs):
    q = queue()
    marks = [q.table.item(r, 0).text() for r in range(q.table.rowCount())]
    assert marks == ["***", "**", "*"]
    assert q.table.item(0, 3).text().startswith("Deep sedation: MOAA/S 2")
    assert q.table.item(1, 3).text().startswith("BP 166/88")
    assert q.table.item(0, 2).text() == "NGUYEN, Lan"
    assert q.count.text() == "3 alerts"


def test_the_chosen_alert_shows_its_context_and_is_reviewed_with_a_comment(qtbot, queue, store, two_chairs, clock):
    esk, iv = two_chairs
    q = queue()
    q.table.selectRow(1)  # the BP alert
    assert q.detail_title.text().startswith("** BP 166/88")
    assert "still present" in q.detail_facts.text()
    texts = q.readings_text()
    assert any("BP 130/80" in t for t in texts)
    assert any("BP 166/88" in t and "◀ finding" in t for t in texts)
    assert q.plot.series("sys") == [130.0, 166.0]

    click(qtbot, q.review_button)  # no comment: refused, nothing stored
    assert "comment" in q.message.text() and q.message.property("role") == "refusal"
    assert len(alert_views.review_queue(store)) == 3

    qtbot.keyClicks(q.comment, "Rechecked manually 150/85; continue, BP q5 min")
    click(qtbot, q.review_button)
    (reviewed,) = [a for a in alert_views.review_queue(store, unreviewed_only=False) if a.reviewed_at]
    assert reviewed.session_id == iv and reviewed.reviewed_by == "Dr Priya Shah"
    assert reviewed.review_comment == "Rechecked manually 150/85; continue, BP q5 min"
    assert reviewed.reviewed_at == clock.now()
    assert q.table.rowCount() == 2  # the unreviewed view no longer lists it
    assert q.message.text() == "1 alert reviewed"


def test_several_alerts_reviewed_at_once(qtbot, queue, store, two_chairs):
    q = queue()
    q.select_ids([a.id for a in q.rows[1:]])
    assert "(+1 selected)" in q.detail_title.text()
    qtbot.keyClicks(q.comment, "Seen at the round")
    click(qtbot, q.review_button)
    assert [a.priority for a in alert_views.review_queue(store)] == ["high"]


def test_filters_by_priority_show_and_session(qtbot, queue, store, nurse, two_chairs):
    esk, iv = two_chairs
    q = queue()
    q.priority_filter.setCurrentIndex([d for d in range(q.priority_filter.count())
                                       if q.priority_filter.itemData(d) == "medium"][0])
    assert [a.priority for a in q.rows] == ["medium"]
    q.priority_filter.setCurrentIndex(0)
    idx = [i for i in range(q.session_filter.count()) if q.session_filter.itemData(i) == esk][0]
    q.session_filter.setCurrentIndex(idx)
    assert {a.session_id for a in q.rows} == {esk} and len(q.rows) == 2
    q.session_filter.setCurrentIndex(0)
    ops.record_side_effect(store, nurse, esk, "nausea", score=2)  # nausea clears; the queue refreshes itself
    q.show_filter.setCurrentIndex(1)  # open: condition still present
    assert [a.priority for a in q.rows] == ["high", "medium"]


def test_a_nurse_sees_the_queue_but_cannot_review(qtbot, runner, two_chairs):
    q = ReviewQueue(runner)
    qtbot.addWidget(q)
    q.show()  # a page loads when shown
    assert q.table.rowCount() == 3
    assert not q.review_button.isEnabled() and not q.limits_button.isVisibleTo(q)
    assert q.message.text() == "Only a physician can review alerts."


def test_limits_are_edited_from_the_queue(qtbot, queue, store, two_chairs, patient_id):
    esk, iv = two_chairs
    q = queue()
    q.table.selectRow(1)
    dialog = q.edit_limits()
    field = dialog.fields[("systolic", "abnormal", "high")]
    field.clear()
    qtbot.keyClicks(field, "175")
    qtbot.keyClicks(dialog.reason, "Usual SBP 160-170 (GP letter)")
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: q.limits_dialog is None)
    assert alert_views.session_limits(store, iv).ranges["systolic"].abnormal.high == 175
    # the BP alert's condition no longer holds under the new limit: it cleared
    q.show_filter.setCurrentIndex(1)
    assert [a.priority for a in q.rows] == ["high", "low"]


def test_the_main_window_has_the_review_page_and_opens_a_chart_from_it(qtbot, store, nurse, actors, two_chairs):
    esk, iv = two_chairs
    r = OpRunner(store, actors["physician"])
    w = MainWindow(r)
    qtbot.addWidget(w)
    w.show()
    w.alarm_monitor.sound = RecordingSound()
    assert w.tabs.tabText(w.review_page_index) == "Alert review"
    w.tabs.setCurrentIndex(w.review_page_index)
    w.review_queue.table.selectRow(1)
    click(qtbot, w.review_queue.open_button)
    assert w.current_chart().session_id == iv and w.tabs.currentIndex() == w.chart_page_index
    r.deleteLater()


def test_f9_in_the_main_window_acknowledges_the_chart_on_screen(qtbot, store, runner, two_chairs):
    esk, iv = two_chairs
    w = MainWindow(runner)
    qtbot.addWidget(w)
    w.alarm_monitor.sound = RecordingSound()
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    w.open_session(iv)
    w.open_session(esk)
    w.sessions.list.setFocus()
    qtbot.keyClick(w.sessions.list, Qt.Key.Key_F9)
    acked = {a.session_id for a in alert_views.review_queue(store) if a.acknowledged_at}
    assert acked == {esk}  # only the chart on screen


# ---------------------------------------------------------------- issue 10, point 5: never hide, most urgent, next


@pytest.fixture
def crowded(store, clock, esketamine_session, infusion_session):
    """An old cleared high alert (300 days) behind 600 newer unreviewed low ones."""
    from datetime import timedelta

    from sqlalchemy import insert

    from ketamon.core.models import Alert

    now = clock.now()
    long = ("Respiratory depression: SpO2 84 % below the critical limit 88 %; oxygen given, airway repositioned, "
            "physician called to the chair, patient roused to voice within two minutes")
    with store.transaction() as db:
        db.execute(insert(Alert), [dict(session_id=esketamine_session, category="patient", condition_key="spo2",
                                        rule="range_critical", priority="high", message=long,
                                        raised_at=now - timedelta(days=300), cleared_at=now - timedelta(days=300))])
        db.execute(insert(Alert), [dict(session_id=infusion_session, category="patient", condition_key=f"low{i}",
                                        rule="range_abnormal", priority="low", message=f"Nausea {i % 10}/10",
                                        raised_at=now - timedelta(minutes=i), cleared_at=now - timedelta(minutes=i))
                                   for i in range(600)])
    return long


def test_an_old_high_alert_is_first_and_chosen_and_no_alert_is_hidden(qtbot, queue, crowded):
    q = queue()
    assert q.table.item(0, 0).text() == "***" and q.table.item(0, 3).text() == crowded
    assert q.current().message == crowded  # opens on the most urgent unreviewed alert
    assert q.count.text() == "1–500 of 601 alerts" and q.table.rowCount() == 500
    # the whole text, wrapped (never elided): the row is as tall as its text needs
    assert q.table.wordWrap() and q.table.textElideMode() == Qt.TextElideMode.ElideNone
    assert q.table.rowHeight(0) >= q.table.sizeHintForRow(0) > q.table.rowHeight(1)
    # the rest are a page on, not gone
    assert not q.previous_button.isEnabled() and q.next_button.isEnabled()
    click(qtbot, q.next_button)
    assert q.count.text() == "501–601 of 601 alerts" and q.table.rowCount() == 101
    assert q.current() is not None and q.current().reviewed_at is None
    assert not q.next_button.isEnabled()
    click(qtbot, q.previous_button)
    assert q.table.item(0, 3).text() == crowded


def test_after_a_review_the_next_alert_is_chosen_with_its_plot(qtbot, queue, two_chairs):
    q = queue()
    first, second = q.rows[0], q.rows[1]
    assert q.current().id == first.id and first.priority == "high"
    qtbot.keyClicks(q.comment, "Roused to voice, monitored to recovery")
    click(qtbot, q.review_button)
    assert q.message.text() == "1 alert reviewed"
    assert q.current() is not None and q.current().id == second.id  # the next one, not empty axes
    assert q.detail_title.text().startswith(f"{second.mark} {second.message}")
    assert q.plot.series("sys")  # its readings are drawn


def test_the_context_plot_has_a_legend_and_the_limits_in_force(qtbot, queue, two_chairs):
    q = queue()
    q.select_ids({next(a.id for a in q.rows if a.message.startswith("BP 166/88"))})
    legend = [label.text for _sample, label in q.plot.legend.items]
    assert legend == ["Systolic", "Diastolic", "Heart rate"]
    labels = q.plot.limit_labels()
    assert "SBP 160" in labels and "SBP 180" in labels and any(lab.startswith("HR ") for lab in labels)


def test_a_physician_is_not_shown_what_was_said_to_the_nurse_before(qtbot, runner, actors, two_chairs):
    q = ReviewQueue(runner)  # the nurse signed in
    qtbot.addWidget(q)
    q.show()
    assert q.message.text() == "Only a physician can review alerts."
    runner.set_actor(actors["physician"])
    assert q.message.text() == "" and q.review_button.isEnabled()


def test_a_full_page_of_long_alerts_fills_in_seconds_not_a_minute(qtbot, queue, store, clock, infusion_session):
    """Fitting the columns after every cell made a shown page of 500 wrapped alerts
    take 40–60 s here; the columns are now fitted once per page (about 0.5 s)."""
    import time
    from datetime import timedelta

    from sqlalchemy import insert

    from ketamon.core.models import Alert

    now = clock.now()
    with store.transaction() as db:
        db.execute(insert(Alert), [dict(
            session_id=infusion_session, category="patient", condition_key=f"k{i}", rule="range_abnormal",
            priority="low", message=f"Nausea {i % 10}/10 with vomiting twice, ondansetron given, settled after "
                                    "twenty minutes", raised_at=now - timedelta(minutes=i), cleared_at=now)
            for i in range(800)])
    q = queue()
    started = time.perf_counter()
    q.reload()
    assert time.perf_counter() - started < 5
    assert q.table.rowCount() == 500 and q.count.text() == "1–500 of 800 alerts"
    assert q.table.horizontalHeader().sectionResizeMode(0) == q.table.horizontalHeader().ResizeMode.ResizeToContents


def test_an_alert_closed_by_an_artefact_verdict_is_settled_and_says_so(qtbot, queue, store, nurse, clock,
                                                                      infusion_session):
    from datetime import timedelta

    from ketamon.core.alerts import DEVICE_ARTEFACT

    ops.record_vitals(store, nurse, infusion_session, systolic=128, diastolic=80, heart_rate=70)
    spike = ops.record_vitals(store, nurse, infusion_session, systolic=212, diastolic=96, source="device",
                              measured_at=clock.now() + timedelta(seconds=1)).result
    q = queue()
    assert any(a.message.startswith("BP 212/96") for a in q.rows)
    clock.advance(minutes=1)
    ops.mark_device_artefact(store, nurse, spike, "cuff squeezed while the patient moved")
    q.reload()
    assert not any(a.message.startswith("BP 212/96") for a in q.rows)  # nothing left to review
    q.show_filter.setCurrentIndex(2)  # all
    [row] = [r for r in range(q.table.rowCount()) if q.table.item(r, 3).text().startswith("BP 212/96")]
    assert q.table.item(row, 4).text().startswith(DEVICE_ARTEFACT)
    q.table.selectRow(row)
    assert f"{DEVICE_ARTEFACT} by Sam Carter RN at" in q.detail_facts.text()


def test_the_set_that_raised_an_alert_closed_as_artefact_is_shown_labelled_not_in_force(qtbot, queue, store, nurse,
                                                                                       clock, infusion_session):
    """The physician sees the value that raised the alert: a grey row saying
    artefact and why, and a hollow mark of its own on the plot, off the lines."""
    from datetime import timedelta

    from ketamon.gui.review_queue import ARTEFACT_LEGEND
    from ketamon.gui.theme import colour

    ops.record_vitals(store, nurse, infusion_session, systolic=128, diastolic=80, heart_rate=70)
    spike = ops.record_vitals(store, nurse, infusion_session, systolic=212, diastolic=96, heart_rate=74,
                              source="device", measured_at=clock.now() + timedelta(seconds=1)).result
    clock.advance(minutes=1)
    ops.mark_device_artefact(store, nurse, spike, "cuff squeezed while the patient moved")
    q = queue()
    q.show_filter.setCurrentIndex(2)  # all
    [row] = [r for r in range(q.table.rowCount()) if q.table.item(r, 3).text().startswith("BP 212/96")]
    q.table.selectRow(row)

    [line] = [t for t in q.readings_text() if "212/96" in t]
    assert line.startswith(f"{q.readings.item(1, 0).text()} Artefact, not in force: BP 212/96")
    assert "cuff squeezed while the patient moved (marked by Sam Carter RN at" in line and "◀ finding" in line
    assert q.readings.item(1, 1).foreground().color().name() == colour("superseded")  # greyed, as in the log
    assert q.readings.item(0, 1).foreground().style() == Qt.BrushStyle.NoBrush  # the set in force as before
    # the readings in force as before; the artefact's values only in its own hollow series
    assert q.plot.series("sys") == [128.0] and q.plot.series("hr") == [70.0]
    assert sorted(q.plot.series("artefact")) == [74.0, 96.0, 212.0]
    assert q.plot.artefact.opts["symbolBrush"] is None and q.plot.artefact.opts["pen"] is None
    assert [label.text for _sample, label in q.plot.legend.items][-1] == ARTEFACT_LEGEND
    assert q.plot.viewRange()[1][1] > 212  # in view
    q.table.clearSelection()
    assert q.plot.series("artefact") == [] and ARTEFACT_LEGEND not in [lab.text for _s, lab in q.plot.legend.items]
