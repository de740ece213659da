"""The sign-in dialog, first run, the forced password change and switching user,
driven through the real dialogs as a person at the workstation would."""
from __future__ import annotations

import argparse

import pytest
from argon2 import PasswordHasher
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLabel
from sqlalchemy import select

from ketamon.core import ops, passwords
from ketamon.core.auth import AuthPolicy, needs_first_admin
from ketamon.core.demo import ensure_demo_users
from ketamon.core.models import AuditEntry, VitalSigns
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner
from ketamon.gui.signin import (
    ChangePasswordDialog,
    FirstAdminDialog,
    SignInDialog,
    sign_in_at_start,
    switch_user,
)

POLICY = AuthPolicy(max_failed_attempts=3, lockout_minutes=15, idle_lock_minutes=10)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def lan(store, actors):
    ops.add_user(store, actors["admin"], username="lan", display_name="Lan Tran RN", role="nurse",
                 password="Lan-pass-2026")
    return "lan"


def actions(store, *names):
    with store.read() as db:
        return [(r.action, r.username) for r in db.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(names)).order_by(AuditEntry.id))]


def when_modal(cls, act, seen: list):
    """Answer the next modal dialog of `cls` once it shows (the code under test is
    inside exec()). Gives up after ~3 s, closing whatever is modal, so a test fails
    instead of hanging."""
    tries = [0]

    def poll():
        w = QApplication.activeModalWidget()
        if isinstance(w, cls) and w.isVisible():
            seen.append(w)
            act(w)
            return
        tries[0] += 1
        if tries[0] > 300:
            if w is not None:
                w.close()
            return
        QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_wrong_password_says_so_keeps_the_name_and_empties_the_password(qtbot, store, lan):
    dialog = SignInDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "lan")
    qtbot.keyClicks(dialog.password, "Lan-pass-2025")
    click(qtbot, dialog.sign_in_button)
    assert dialog.isVisible() and dialog.signed_in is None
    assert dialog.problem.isVisible() and dialog.problem.text() == "Wrong user name or password."
    assert dialog.username.text() == "lan" and dialog.password.text() == ""
    assert dialog.password.echoMode() == dialog.password.EchoMode.Password
    qtbot.keyClicks(dialog.password, "Lan-pass-2026")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.signed_in.actor.display_name == "Lan Tran RN"
    assert dialog.password.text() == ""  # nothing secret left in the widget
    assert actions(store, "sign_in_failed", "sign_in") == [("sign_in_failed", "lan"), ("sign_in", "lan")]


def test_the_dialog_tells_when_the_account_is_locked_out(qtbot, store, lan):
    dialog = SignInDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "lan")
    for _ in range(3):
        qtbot.keyClicks(dialog.password, "guess-guess")
        qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert "locked after too many wrong passwords" in dialog.problem.text()
    assert "ask an administrator" in dialog.problem.text()
    qtbot.keyClicks(dialog.password, "Lan-pass-2026")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert dialog.signed_in is None and "locked" in dialog.problem.text()


def test_empty_fields_are_pointed_out_without_an_attempt(qtbot, store, lan):
    dialog = SignInDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    click(qtbot, dialog.sign_in_button)
    assert dialog.problem.text() == "Enter your user name."
    qtbot.keyClicks(dialog.username, "lan")
    click(qtbot, dialog.sign_in_button)
    assert dialog.problem.text() == "Enter your password."
    assert actions(store, "sign_in_failed") == []


def test_first_run_asks_for_the_administrator(qtbot, store):
    assert needs_first_admin(store)
    dialog = FirstAdminDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.display_name, "Jordan Lee")
    qtbot.keyClicks(dialog.username, "jlee")
    qtbot.keyClicks(dialog.password, "Jordan-2026!")
    qtbot.keyClicks(dialog.repeat, "Jordan-2062!")
    click(qtbot, dialog.create_button)
    assert "differ" in dialog.problem.text() and needs_first_admin(store)
    qtbot.keyClicks(dialog.repeat, "Jordan-2026!")
    click(qtbot, dialog.create_button)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.signed_in.actor.role == "admin" and dialog.signed_in.actor.display_name == "Jordan Lee"
    assert not needs_first_admin(store)
    assert actions(store, "create", "sign_in") == [("create", "jlee"), ("sign_in", "jlee")]


def test_first_run_refuses_a_short_password_with_the_rule(qtbot, store):
    dialog = FirstAdminDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.display_name, "Jordan Lee")
    qtbot.keyClicks(dialog.username, "jlee")
    qtbot.keyClicks(dialog.password, "short")
    qtbot.keyClicks(dialog.repeat, "short")
    click(qtbot, dialog.create_button)
    assert "at least 8 characters" in dialog.problem.text() and needs_first_admin(store)


def test_start_shows_first_run_on_an_empty_database(qtbot, store):
    seen: list = []

    def fill(d):
        qtbot.keyClicks(d.display_name, "Jordan Lee")
        qtbot.keyClicks(d.username, "jlee")
        qtbot.keyClicks(d.password, "Jordan-2026!")
        qtbot.keyClicks(d.repeat, "Jordan-2026!")
        click(qtbot, d.create_button)

    when_modal(FirstAdminDialog, fill, seen)
    actor = sign_in_at_start(store, policy=POLICY)
    assert seen and actor is not None and actor.username == "jlee"


