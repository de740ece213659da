"""The administrator's Users page: add, reset, disable, enable, from the GUI; the
page is there only for someone who may manage users."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from PySide6.QtCore import Qt

from ketamon.core import ops, passwords
from ketamon.core.auth import AuthPolicy
from ketamon.core.errors import AuthenticationError
from ketamon.gui.main_window import MainWindow
from ketamon.gui.runner import OpRunner
from ketamon.gui.signin import take_over

POLICY = AuthPolicy(max_failed_attempts=3, lockout_minutes=15, idle_lock_minutes=10)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def admin_desk(qtbot, store, actors):
    runner = OpRunner(store, actors["admin"])
    window = MainWindow(runner, policy=POLICY)
    runner.setParent(window)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    yield window, runner, window.users_page
    window.idle_lock.uninstall()


def click(qtbot, w):
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton)


def test_an_administrator_adds_a_nurse_who_then_signs_in(qtbot, admin_desk, store, tmp_path):
    window, runner, page = admin_desk
    assert window.tabs.currentWidget() is page  # an administrator's work is here, not in a chart
    qtbot.keyClicks(page.new_name, "Lan Tran RN")
    qtbot.keyClicks(page.new_username, "ltran")
    page.new_role.setCurrentIndex(page.new_role.findData("nurse"))
    qtbot.keyClicks(page.new_password, "Welcome-2026")
    click(qtbot, page.add_button)
    assert "Nurse Lan Tran RN (ltran) added" in page.message.text()
    assert page.new_password.text() == "" and page.new_name.text() == ""
    assert ["ltran", "Lan Tran RN", "Nurse", "active, temporary password"] in page.rows()
    window.grab().save(str(tmp_path / "users.png"))
    signed = ops.sign_in(store, "ltran", "Welcome-2026", policy=POLICY)
    assert signed.actor.role == "nurse" and signed.must_change_password


def test_a_refused_account_says_why_and_keeps_what_was_typed(qtbot, admin_desk):
    window, runner, page = admin_desk
    qtbot.keyClicks(page.new_name, "Lan Tran RN")
    qtbot.keyClicks(page.new_username, "ltran")
    qtbot.keyClicks(page.new_password, "short")
    click(qtbot, page.add_button)
    assert page.message.is_refusal and "at least 8 characters" in page.message.text()
    assert page.new_name.text() == "Lan Tran RN" and page.new_username.text() == "ltran"
    assert page.new_password.text() == ""  # a password is never kept in a widget


def test_reset_lifts_a_lock_out_and_disable_stops_sign_in(qtbot, admin_desk, store, actors):
    window, runner, page = admin_desk
    ops.add_user(store, actors["admin"], username="kim", display_name="Kim Lee RN", role="nurse",
                 password="Kim-pass-2026")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            ops.sign_in(store, "kim", "guess-guess", policy=POLICY)
    page.reload()
    assert any(r[0] == "kim" and "locked out until" in r[3] for r in page.rows())
    assert page.select("kim")
    qtbot.keyClicks(page.reset_password, "Temporary-2026")
    click(qtbot, page.reset_button)
    assert "Password of kim reset" in page.message.text()
    assert ops.sign_in(store, "kim", "Temporary-2026", policy=POLICY).must_change_password
    page.select("kim")
    click(qtbot, page.disable_button)
    assert any(r[0] == "kim" and r[3].startswith("disabled") for r in page.rows())
    with pytest.raises(AuthenticationError, match="disabled"):
        ops.sign_in(store, "kim", "Temporary-2026", policy=POLICY)
    page.select("kim")
    click(qtbot, page.enable_button)
    assert any(r[0] == "kim" and r[3].startswith("active") for r in page.rows())


def test_the_page_is_hidden_from_everyone_else(qtbot, admin_desk, actors):
    window, runner, page = admin_desk
    index = window.tabs.indexOf(page)
    assert window.tabs.isTabVisible(index)
    take_over(runner, actors["nurse"], actors["admin"])
    assert not window.tabs.isTabVisible(index)
    take_over(runner, actors["admin"], actors["nurse"])
    assert window.tabs.isTabVisible(index)
