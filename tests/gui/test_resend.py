"""Issue 12, point 4: an entry typed while the clinic database cannot be reached
stays on screen marked "not saved yet", is sent by itself when the database
answers, and is stored once — also when the connection dropped during its commit
(the server committed, the workstation never heard so)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from ketamon.core.models import Note, SideEffect, VitalSigns
from ketamon.core.store import Store
from ketamon.gui.runner import PENDING
from tests.gui.test_two_workstations import clinic, press_enter, type_vitals, workstation  # noqa: F401 (fixture)
from tests.test_entry_keys import CommitCutRelay


def rows(store: Store, model) -> int:
    with store.transaction() as db:
        return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def through_relay(pg_database, clock):
    """A workstation's store that reaches the database through a relay the test can cut."""
    relay = CommitCutRelay()
    store = Store(relay.url(pg_database), clock=clock, run_migrations=False)
    store.origin = "chair-3:test"
    yield relay, store
    relay.close()
    store.dispose()


@pytest.mark.postgres
def test_a_set_typed_while_the_database_is_away_is_sent_when_it_answers_and_saved_once(
        qtbot, pg_store, clinic, through_relay):
    relay, store = through_relay
    sid = clinic["session"]
    w = workstation(qtbot, store, clinic["nurse2"], sid)
    chart = w.charts[sid]
    row = chart.vitals_row
    relay.cut()
    qtbot.waitUntil(lambda: w.live.banner.isVisible(), timeout=10_000)

    type_vitals(qtbot, chart, systolic=128, diastolic=82)
    press_enter(qtbot, chart)
    assert row.message.text() == PENDING
    assert row.fields["systolic"].text() == "128" and row.fields["diastolic"].text() == "82"  # kept on screen
    assert chart.plot.series("systolic")[1] == []  # never shown as saved
    press_enter(qtbot, chart)  # the nurse presses Enter again: still one entry waiting
    assert row.message.text() == PENDING and len(w.runner.pending) == 1
    chart.event_log.note.setText("Patient asleep")
    qtbot.keyClick(chart.event_log.note, Qt.Key.Key_Return)
    assert chart.event_log.message.text() == PENDING
    assert chart.event_log.note.text() == "Patient asleep"

    relay.restore()
    qtbot.waitUntil(lambda: row.message.text().startswith("✓ Vital signs saved"), timeout=20_000)
    assert row.fields["systolic"].text() == ""  # cleared only now that it is committed
    qtbot.waitUntil(lambda: chart.plot.series("systolic")[1] == [128.0], timeout=5000)
    qtbot.waitUntil(lambda: chart.event_log.message.text() == "✓ Note saved", timeout=5000)
    assert chart.event_log.note.text() == ""
    assert (rows(pg_store, VitalSigns), rows(pg_store, Note)) == (1, 1)
    assert not w.runner.pending and not w.live.banner.isVisible()


@pytest.mark.postgres
def test_a_set_whose_commit_lost_its_answer_is_sent_again_and_stays_one_set(
        qtbot, pg_store, clinic, through_relay):
    relay, store = through_relay
    sid = clinic["session"]
    w = workstation(qtbot, store, clinic["nurse2"], sid)
    chart = w.charts[sid]
    type_vitals(qtbot, chart, systolic=131, diastolic=79)
    relay.armed = True  # the network goes right after the COMMIT reaches the server
    press_enter(qtbot, chart)
    assert chart.vitals_row.message.text() == PENDING  # the workstation cannot know it was saved
    assert rows(pg_store, VitalSigns) == 1  # the server has it

    relay.restore()
    qtbot.waitUntil(lambda: chart.vitals_row.message.text().startswith("✓ Vital signs saved"), timeout=20_000)
    qtbot.waitUntil(lambda: chart.plot.series("systolic")[1] == [131.0], timeout=5000)
    assert rows(pg_store, VitalSigns) == 1  # sent again with its key: not charted twice


@pytest.mark.postgres
def test_a_score_pressed_while_the_database_is_away_is_recorded_once_when_it_answers(
        qtbot, pg_store, clinic, through_relay):
    relay, store = through_relay
    sid = clinic["session"]
    w = workstation(qtbot, store, clinic["nurse2"], sid)
    panel = w.charts[sid].side_effects
    relay.cut()
    qtbot.waitUntil(lambda: w.live.banner.isVisible(), timeout=10_000)
    qtbot.mouseClick(panel.score_buttons["nausea"][3], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.score_buttons["nausea"][3], Qt.MouseButton.LeftButton)  # pressed again: waits once
    assert panel.message.text() == PENDING and len(w.runner.pending) == 1

    relay.restore()
    qtbot.waitUntil(lambda: panel.message.text().startswith("✓ Nausea recorded"), timeout=20_000)
    assert rows(pg_store, SideEffect) == 1


@pytest.mark.postgres
def test_a_waiting_entry_stays_the_nurses_who_typed_it_when_another_user_signs_in(
        qtbot, pg_store, clinic, through_relay):
    from ketamon.core import ops
    from ketamon.gui.live_bridge import LiveBridge
    from ketamon.gui.runner import OpRunner

    relay, store = through_relay
    runner = OpRunner(store, clinic["nurse2"])
    bridge = LiveBridge(runner)  # its listener not started: the retry after the refusal brings the database back
    try:
        relay.cut()
        assert runner.send(ops.add_note, clinic["session"], "Typed by Ada during the outage") is None
        assert runner.last_refusal == PENDING and len(runner.pending) == 1
        runner.set_actor(clinic["nurse"])  # Sam signs in at the same workstation
        relay.restore()
        qtbot.waitUntil(lambda: runner.reachable and not runner.pending, timeout=15_000)
        with pg_store.transaction() as db:
            note = db.scalar(select(Note))
            assert (note.text, note.entered_by_id) == ("Typed by Ada during the outage", clinic["nurse2"].user_id)
    finally:
        bridge.stop()
        bridge.banner.deleteLater()
        bridge.deleteLater()
        runner.deleteLater()


@pytest.mark.postgres
def test_an_entry_waiting_when_the_workstation_stops_is_sent_when_it_starts_again(
        qtbot, pg_store, clinic, through_relay):
    import stat

    from ketamon.core import ops
    from ketamon.gui.pending_journal import journal_path
    from ketamon.gui.runner import OpRunner

    relay, store = through_relay
    crashed = OpRunner(store, clinic["nurse2"])
    relay.cut()
    assert crashed.send(ops.add_note, clinic["session"], "Typed before the crash") is None
    stem = journal_path(store.url)
    [path] = stem.parent.glob(f"{stem.name}-*.json")  # one waiting entry, one file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # clinical values: this user only
    crashed.deleteLater()  # the window goes without the database ever answering

    relay.restore()
    restarted = OpRunner(store, clinic["nurse"])  # the next start, another nurse signed in
    try:
        qtbot.waitUntil(lambda: not restarted.pending, timeout=10_000)
        with pg_store.transaction() as db:
            notes = db.scalars(select(Note)).all()
            assert [(n.text, n.entered_by_id) for n in notes] == [("Typed before the crash",
                                                                   clinic["nurse2"].user_id)]
        assert not path.exists()  # nothing left waiting
    finally:
        restarted.deleteLater()