def test_demo_start_is_prefilled_but_still_a_real_sign_in(qtbot, store):
    ensure_demo_users(store)
    seen: list = []
    hint: list = []

    def press_enter(d):
        hint.append(d.findChild(QLabel, "signInHint").text())
        assert (d.username.text(), d.password.text()) == ("nurse", "nurse-demo")
        qtbot.keyClick(d.password, Qt.Key.Key_Return)

    when_modal(SignInDialog, press_enter, seen)
    actor = sign_in_at_start(store, demo=True, policy=POLICY)
    assert seen and "nurse / nurse-demo" in hint[0]
    assert actor.username == "nurse" and actor.role == "nurse"
    assert actions(store, "sign_in") == [("sign_in", "nurse")]


def test_cancelling_at_start_signs_nobody_in(qtbot, store, lan):
    seen: list = []
    when_modal(SignInDialog, lambda d: click(qtbot, d.cancel_button), seen)
    assert sign_in_at_start(store, policy=POLICY) is None and seen
    assert actions(store, "sign_in") == []


def test_after_a_reset_the_user_chooses_a_new_password_first(qtbot, store, lan, actors):
    ops.reset_password(store, actors["admin"], "lan", "Temporary-2026")
    seen: list = []

    def choose(d):
        qtbot.keyClicks(d.new, "Lan-own-2027")
        qtbot.keyClicks(d.repeat, "Lan-own-2027")
        click(qtbot, d.ok_button)

    when_modal(ChangePasswordDialog, choose, seen)
    dialog = SignInDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "lan")
    qtbot.keyClicks(dialog.password, "Temporary-2026")
    click(qtbot, dialog.sign_in_button)
    assert seen and not seen[0].current.isVisible()  # the temporary password is not asked twice
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert ops.sign_in(store, "lan", "Lan-own-2027", policy=POLICY).must_change_password is False


def test_declining_the_new_password_leaves_nobody_signed_in(qtbot, store, lan, actors):
    ops.reset_password(store, actors["admin"], "lan", "Temporary-2026")
    seen: list = []
    when_modal(ChangePasswordDialog, lambda d: click(qtbot, d.cancel_button), seen)
    dialog = SignInDialog(store, policy=POLICY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "lan")
    qtbot.keyClicks(dialog.password, "Temporary-2026")
    click(qtbot, dialog.sign_in_button)
    assert dialog.signed_in is None and dialog.isVisible()
    assert "new password is needed" in dialog.problem.text()
    assert actions(store, "sign_in", "sign_out")[-2:] == [("sign_in", "lan"), ("sign_out", "lan")]


def test_switch_user_from_the_main_window_keeps_the_chart_and_records_the_new_user(
        qtbot, store, lan, actors, esketamine_session):
    ops.add_user(store, actors["admin"], username="kim", display_name="Kim Lee RN", role="nurse",
                 password="Kim-pass-2026")
    runner = OpRunner(store, ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor)
    window = MainWindow(runner, policy=POLICY)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.show()
    chart = window.open_session(esketamine_session)
    idle = window.idle_lock
    try:
        row = chart.vitals_row
        qtbot.keyClicks(row.fields["systolic"], "131")
        qtbot.keyClicks(row.fields["diastolic"], "84")
        seen: list = []

        def sign_in_as_kim(d):
            assert "Lan Tran RN (Nurse) is signed in" in d.findChild(QLabel, "signInIntro").text()
            qtbot.keyClicks(d.username, "kim")
            qtbot.keyClicks(d.password, "Kim-pass-2026")
            click(qtbot, d.sign_in_button)

        when_modal(SignInDialog, sign_in_as_kim, seen)
        click(qtbot, window.switch_user_button)
        assert seen and runner.actor.username == "kim"
        assert window.status_user.text().startswith("Kim Lee RN")
        assert (row.fields["systolic"].text(), row.fields["diastolic"].text()) == ("131", "84")
        qtbot.keyClick(row.fields["diastolic"], Qt.Key.Key_Return)
        with store.read() as db:
            (v,) = db.scalars(select(VitalSigns)).all()
            assert (v.systolic, v.entered_by.username) == (131, "kim")
        assert actions(store, "sign_in", "sign_out")[-2:] == [("sign_in", "kim"), ("sign_out", "lan")]
    finally:
        idle.uninstall()


def test_cancelled_switch_keeps_the_user(qtbot, store, lan):
    runner = OpRunner(store, ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor)
    seen: list = []
    when_modal(SignInDialog, lambda d: click(qtbot, d.cancel_button), seen)
    assert switch_user(runner, policy=POLICY) is None and seen
    assert runner.actor.username == "lan" and actions(store, "sign_out") == []


def test_screenshot_mode_acts_as_the_demo_nurse_without_a_dialog(store):
    from ketamon.gui.app import choose_actor

    ensure_demo_users(store)
    args = argparse.Namespace(demo=True, screenshot="/tmp/x.png", db=None)
    actor = choose_actor(store, args)
    assert actor is not None and (actor.username, actor.role) == ("nurse", "nurse")
    assert QApplication.activeModalWidget() is None


def test_starting_the_app_asks_who_is_there(qtbot, store, lan):
    from ketamon.gui.app import choose_actor

    seen: list = []

    def sign_in(d):
        qtbot.keyClicks(d.username, "lan")
        qtbot.keyClicks(d.password, "Lan-pass-2026")
        click(qtbot, d.sign_in_button)

    when_modal(SignInDialog, sign_in, seen)
    actor = choose_actor(store, argparse.Namespace(demo=False, screenshot=None, db=None))
    assert seen and actor.username == "lan"
    assert actions(store, "sign_in") == [("sign_in", "lan")]
