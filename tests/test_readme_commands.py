"""Every `ketamon …` command in README.md's fenced blocks works as written (issue 13
point 5).

Each line is run by bash in its own process, at a pseudo-terminal (so that "asks
for the password" is tested the way a person meets it: the test types the answer
when the prompt shows), on its own copy of a prepared demo database, and must
exit 0 without a traceback. Lines that start the app (no sub-command) are only
parsed: a window cannot be driven from here, and tests/test_startup.py starts it.

The README's placeholders stand for real values of the prepared database:

    SESSION  the demo's signed session of last week (`ids["signed"]` of demo.seed)
    NAME     `lan`, a new account, in `users add`; `former`, a disabled nurse, in
             `users enable`; otherwise `desk`, the demo front desk
    FILE     a file only its owner can read, holding NAME's password

`users add NAME --role admin` is run where there is no database yet (it makes the
clinic's database); every other line runs with KETAMON_DATABASE_URL set to the
prepared copy, and with KETAMON_DATA_DIR holding the same data as the demo.
"""
from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ketamon.cli import build_parser
from ketamon.core import passwords
from ketamon.core.demo import DEMO_USERS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

NEW_PASSWORD = "readme-pass-2026"
#: the password each account has, and what the test types for a new one
PASSWORDS = {username: password for username, _name, _role, password in DEMO_USERS} | {
    "lan": NEW_PASSWORD, "former": "former-pass-2026"}
#: prompt shown → what a person types (NAME's password is filled in per line)
PROMPTS = {"New password: ": NEW_PASSWORD, "Same password again: ": NEW_PASSWORD,
           "Name on the chart for lan": "Lan Tran RN"}


def readme_commands() -> list[str]:
    """The `ketamon` lines of every fenced block but the Python ones, comments cut."""
    text = README.read_text()
    lines = []
    for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if lang == "python":
            continue
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            words = command.split()
            if "ketamon" in words and words[0] not in ("make",):
                lines.append(command)
    return lines


COMMANDS = readme_commands()


def test_the_readme_has_the_command_examples():
    assert any(c.startswith("ketamon report SESSION") for c in COMMANDS)
    assert any(c.startswith("ketamon users add NAME --role nurse") for c in COMMANDS)
    assert any("--demo" in c for c in COMMANDS) and any(c.startswith("ketamon export") for c in COMMANDS)


def name_for(command: str) -> str:
    if " users add NAME" in command:
        return "lan"
    if " users enable NAME" in command:
        return "former"
    return "desk"


def starts_the_app(command: str) -> bool:
    """Parses the ketamon part of the line (SystemExit, a failure, if it does not parse)."""
    segment = next(part for part in command.split("|") if "ketamon" in part.split())
    words = shlex.split(segment.split("<")[0])
    words = words[words.index("ketamon") + 1:]
    return build_parser().parse_args(words).command is None


@pytest.fixture(scope="module")
def prepared(sqlite_template, tmp_path_factory):
    """A seeded demo database with one disabled account (the `ketamon` shim runs this worktree's code)."""
    from sqlalchemy import select

    from ketamon.core.demo import open_demo
    from ketamon.core.models import Session, User

    folder = tmp_path_factory.mktemp("readme")
    db = folder / "prepared.sqlite3"
    shutil.copy(sqlite_template, db)
    real = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        store = open_demo(f"sqlite:///{db}")
        with store.transaction() as s:
            s.add(User(username="former", display_name="Former Nurse", role="nurse",
                       password_hash=passwords.hash_password(PASSWORDS["former"]), active=False,
                       failed_attempts=0, created_at=store.clock.now()))
        with store.read() as s:
            signed = s.scalar(select(Session.id).where(Session.state == "signed").order_by(Session.id))
        store.dispose()
    finally:
        passwords._hasher = real
    assert signed is not None
    shim = folder / "bin" / "ketamon"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m ketamon \"$@\"\n")
    shim.chmod(0o755)
    return {"db": db, "bin": shim.parent, "session": signed}


def at_a_terminal(command: str, env: dict, cwd: Path, answers: dict[str, str],
                  timeout: float = 180) -> tuple[int, str]:
    """Run `command` with bash at a pseudo-terminal; type each answer when its prompt shows."""
    master, slave = os.openpty()
    proc = subprocess.Popen(["bash", "-c", command], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen, handled = b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process let go of the terminal
                break
            if not chunk:
                break
            seen += chunk
            text = seen.decode(errors="replace")
            while True:
                found = [(text.find(p, handled), p) for p in answers if text.find(p, handled) >= 0]
                if not found:
                    break
                at, prompt = min(found)
                os.write(master, (answers[prompt] + "\n").encode())
                handled = at + len(prompt)
        else:
            proc.kill()
            pytest.fail(f"`{command}` did not finish within {timeout} s:\n{seen.decode(errors='replace')}")
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        os.close(master)


@pytest.mark.parametrize("command", COMMANDS)
def test_the_readme_command_works_as_written(command, prepared, tmp_path):
    name = name_for(command)
    password = PASSWORDS[name] if name != "lan" else NEW_PASSWORD
    secret = tmp_path / "password.txt"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    real = (command.replace("SESSION", str(prepared["session"])).replace("NAME", name)
            .replace("FILE", shlex.quote(str(secret))))
    if starts_the_app(real):
        return  # it parses, and it opens the window: tests/test_startup.py starts the app
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    shutil.copy(prepared["db"], data / "demo.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETAMON_")}
    env |= {"PATH": f"{prepared['bin']}{os.pathsep}{env.get('PATH', '')}", "KETAMON_DATA_DIR": str(data),
            "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    if " --role admin" in command:
        clinic = tmp_path / "new" / "clinic.sqlite3"
        env["KETAMON_DATABASE_URL"] = str(clinic)
    else:
        clinic = tmp_path / "clinic.sqlite3"
        shutil.copy(prepared["db"], clinic)
        env["KETAMON_DATABASE_URL"] = str(clinic)
    work = tmp_path / "work"
    work.mkdir()
    demo_password = next((PASSWORDS[u] for u in PASSWORDS if f"--user {u}" in real), password)
    answers = PROMPTS | {f"Password for {name}: ": demo_password if "--demo" in real else password}
    status, shown = at_a_terminal(real, env, work, answers)
    assert status == 0, f"README: `{command}` (run as `{real}`) failed:\n{shown}"
    assert "Traceback" not in shown
    for output in re.findall(r"(?:--pdf|--fhir|--csv|--form-json) (\S+)", real):
        if output != "-":
            assert (work / output).stat().st_size > 0, f"`{command}` wrote no {output}"
    if " --role admin" in command:
        assert clinic.exists()
