"""The command line never surprises (issue 13 point 4) and signs people in (issue 9
point 4): a command that reads a database never creates one and says which one it
looked for; every failure is one sentence on standard error and a non-zero exit,
never a traceback; `report` and `export` sign in as a named account with its
password; `--help` of every command shows a real example."""
from __future__ import annotations

import argparse
import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from ketamon.cli import build_parser, main
from ketamon.core import ops, passwords
from ketamon.core.errors import PermissionDenied
from ketamon.core.models import AuditEntry, User
from ketamon.core.store import Store
from records_data import full_session

ROOT = Path(__file__).resolve().parents[1]
CHOOSE = "Use --db FILE or KETAMON_DATABASE_URL, or --demo for the demo database."
DESK_PASSWORD = "desk-pass-2026"
SERVICE_PASSWORD = "exports-pass-2026"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data folder, not yet made: the default database would be in it."""
    folder = tmp_path / "data"
    monkeypatch.setenv("KETAMON_DATA_DIR", str(folder))
    monkeypatch.delenv("KETAMON_DATABASE_URL", raising=False)
    monkeypatch.delenv("KETAMON_USER", raising=False)
    return folder


@pytest.fixture
def charted(qapp, store, clock, actors, esketamine_session, data_dir):
    """A signed session; the front desk has a password; a service account `exports`."""
    full_session(store, clock, actors, esketamine_session)
    with store.transaction() as db:
        db.scalar(select(User).where(User.username == "desk")).password_hash = passwords.hash_password(DESK_PASSWORD)
        db.add(User(username="exports", display_name="Records export", role="service",
                    password_hash=passwords.hash_password(SERVICE_PASSWORD), active=True, failed_attempts=0,
                    created_at=clock.now()))
    return esketamine_session


def stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def audit(store, action: str) -> list[AuditEntry]:
    with store.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def run_ketamon(*argv: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "ketamon", *argv], capture_output=True, text=True,
                          env=full_env, input=input, timeout=120, cwd=ROOT)


# ---------------------------------------------------------------- no database is ever made by reading


@pytest.mark.parametrize("argv", [
    ["report", "1", "--pdf", "out.pdf", "--user", "desk", "--password-stdin"],
    ["export", "1", "--csv", "out.csv", "--user", "desk", "--password-stdin"],
    ["audit", "verify"],
    ["users", "list"],
])
def test_a_command_on_no_database_names_it_and_creates_nothing(data_dir, tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    stdin(monkeypatch, "desk-demo\n")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"No ketamon database at {data_dir / 'ketamon.sqlite3'}. {CHOOSE}"
    assert captured.out == ""
    assert not data_dir.exists()  # not even the folder
    assert list(tmp_path.iterdir()) == []  # no out.pdf, no data folder


def test_a_db_in_a_folder_that_does_not_exist_is_not_made(data_dir, tmp_path, capsys, monkeypatch):
    missing = tmp_path / "nonexistent" / "dir" / "x.sqlite3"
    stdin(monkeypatch, "desk-demo\n")
    assert main(["report", "1", "--pdf", str(tmp_path / "x.pdf"), "--db", str(missing), "--user", "desk",
                 "--password-stdin"]) == 2
    assert capsys.readouterr().err.strip() == f"No ketamon database at {missing}. {CHOOSE}"
    assert not (tmp_path / "nonexistent").exists() and not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize("content, reason", [
    (b"", "it is an empty file, not a ketamon database"),
    (b"this is a spreadsheet, honest" * 40, "it is not a ketamon database, or it is damaged"),
])
@pytest.mark.parametrize("verb", [["report", "1", "--pdf", "o.pdf"], ["export", "1", "--fhir", "o.json"]])
def test_a_bad_db_is_one_sentence_without_a_traceback(data_dir, tmp_path, content, reason, verb):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(content)
    out = run_ketamon("--db", str(bad), *verb, "--user", "desk", "--password-stdin", input="desk-demo\n",
                      env={"KETAMON_DATA_DIR": str(data_dir)})
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith(f"cannot open the database {bad}: {reason}")
    assert "Traceback" not in out.stderr and bad.read_bytes() == content
    assert not (ROOT / verb[-1]).exists()


def test_a_fault_is_a_sentence_and_its_traceback_goes_to_the_log(data_dir, sqlite_url, capsys, monkeypatch):
    from ketamon.commands import audit as audit_cmd

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(audit_cmd, "run_verify", broken)
    assert main(["--db", sqlite_url, "audit", "verify"]) == 70
    err = capsys.readouterr().err
    log = data_dir / "ketamon-command.log"
    assert err.strip() == f"ketamon audit failed because of a fault in ketamon (RuntimeError); the details are in {log}."
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()


# ---------------------------------------------------------------- signing in


def test_no_account_named_is_refused_with_how_to_name_one(charted, sqlite_url, tmp_path, capsys):
    assert main(["--db", sqlite_url, "report", str(charted), "--pdf", str(tmp_path / "s.pdf")]) == 1
    assert capsys.readouterr().err.strip() == "Name the account to sign in as with --user NAME or KETAMON_USER."
    assert not (tmp_path / "s.pdf").exists()


def test_no_password_and_no_terminal_is_refused(charted, sqlite_url, tmp_path, capsys, monkeypatch):
    stdin(monkeypatch, "")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", str(tmp_path / "v.csv"),
                 "--user", "desk"]) == 1
    assert "--password-stdin or --password-file FILE" in capsys.readouterr().err
    assert not (tmp_path / "v.csv").exists()


def test_a_password_typed_at_the_terminal(charted, store, sqlite_url, tmp_path, capsys, monkeypatch):
    import getpass

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or DESK_PASSWORD)
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", str(tmp_path / "v.csv"),
                 "--user", "desk"]) == 0
    assert asked == ["Password for desk: "]
    assert [r.username for r in audit(store, "export")] == ["desk"]


def test_a_wrong_password_is_refused_counted_and_audited(charted, store, sqlite_url, tmp_path, capsys,
                                                         monkeypatch):
    out = tmp_path / "v.csv"
    stdin(monkeypatch, "not-the-password\n")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", str(out), "--user", "desk",
                 "--password-stdin"]) == 1
    assert capsys.readouterr().err.strip() == "Wrong user name or password."
    assert not out.exists() and audit(store, "export") == []
    (failed,) = audit(store, "sign_in_failed")
    assert failed.username == "desk" and "wrong password (1 of 5)" in failed.detail
    with store.read() as db:
        assert db.scalar(select(User.failed_attempts).where(User.username == "desk")) == 1


def test_five_wrong_passwords_lock_the_account_as_in_the_app(charted, store, sqlite_url, tmp_path, capsys,
                                                            monkeypatch):
    for _ in range(5):
        stdin(monkeypatch, "not-the-password\n")
        main(["--db", sqlite_url, "export", str(charted), "--csv", "-", "--user", "desk", "--password-stdin"])
    stdin(monkeypatch, DESK_PASSWORD + "\n")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", "-", "--user", "desk",
                 "--password-stdin"]) == 1
    assert "is locked after too many wrong passwords" in capsys.readouterr().err
    assert len(audit(store, "locked_out")) == 1 and audit(store, "export") == []


def test_a_password_file_readable_by_its_owner_only_is_accepted(charted, store, sqlite_url, tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text(DESK_PASSWORD + "\n")
    secret.chmod(0o600)
    out = tmp_path / "b.json"
    assert main(["--db", sqlite_url, "export", str(charted), "--fhir", str(out), "--user", "desk",
                 "--password-file", str(secret)]) == 0
    assert out.stat().st_size > 0
    assert [r.username for r in audit(store, "export")] == ["desk"]
    assert [r.username for r in audit(store, "sign_in")] == ["desk"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_password_file_others_can_read_is_refused(charted, store, sqlite_url, tmp_path, capsys, mode):
    secret = tmp_path / "pw"
    secret.write_text(DESK_PASSWORD + "\n")
    secret.chmod(mode)
    out = tmp_path / "b.json"
    assert main(["--db", sqlite_url, "export", str(charted), "--fhir", str(out), "--user", "desk",
                 "--password-file", str(secret)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"The password file {secret} can be read by others (mode {mode:04o}); make it readable by its owner "
        f"only: chmod 600 {secret}")
    assert not out.exists() and audit(store, "sign_in") == [] and audit(store, "export") == []


def test_a_missing_password_file_is_named(charted, sqlite_url, tmp_path, capsys):
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", "-", "--user", "desk",
                 "--password-file", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip() == f"There is no password file {tmp_path / 'nope'}."


def test_a_reset_password_must_be_changed_first(charted, store, sqlite_url, tmp_path, capsys, monkeypatch,
                                                actors):
    with store.transaction() as db:
        db.scalar(select(User).where(User.username == "desk")).must_change_password = True
    stdin(monkeypatch, DESK_PASSWORD + "\n")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", str(tmp_path / "v.csv"), "--user", "desk",
                 "--password-stdin"]) == 1
    assert "was reset by an administrator: sign in to the app once" in capsys.readouterr().err
    assert not (tmp_path / "v.csv").exists() and audit(store, "export") == []


# ---------------------------------------------------------------- the service account


def test_the_service_account_exports_and_prints(charted, store, sqlite_url, tmp_path, capsys, monkeypatch):
    stdin(monkeypatch, SERVICE_PASSWORD + "\n")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", str(tmp_path / "v.csv"),
                 "--user", "exports", "--password-stdin"]) == 0
    stdin(monkeypatch, SERVICE_PASSWORD + "\n")
    assert main(["--db", sqlite_url, "report", str(charted), "--pdf", str(tmp_path / "s.pdf"),
                 "--user", "exports", "--password-stdin"]) == 0
    assert [r.username for r in audit(store, "export")] == ["exports"]
    assert [r.username for r in audit(store, "print")] == ["exports"]


def test_the_service_account_cannot_chart(charted, store, esketamine_session, monkeypatch):
    signed = ops.sign_in(store, "exports", SERVICE_PASSWORD)
    with pytest.raises(PermissionDenied, match=r"Records export \(Service account\) may not chart"):
        ops.record_vitals(store, signed.actor, esketamine_session, systolic=120, diastolic=80, heart_rate=70)


def test_the_service_account_cannot_sign_in_to_the_app(qtbot, charted, store):
    from ketamon.gui.signin import SignInDialog

    dialog = SignInDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "exports")
    qtbot.keyClicks(dialog.password, SERVICE_PASSWORD)
    dialog.sign_in_button.click()
    assert dialog.signed_in is None and dialog.isVisible()
    assert "exports is a service account" in dialog.problem.text() and "cannot sign in to the app" in \
        dialog.problem.text()
    assert dialog.password.text() == ""
    assert [r.detail for r in audit(store, "sign_out")] and "service account" in audit(store, "sign_out")[0].detail


def test_an_administrator_adds_a_service_account(sqlite_url, capsys, monkeypatch, data_dir):
    stdin(monkeypatch, "Export-pass-2026\n")
    assert main(["--db", sqlite_url, "users", "add", "exports", "--role", "service", "--name", "Records export",
                 "--password-stdin"]) == 0
    assert "Service account Records export (exports) added" in capsys.readouterr().out
    assert main(["--db", sqlite_url, "users", "list"]) == 0
    assert any(line.startswith("exports") and "Service account" in line
               for line in capsys.readouterr().out.splitlines())


# ---------------------------------------------------------------- the demo, signed in the same way


def test_the_demo_signs_in_with_its_documented_password(data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.pdf"
    stdin(monkeypatch, "desk-demo\n")
    assert main(["--demo", "report", "1", "--user", "desk", "--password-stdin", "--pdf", str(out)]) == 0
    assert out.stat().st_size > 0 and (data_dir / "demo.sqlite3").exists()
    stdin(monkeypatch, "nurse-demo\n")
    assert main(["--demo", "export", "1", "--user", "desk", "--password-stdin", "--csv", "-"]) == 1
    assert "Wrong user name or password" in capsys.readouterr().err
    assert main(["--demo", "report", "1", "--pdf", str(tmp_path / "x.pdf")]) == 1
    assert "(the demo's front desk: --user desk, password desk-demo)" in capsys.readouterr().err


# ---------------------------------------------------------------- --help shows a real example


def _parsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, path + (name,))


PARSERS = list(_parsers(build_parser()))


def _examples(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    return [line.strip() for line in epilog.splitlines()
            if line.strip().startswith("ketamon ") or "| ketamon " in line]


@pytest.mark.parametrize("path, parser", PARSERS, ids=[" ".join(p) or "ketamon" for p, _ in PARSERS])
def test_every_help_shows_an_example_that_parses(path, parser, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*path, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    examples = _examples(parser)
    assert examples, f"`ketamon {' '.join(path)} --help` shows no example"
    for line in examples:
        assert line in shown
        command = line.split("#")[0].split("|")[-1].split("<")[0]
        words = shlex.split(command)
        assert words[0] == "ketamon"
        args = build_parser().parse_args(words[1:])  # SystemExit (a failed test) if it no longer parses
        if path:
            assert args.command == path[0], f"the example of `{' '.join(path)}` runs another command"
