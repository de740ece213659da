"""The screen lock on the real main window and chart: a nurse half-way through a
vital-sign set walks away; the screen locks; nothing typed is lost; nothing
underneath can be reached; the same nurse (or a colleague) carries on."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import select

from ketamon.core import ops, passwords
from ketamon.core.auth import AuthPolicy
from ketamon.core.models import AuditEntry, VitalSigns
from ketamon.gui.lock import LOCKED_TITLE
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner

POLICY = AuthPolicy(max_failed_attempts=3, lockout_minutes=15, idle_lock_minutes=10)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def people(store, actors):
    admin = actors["admin"]
    ops.add_user(store, admin, username="lan", display_name="Lan Tran RN", role="nurse", password="Lan-pass-2026")
    ops.add_user(store, admin, username="kim", display_name="Kim Lee RN", role="nurse", password="Kim-pass-2026")
    return {name: ops.sign_in(store, name, pw, policy=POLICY).actor
            for name, pw in (("lan", "Lan-pass-2026"), ("kim", "Kim-pass-2026"))}


@pytest.fixture
def desk(qtbot, store, people, esketamine_session):
    """The main window with the session's chart open, Lan signed in, the idle lock on."""
    runner = OpRunner(store, people["lan"])
    window = MainWindow(runner, policy=POLICY)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    chart = window.open_session(esketamine_session)
    idle = window.idle_lock
    yield window, runner, chart, idle
    idle.uninstall()


def type_half_a_set(qtbot, row):
    qtbot.keyClicks(row.fields["systolic"], "128")
    qtbot.keyClicks(row.fields["diastolic"], "82")
    qtbot.keyClicks(row.fields["heart_rate"], "76")
    qtbot.keyClicks(row.comment, "restless, asked for blanket")
    row.fields["heart_rate"].setFocus()


def typed(row):
    return ([row.fields[f].text() for f in ("systolic", "diastolic", "heart_rate", "spo2")], row.comment.text())


def stored_vitals(store):
    with store.read() as db:
        return [(v.systolic, v.diastolic, v.heart_rate, v.entered_by.username)
                for v in db.scalars(select(VitalSigns).order_by(VitalSigns.id))]


def actions(store, *names):
    with store.read() as db:
        return [(r.action, r.username) for r in db.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(names)).order_by(AuditEntry.id))]


def enter(qtbot, widget, text):
    widget.clear()
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_idle_lock_covers_the_chart_and_keeps_what_was_typed(qtbot, desk, store, clock, tmp_path):
    window, runner, chart, idle = desk
    row = chart.vitals_row
    type_half_a_set(qtbot, row)
    before = typed(row)
    assert before == (["128", "82", "76", ""], "restless, asked for blanket")

    idle.timer.setInterval(10)  # the real timer, ticking fast; the clock says how long nobody typed
    clock.advance(minutes=9, seconds=59)
    qtbot.wait(30)
    assert not idle.locked
    clock.advance(seconds=1)
    qtbot.waitUntil(lambda: idle.locked, timeout=3000)

    cover = idle.interactive_cover
    assert cover.isVisible() and cover.geometry() == window.rect()
    assert window.windowTitle() == LOCKED_TITLE  # the title named the patient
    assert "Lan Tran RN (Nurse) is signed in" in cover.who.text()
    window.grab().save(str(tmp_path / "locked.png"))

    # nothing underneath can be reached: typing and Enter in the row do nothing
    qtbot.keyClicks(row.fields["systolic"], "9")
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    assert typed(row) == before and stored_vitals(store) == []

    enter(qtbot, cover.password, "Lan-pass-2025")
    assert idle.locked and cover.problem.text() == "Wrong password."
    assert cover.password.text() == ""
    enter(qtbot, cover.password, "Lan-pass-2026")
    assert not idle.locked

    assert typed(row) == before  # untouched
    assert "Nguyen" in window.windowTitle().title()
    assert QApplication.focusWidget() is row.fields["heart_rate"]  # back where she was
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    assert stored_vitals(store) == [(128, 82, 76, "lan")]
    assert actions(store, "screen_locked", "sign_in_failed", "unlock") == [
        ("screen_locked", "lan"), ("sign_in_failed", "lan"), ("unlock", "lan")]


def test_input_puts_the_idle_lock_off(qtbot, desk, clock):
    window, runner, chart, idle = desk
    clock.advance(minutes=6)
    qtbot.keyClicks(chart.vitals_row.fields["spo2"], "9")
    clock.advance(minutes=6)
    idle.check()
    assert not idle.locked  # 12 minutes since the start, but only 6 since she typed
    clock.advance(minutes=4)
    idle.check()
    assert idle.locked


