"""`ketamon feed listen` and `ketamon feed simulate` against each other over
loopback, as clinic IT would run them (issue 11, "done when")."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import date

from sqlalchemy import select

from ketamon.core import ops, passwords
from ketamon.core.models import User, VitalSigns
from ketamon.core.store import Store
from tests.conftest import add_user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_listen_and_simulate_work_against_each_other(sqlite_url, tmp_path):
    store = Store(sqlite_url, run_migrations=False)  # the system clock: the simulator sends real times
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    with store.transaction() as db:
        db.add(User(username="feed", display_name="Monitor feed", role="service", active=True, failed_attempts=0,
                    password_hash=passwords.hash_password("feed-pass-2026"), created_at=store.clock.now()))
    pid = ops.create_patient(store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", chair="CHAIR3").result
    port = free_port()
    env = dict(os.environ, KETAMON_DATA_DIR=str(tmp_path))
    listen = subprocess.Popen([sys.executable, "-m", "ketamon", "--db", sqlite_url, "feed", "listen", "--port",
                               str(port), "--user", "feed", "--password-stdin"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        listen.stdin.write("feed-pass-2026\n")
        listen.stdin.flush()
        first = listen.stdout.readline()
        assert first.startswith(f"Listening for monitors on 127.0.0.1:{port}") and "Monitor feed" in first
        sim = subprocess.run([sys.executable, "-m", "ketamon", "feed", "simulate", "--to", f"127.0.0.1:{port}",
                              "--chair", "CHAIR3", "--patient", "MRN-1", "--count", "3", "--rate", "5",
                              "--nibp-every", "1"], capture_output=True, text=True, timeout=120, env=env)
        assert sim.returncode == 0, sim.stderr
        assert "message 1: CA" in sim.stdout and "3 message(s) acknowledged" in sim.stdout
    finally:
        listen.send_signal(signal.SIGINT)
        out, _err = listen.communicate(timeout=60)
    assert "Stopped after 3 message(s)" in out
    with store.read() as db:
        sets = list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == sid)))
    assert sets and all(v.source == "device" and v.systolic == 128 for v in sets)
    store.dispose()


def test_a_service_managers_sigterm_stops_the_listener_cleanly(sqlite_url, tmp_path):
    """Clinic IT runs `feed listen` as a service: SIGTERM stops it as Ctrl-C does,
    saying so, with exit status 0."""
    store = Store(sqlite_url, run_migrations=False)
    with store.transaction() as db:
        db.add(User(username="feed", display_name="Monitor feed", role="service", active=True, failed_attempts=0,
                    password_hash=passwords.hash_password("feed-pass-2026"), created_at=store.clock.now()))
    store.dispose()
    listen = subprocess.Popen([sys.executable, "-m", "ketamon", "--db", sqlite_url, "feed", "listen", "--port",
                               str(free_port()), "--user", "feed", "--password-stdin"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, KETAMON_DATA_DIR=str(tmp_path)))
    try:
        listen.stdin.write("feed-pass-2026\n")
        listen.stdin.flush()
        assert listen.stdout.readline().startswith("Listening for monitors")
    finally:
        listen.send_signal(signal.SIGTERM)
        out, err = listen.communicate(timeout=60)
    assert listen.returncode == 0, err
    assert "Stopped after 0 message(s)" in out


def test_simulate_says_what_is_wrong_with_its_address(capsys):
    from ketamon.cli import main

    assert main(["feed", "simulate", "--to", "nowhere", "--chair", "CHAIR3"]) == 1
    assert "give HOST:PORT" in capsys.readouterr().err
