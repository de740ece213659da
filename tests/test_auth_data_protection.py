"""Protecting patient data at rest and in logs: the database file is its owner's
only, logs never carry a patient's name or MRN (even at DEBUG), passwords are
nowhere in clear, and a PostgreSQL URL keeps its TLS settings."""
from __future__ import annotations

import logging
import os
import stat
from datetime import date
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from ketamon.core import ops, passwords
from ketamon.core.chart import load_chart
from ketamon.core.errors import AuthenticationError
from ketamon.core.models import Patient
from ketamon.core.store import Store, data_dir, make_engine, normalise_url

PATIENT = dict(mrn="MRN-778899", family_name="Featherstonehaugh", given_name="Wilhelmina",
               birth_date=date(1975, 4, 3), sex="female", weight_kg=64.0)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path, clock, actors_free_store_factory):
    store = actors_free_store_factory(tmp_path / "clinic" / "ketamon.sqlite3")
    path = Path(make_url(store.url).database)
    assert mode(path) == 0o600
    # the write-ahead log and shared-memory files hold the newest data: same protection
    ops.create_first_admin(store, username="boss", display_name="Boss", password="first-admin-pw")
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    assert wal.exists() and mode(wal) == 0o600
    assert shm.exists() and mode(shm) == 0o600


def test_the_data_directory_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("KETAMON_DATA_DIR", str(tmp_path / "data"))
    assert mode(data_dir()) == 0o700


def test_postgresql_url_keeps_its_tls_settings():
    url = "postgresql://ketamon:s3cret@db.clinic.example/ketamon?sslmode=require&sslrootcert=/x"
    normal = make_url(normalise_url(url))
    assert normal.drivername == "postgresql+psycopg"
    assert normal.query["sslmode"] == "require" and normal.query["sslrootcert"] == "/x"
    assert normal.password == "s3cret"
    engine = make_engine(url)  # builds the engine without connecting
    try:
        assert engine.url.query == {"sslmode": "require", "sslrootcert": "/x"}
        assert not engine.echo and engine.hide_parameters
    finally:
        engine.dispose()


def _chart_a_session(store, actors, clock):
    nurse = actors["nurse"]
    pid = ops.create_patient(store, nurse, **PATIENT).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="LOT-7",
                             physician_id=actors["physician"].user_id).result
    clock.advance(minutes=2)
    ops.record_vitals(store, nurse, sid, systolic=128, diastolic=82, heart_rate=74, spo2=98, resp_rate=14)
    ops.record_side_effect(store, nurse, sid, "nausea", score=3)
    ops.add_note(store, nurse, sid, "Wilhelmina resting, music on.")
    ops.update_patient(store, nurse, pid, allergies="Penicillin")
    ops.record_print(store, actors["staff"], sid, "summary")
    chart = load_chart(store, sid)
    assert chart.patient.family_name == "Featherstonehaugh"  # the flow really touched the patient
    return pid, sid


def test_logs_hold_no_patient_data_even_at_debug(store, actors, clock, caplog):
    caplog.set_level(logging.DEBUG)
    _chart_a_session(store, actors, clock)
    logging.getLogger("ketamon").debug("charting flow done")  # the capture works
    assert "charting flow done" in caplog.text
    assert not store.engine.echo  # SQLAlchemy echo stays off
    for secret in ("Featherstonehaugh", "FEATHERSTONEHAUGH", "Wilhelmina", "MRN-778899", "Penicillin"):
        assert secret not in caplog.text


def test_sql_logging_switched_on_on_purpose_shows_statements_not_values(store, actors, clock, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    _chart_a_session(store, actors, clock)
    assert "INSERT INTO patients" in caplog.text  # the SQL log is really on
    for secret in ("Featherstonehaugh", "Wilhelmina", "MRN-778899", "Penicillin"):
        assert secret not in caplog.text


def test_a_database_error_message_does_not_carry_the_values(store, actors):
    ops.create_patient(store, actors["nurse"], **PATIENT)
    with pytest.raises(IntegrityError) as err:
        with store.transaction() as db:
            db.add(Patient(**{**PATIENT, "given_name": "Other"}, created_at=store.clock.now()))
    assert "MRN-778899" not in str(err.value) and "hidden" in str(err.value)


def test_no_password_in_clear_in_the_database_file_or_the_log(store, caplog):
    caplog.set_level(logging.DEBUG)
    path = Path(make_url(store.url).database)
    admin = ops.create_first_admin(store, username="boss", display_name="Boss", password="Boss-first-pw1")
    ops.add_user(store, admin, username="lan", display_name="Lan Tran RN", role="nurse", password="Lan-pass-2026")
    with pytest.raises(AuthenticationError):
        ops.sign_in(store, "lan", "Lan-typo-2026")
    with pytest.raises(AuthenticationError):
        ops.sign_in(store, "Lan-pass-2026", "lan")  # password typed into the name field
    lan = ops.sign_in(store, "lan", "Lan-pass-2026").actor
    ops.change_password(store, lan, "Lan-pass-2026", "Lan-next-2027")
    ops.reset_password(store, admin, "lan", "Temporary-2028")
    secrets = ["Boss-first-pw1", "Lan-pass-2026", "Lan-typo-2026", "Lan-next-2027", "Temporary-2028"]
    files = [path, Path(f"{path}-wal")]
    blob = b"".join(f.read_bytes() for f in files if f.exists())
    store.dispose()  # checkpoint the log into the file: look again
    blob += path.read_bytes()
    for secret in secrets:
        for form in (secret.encode(), secret.encode("utf-16-le"), secret.lower().encode()):
            assert form not in blob
        assert secret not in caplog.text
    assert b"$argon2id$" in blob  # what is stored instead


# ---------------------------------------------------------------- helpers as fixtures


@pytest.fixture
def actors_free_store_factory(clock, sqlite_template):
    """A store on a file of our choosing (created here, so its mode is ours to check)."""
    made = []

    def make(path: Path) -> Store:
        s = Store(f"sqlite:///{path}", clock=clock)
        made.append(s)
        return s

    yield make
    for s in made:
        s.dispose()