def test_a_colleague_takes_over_at_the_lock_screen(qtbot, desk, store):
    window, runner, chart, idle = desk
    row = chart.vitals_row
    type_half_a_set(qtbot, row)
    before = typed(row)
    qtbot.mouseClick(window.lock_button, Qt.MouseButton.LeftButton)
    assert idle.locked
    cover = idle.interactive_cover
    qtbot.mouseClick(cover.switch_button, Qt.MouseButton.LeftButton)
    assert cover.username.isVisible() and cover.unlock_button.text() == "Sign in"
    qtbot.keyClicks(cover.username, "kim")
    enter(qtbot, cover.password, "Kim-pass-2026")

    assert not idle.locked
    assert runner.actor.username == "kim" and "Kim Lee RN" in window.status_user.text()
    assert typed(row) == before
    qtbot.keyClick(row.fields["heart_rate"], Qt.Key.Key_Return)
    assert stored_vitals(store) == [(128, 82, 76, "kim")]  # the chart records who is signed in now
    assert actions(store, "screen_locked", "sign_in", "sign_out")[-3:] == [
        ("screen_locked", "lan"), ("sign_in", "kim"), ("sign_out", "lan")]


def test_wrong_passwords_at_the_lock_screen_lock_the_account_out(qtbot, desk, store):
    window, runner, chart, idle = desk
    idle.lock()
    cover = idle.interactive_cover
    for _ in range(3):
        enter(qtbot, cover.password, "not-my-password")
    assert "locked after too many wrong passwords" in cover.problem.text()
    enter(qtbot, cover.password, "Lan-pass-2026")  # right, but too late: locked out
    assert idle.locked and "locked" in cover.problem.text()
    assert actions(store, "locked_out") == [("locked_out", "lan")]
    # a colleague can still take over the workstation
    qtbot.mouseClick(cover.switch_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(cover.username, "kim")
    enter(qtbot, cover.password, "Kim-pass-2026")
    assert not idle.locked and runner.actor.username == "kim"


def test_an_open_dialog_is_covered_and_keeps_its_input(qtbot, desk, store):
    window, runner, chart, idle = desk
    dialog = window.new_patient()
    qtbot.waitExposed(dialog)
    family = dialog.findChild(type(chart.vitals_row.comment), "familyName") or _first_line_edit(dialog)
    qtbot.keyClicks(family, "Okafor")
    idle.lock()
    hosts = {c.host: c.interactive for c in idle.covers}
    assert hosts == {window: False, dialog: True}  # the password is asked where input can go
    assert dialog.windowTitle() == LOCKED_TITLE
    qtbot.keyClicks(family, "XYZ")
    assert family.text() == "Okafor"
    enter(qtbot, idle.interactive_cover.password, "Lan-pass-2026")
    assert not idle.locked and dialog.isVisible() and family.text() == "Okafor"
    assert dialog.windowTitle() != LOCKED_TITLE


def test_a_box_that_pops_up_while_locked_is_covered_too(qtbot, desk):
    window, runner, chart, idle = desk
    idle.lock()
    box = QMessageBox(QMessageBox.Icon.Warning, "Alert", "NGUYEN, Lan: systolic 182", parent=window)
    box.open()
    qtbot.waitUntil(lambda: any(c.host is box for c in idle.covers), timeout=2000)
    assert box.windowTitle() == LOCKED_TITLE
    enter(qtbot, idle.interactive_cover.password, "Lan-pass-2026")
    assert not idle.locked and box.isVisible() and box.windowTitle() == "Alert"
    box.close()


def test_ctrl_l_locks_and_nothing_else_works_until_unlocked(qtbot, desk):
    window, runner, chart, idle = desk
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    chart.vitals_row.focus_first()
    qtbot.keyClick(chart.vitals_row.fields["systolic"], Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert idle.locked
    cover = idle.interactive_cover
    assert QApplication.focusWidget() is cover.password
    # Tab stays inside the cover
    for _ in range(6):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        assert cover.isAncestorOf(QApplication.focusWidget())


def test_no_idle_lock_when_switched_off(qtbot, desk, clock):
    window, runner, chart, idle = desk
    idle.minutes = 0
    clock.advance(hours=3)
    idle.check()
    assert not idle.locked


def _first_line_edit(dialog):
    from PySide6.QtWidgets import QLineEdit

    return dialog.findChildren(QLineEdit)[0]


def test_alarms_stay_announced_on_the_lock_screen_without_patient_data(qtbot, desk, store, clock,
                                                                        esketamine_session):
    window, runner, chart, idle = desk
    idle.lock()
    cover = idle.interactive_cover
    assert not cover.alarm.isVisible()  # nothing to announce yet
    # an out-of-range set arrives while the screen is locked (e.g. from a colleague's workstation)
    ops.record_vitals(store, runner.actor, esketamine_session, systolic=192, diastolic=104, heart_rate=88)
    qtbot.waitUntil(lambda: cover.alarm.isVisible(), timeout=3000)
    text = cover.alarm.text()
    assert "active alert" in text and "unlock or switch user" in text
    assert cover.alarm.property("role") in ("high", "medium")
    for private in ("Nguyen", "NGUYEN", "Lan", "MRN-1", "192"):
        assert private not in text
