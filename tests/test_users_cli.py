"""`ketamon users ...` as an administrator at the server would use it."""
from __future__ import annotations

import getpass
import io
import sys

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from ketamon.cli import main
from ketamon.core import ops, passwords
from ketamon.core.errors import AuthenticationError
from ketamon.core.models import AuditEntry, User
from ketamon.core.store import Store


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def db(sqlite_url):
    return sqlite_url


class Terminal(io.StringIO):
    """Standard input as a person at a terminal: what they type, and isatty()."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    def typed(*lines: str) -> None:
        monkeypatch.setattr(sys, "stdin", Terminal("".join(line + "\n" for line in lines)))
    typed()
    return typed


def run(db, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["--db", db, "users", *argv])


def open_store(db, clock):
    return Store(db, clock=clock, run_migrations=False)


def audit(db, clock, *actions):
    s = open_store(db, clock)
    try:
        with s.read() as rdb:
            return list(rdb.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)))
    finally:
        s.dispose()


def test_first_admin_then_accounts_with_the_operator_in_the_audit(db, clock, capsys, monkeypatch):
    monkeypatch.setattr(getpass, "getuser", lambda: "itdesk")
    assert run(db, "add", "boss", "--name", "Clinic Manager", "--role", "admin", "--password-stdin",
               stdin="Boss-first-pw1\n", monkeypatch=monkeypatch) == 0
    assert "first account" in capsys.readouterr().out
    assert run(db, "add", "lan", "--name", "Lan Tran RN", "--role", "nurse", "--password-stdin",
               stdin="Lan-pass-2026\n", monkeypatch=monkeypatch) == 0
    assert "Nurse Lan Tran RN (lan) added" in capsys.readouterr().out
    rows = audit(db, clock, "create")
    assert [(r.username, r.after["username"]) for r in rows] == [("boss", "boss"), ("cli:itdesk", "lan")]
    s = open_store(db, clock)
    try:
        assert ops.sign_in(s, "lan", "Lan-pass-2026").actor.role == "nurse"
    finally:
        s.dispose()


def test_list_shows_roles_and_status_never_passwords(db, clock, capsys, monkeypatch):
    run(db, "add", "lan", "--name", "Lan Tran RN", "--role", "nurse", "--password", "Lan-pass-2026")
    run(db, "add", "desk", "--name", "Alex Morgan", "--role", "staff", "--password", "Desk-pass-2026")
    run(db, "disable", "desk", "--reason", "left the clinic")
    capsys.readouterr()
    assert run(db, "list") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["USER", "NAME", "ROLE", "STATUS"]
    assert any(line.startswith("lan ") and "Nurse" in line and line.rstrip().endswith("active") for line in lines)
    assert any(line.startswith("desk") and "Front desk" in line and "disabled" in line for line in lines)
    assert "Lan-pass-2026" not in out and "argon2" not in out


def test_reset_password_lifts_a_lock_out_and_asks_for_a_new_one(db, clock, capsys, monkeypatch, terminal):
    run(db, "add", "lan", "--name", "Lan Tran RN", "--role", "nurse", "--password", "Lan-pass-2026")
    s = Store(db, run_migrations=False)  # the real clock, like the command's
    try:
        for _ in range(5):
            with pytest.raises(AuthenticationError):
                ops.sign_in(s, "lan", "wrong-wrong")
    finally:
        s.dispose()
    run(db, "list")
    assert "locked until" in capsys.readouterr().out
    answers = iter(["Temporary-2026", "Temporary-2026"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert run(db, "reset-password", "lan") == 0
    assert "choose a new one at the next sign-in" in capsys.readouterr().out
    s = open_store(db, clock)
    try:
        signed = ops.sign_in(s, "lan", "Temporary-2026")
        assert signed.must_change_password
    finally:
        s.dispose()


def test_mistyped_confirmation_changes_nothing(db, clock, capsys, monkeypatch, terminal):
    answers = iter(["Lan-pass-2026", "Lan-pass-2062"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert run(db, "add", "lan", "--name", "Lan Tran RN", "--role", "nurse") == 1
    assert "differ" in capsys.readouterr().err
    s = open_store(db, clock)
    try:
        with s.read() as rdb:
            assert rdb.scalars(select(User)).all() == []
    finally:
        s.dispose()


def test_refusals_come_back_as_a_message_and_exit_status(db, capsys, monkeypatch):
    assert run(db, "add", "lan", "--name", "Lan", "--role", "nurse", "--password", "short") == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert run(db, "disable", "nobody") == 1
    assert "There is no user nobody" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(db, "add", "lan", "--name", "Lan", "--role", "surgeon")
    assert "invalid choice" in capsys.readouterr().err


def test_db_may_also_follow_the_subcommand(db, capsys):
    assert main(["users", "add", "lan", "--name", "Lan Tran RN", "--role", "nurse", "--password",
                 "Lan-pass-2026", "--db", db]) == 0
    assert main(["users", "list", "--db", db]) == 0
    assert "Lan Tran RN" in capsys.readouterr().out


def test_add_as_the_readme_writes_it_asks_for_the_name_at_a_terminal(db, clock, capsys, monkeypatch, terminal):
    """`ketamon users add NAME --role nurse`, as the README says: no --name needed."""
    terminal("Lan Tran RN")
    answers = iter(["Lan-pass-2026", "Lan-pass-2026"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert run(db, "add", "lan", "--role", "nurse") == 0
    assert "Nurse Lan Tran RN (lan) added" in capsys.readouterr().out


def test_add_from_a_script_without_a_name_keeps_the_sign_in_name(db, capsys, monkeypatch):
    assert run(db, "add", "exports", "--role", "service", "--password-stdin", stdin="Export-pass-2026\n",
               monkeypatch=monkeypatch) == 0
    assert "Service account exports (exports) added" in capsys.readouterr().out


def test_without_a_terminal_or_password_stdin_nothing_is_asked_and_nothing_added(db, clock, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(db, "add", "lan", "--role", "nurse") == 1
    assert "--password-stdin" in capsys.readouterr().err
    s = open_store(db, clock)
    try:
        with s.read() as rdb:
            assert rdb.scalars(select(User)).all() == []
    finally:
        s.dispose()


@pytest.mark.parametrize("argv", [["list"], ["disable", "lan"], ["enable", "lan"], ["add", "lan", "--role", "nurse",
                                                                                   "--password", "Lan-pass-2026"]])
def test_account_commands_never_create_a_database(tmp_path, capsys, argv):
    missing = tmp_path / "nowhere" / "clinic.sqlite3"
    assert main(["--db", str(missing), "users", *argv]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"No ketamon database at {missing}. Use --db FILE or KETAMON_DATABASE_URL, "
                           "or --demo for the demo database.")
    assert not missing.parent.exists()


def test_the_first_administrator_creates_the_clinic_database(tmp_path, capsys, monkeypatch):
    new = tmp_path / "clinic" / "clinic.sqlite3"
    monkeypatch.setattr(sys, "stdin", io.StringIO("Boss-first-pw1\n"))
    assert main(["--db", str(new), "users", "add", "boss", "--role", "admin", "--name", "Clinic Manager",
                 "--password-stdin"]) == 0
    assert "first account" in capsys.readouterr().out and new.exists()


def test_a_refused_first_administrator_leaves_no_database(tmp_path, capsys):
    new = tmp_path / "clinic" / "clinic.sqlite3"
    assert main(["--db", str(new), "users", "add", "boss", "--role", "admin", "--password", "short"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert not new.parent.exists()
