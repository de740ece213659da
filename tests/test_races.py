"""Two workstations on one PostgreSQL database, released at the same moment.

Each workstation is its own `Store` (its own engine and connections), each call
runs in its own thread, and a `threading.Barrier` lets both go at once; no sleeps.
Each race is run several times: whichever thread the database lets in first, the
end is the same — one change wins, the other is refused in words that say who
did it and when, and nothing is stored twice. The same races run on SQLite too
(two engines on one file), where BEGIN IMMEDIATE already makes them take turns.
"""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import date

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, select, text

from ketamon.core import ops, passwords
from ketamon.core.clock import FakeClock
from ketamon.core.errors import AuthenticationError, KetamonError, SessionLocked, ValidationError
from ketamon.core.models import Alert, AuditEntry, Base, Patient, Session, User, VitalSigns
from ketamon.core.store import Store, migrate, schema_revision
from tests.conftest import PG_ADMIN_URL, T0, add_user
from tests.record_helpers import to_discharged
from tests.record_helpers import TEST_PASSWORD

TRIALS = 10
#: the clinic's clock (T0) as a refusal shows it, in the workstation's time zone
HM = T0.astimezone().strftime("%H:%M")


def race(first, second) -> list[tuple[str, object]]:
    """Run both calls at the same moment; [("ok", result) | ("refused", error)] in call order.
    Anything but the project's refusal fails the test."""
    barrier = threading.Barrier(2, timeout=60)
    out: list = [None, None]

    def go(i, call):
        barrier.wait()
        try:
            out[i] = ("ok", call())
        except KetamonError as exc:
            out[i] = ("refused", exc)
        except BaseException as exc:  # pragma: no cover - the failure these tests exist for
            out[i] = ("crashed", exc)

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a workstation is still waiting: a deadlock"
    crashed = [r for r in out if r[0] == "crashed"]
    assert not crashed, f"a workstation crashed instead of being refused: {crashed[0][1]!r}"
    return out


def one_winner(results) -> tuple[int, KetamonError]:
    """The index of the one call that worked, and the other one's refusal."""
    kinds = [k for k, _ in results]
    assert sorted(kinds) == ["ok", "refused"], f"expected one winner and one refusal, got {results}"
    winner = kinds.index("ok")
    return winner, results[1 - winner][1]


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def two_workstations(request, clock, monkeypatch):
    """Two stores on one database, each with its own engine; one clock (the clinic's time)."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        a = Store(url, clock=clock, run_migrations=False)
        with a.engine.begin() as c:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        url = request.getfixturevalue("sqlite_url")
        a = Store(url, clock=clock, run_migrations=False)
    b = Store(url, clock=clock, run_migrations=False)
    yield a, b
    a.dispose()
    b.dispose()


@pytest.fixture
def staff(two_workstations):
    a, _ = two_workstations
    return {"nurse": add_user(a, "nurse", "nurse", "Sam Carter RN"),
            "kim": add_user(a, "kim", "nurse", "Kim Lee RN"),
            "physician": add_user(a, "doctor", "physician", "Dr Priya Shah")}


def _new_session(store, nurse, n: int) -> int:
    pid = ops.create_patient(store, nurse, mrn=f"RACE-{n}-{uuid.uuid4().hex[:6]}", family_name="Race",
                             given_name="Test", birth_date=date(1980, 1, 1), sex="female", weight_kg=70.0).result
    return ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L1").result


NAMES = {"nurse": "Sam Carter RN", "kim": "Kim Lee RN", "physician": "Dr Priya Shah"}


# ---------------------------------------------------------------- the same entry corrected twice


def test_the_same_entry_corrected_at_two_workstations_keeps_one_current_value(two_workstations, staff):
    a, b = two_workstations
    sid = _new_session(a, staff["nurse"], 0)
    for trial in range(TRIALS):
        vid = ops.record_vitals(a, staff["nurse"], sid, systolic=120, diastolic=80).result
        results = race(
            lambda: ops.record_vitals(a, staff["nurse"], sid, systolic=132, diastolic=80, supersedes_id=vid,
                                      correction_reason="typed 120 for 132"),
            lambda: ops.record_vitals(b, staff["kim"], sid, systolic=142, diastolic=80, supersedes_id=vid,
                                      correction_reason="typed 120 for 142"))
        winner, refusal = one_winner(results)
        who = NAMES[("nurse", "kim")[winner]]
        assert isinstance(refusal, ValidationError)
        assert f"already been corrected by {who} at {HM}" in str(refusal), str(refusal)
        assert "review the new value" in str(refusal)
        with a.read() as db:
            corrections = db.scalars(select(VitalSigns).where(VitalSigns.supersedes_id == vid)).all()
        assert [c.systolic for c in corrections] == [(132, 142)[winner]], f"trial {trial}"


def test_an_entry_marked_entered_in_error_cannot_be_corrected_at_the_same_moment(two_workstations, staff):
    a, b = two_workstations
    sid = _new_session(a, staff["nurse"], 0)
    for _ in range(TRIALS // 2):
        vid = ops.record_vitals(a, staff["nurse"], sid, heart_rate=70).result
        results = race(
            lambda: ops.record_vitals(a, staff["nurse"], sid, supersedes_id=vid, retracted=True,
                                      correction_reason="wrong patient"),
            lambda: ops.record_vitals(b, staff["kim"], sid, heart_rate=75, supersedes_id=vid,
                                      correction_reason="typed 70 for 75"))
        winner, refusal = one_winner(results)
        expected = ("marked entered in error by Sam Carter RN" if winner == 0
                    else "already been corrected by Kim Lee RN")
        assert expected in str(refusal)
        with a.read() as db:
            assert db.scalar(select(func.count()).select_from(VitalSigns)
                             .where(VitalSigns.supersedes_id == vid)) == 1


# ---------------------------------------------------------------- vital signs into a record being signed


def test_vital_signs_never_land_in_a_record_after_it_was_signed(two_workstations, staff, clock):
    a, b = two_workstations
    signed_first = 0
    for trial in range(TRIALS):
        clock.set(T0)
        sid = _new_session(a, staff["nurse"], trial)
        to_discharged(a, staff["nurse"], sid, clock)
        clock.advance(minutes=10)
        results = race(lambda: ops.sign_session(a, staff["physician"], sid, TEST_PASSWORD),
                       lambda: ops.record_vitals(b, staff["nurse"], sid, systolic=124, diastolic=78))
        assert results[0][0] == "ok", f"signing failed: {results[0]}"
        with a.read() as db:
            actions = db.execute(select(AuditEntry.action, AuditEntry.entity).where(AuditEntry.session_id == sid)
                                 .order_by(AuditEntry.id)).all()
            session = db.get(Session, sid)
            assert session.locked
        # whichever went first, nothing was written into the record after its signature
        assert actions[-1] == ("sign", "session"), f"trial {trial}: written after signing: {actions}"
        if results[1][0] == "refused":
            signed_first += 1
            refusal = results[1][1]
            assert isinstance(refusal, SessionLocked)
            assert "signed and locked; add an addendum instead. Signed by Dr Priya Shah at" in str(refusal)
        else:  # the vital signs went in first, so the signature covers them
            assert ("create", "vital_signs") in actions[-3:]
    assert 0 <= signed_first <= TRIALS


# ---------------------------------------------------------------- two first administrators


def test_two_first_administrators_at_once_make_one(two_workstations):
    a, b = two_workstations
    for trial in range(TRIALS):
        with a.transaction() as db:
            db.execute(text("DELETE FROM audit_record"))  # the rows each audit row wrote
            db.execute(text("DELETE FROM audit_log"))
            db.execute(text("DELETE FROM audit_head"))
            db.execute(text("DELETE FROM users"))
        results = race(
            lambda: ops.create_first_admin(a, username="ana", display_name="Ana Admin", password="ana-pass-2026"),
            lambda: ops.create_first_admin(b, username="ben", display_name="Ben Admin", password="ben-pass-2026"))
        winner, refusal = one_winner(results)
        name, username = (("Ana Admin", "ana"), ("Ben Admin", "ben"))[winner]
        assert isinstance(refusal, AuthenticationError)
        assert f"already has user accounts: {name} ({username}) was created at {HM}" in str(refusal)
        with a.read() as db:
            assert db.scalars(select(User.username)).all() == [username], f"trial {trial}"


# ---------------------------------------------------------------- two "first" acknowledgements


def test_two_first_acknowledgements_keep_who_acknowledged_first(two_workstations, staff):
    a, b = two_workstations
    for trial in range(TRIALS):
        sid = _new_session(a, staff["nurse"], trial)
        ops.record_vitals(a, staff["nurse"], sid, systolic=192, diastolic=104, heart_rate=88)
        with a.read() as db:
            alert_id = db.scalar(select(Alert.id).where(Alert.session_id == sid, Alert.cleared_at.is_(None))
                                 .order_by(Alert.id))
        assert alert_id is not None
        results = race(lambda: ops.acknowledge_alert(a, staff["nurse"], alert_id),
                       lambda: ops.acknowledge_alert(b, staff["physician"], alert_id))
        assert [k for k, _ in results] == ["ok", "ok"]
        counts = [changes.result for _, changes in results]
        assert sorted(counts) == [0, 1], f"trial {trial}: both acknowledged first: {counts}"
        winner = counts.index(1)
        first = (staff["nurse"], staff["physician"])[winner]
        second_message = results[1 - winner][1].message
        assert second_message.startswith(f"Already acknowledged by {first.display_name} at {HM}")
        with a.read() as db:
            alert = db.get(Alert, alert_id)
            assert alert.acknowledged_by_id == first.user_id
            assert db.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "acknowledge", AuditEntry.entity_id == alert_id)) == 1


# ---------------------------------------------------------------- one MRN registered twice


def test_two_registering_one_mrn_get_one_patient_and_a_sentence_and_the_log_keeps_no_mrn(
        two_workstations, staff, caplog):
    a, b = two_workstations
    caplog.set_level(logging.DEBUG)
    for trial in range(TRIALS):
        mrn = f"MRN-77{trial:02d}31"

        def register(store, who, given):
            return ops.create_patient(store, who, mrn=mrn, family_name="Dup", given_name=given,
                                      birth_date=date(1975, 4, 4), sex="male")

        results = race(lambda: register(a, staff["nurse"], "Ann"), lambda: register(b, staff["kim"], "Bea"))
        _, refusal = one_winner(results)
        assert isinstance(refusal, ValidationError)
        assert str(refusal) == f"A patient with MRN {mrn} already exists."
        with a.read() as db:
            assert db.scalar(select(func.count()).select_from(Patient).where(Patient.mrn == mrn)) == 1
        assert mrn not in caplog.text


# ---------------------------------------------------------------- two workstations starting on an empty database


@pytest.mark.postgres
def test_two_workstations_starting_on_an_empty_database_both_start(pg_database):
    from ketamon.migrations import HEAD

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    base = pg_database.rsplit("/", 1)[0]
    try:
        for _ in range(5):
            name = f"ketamon_race_{uuid.uuid4().hex[:10]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            url = f"{base}/{name}"
            stores: list[Store] = []
            try:
                results = race(lambda: stores.append(Store(url, clock=FakeClock(T0))) or "started",
                               lambda: stores.append(Store(url, clock=FakeClock(T0))) or "started")
                assert [k for k, _ in results] == ["ok", "ok"], results
                assert schema_revision(stores[0].engine) == HEAD
                migrate(stores[1].engine)  # a third start later: nothing to do
                with stores[0].read() as db:
                    assert db.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            finally:
                for s in stores:
                    s.dispose()
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# ---------------------------------------------------------------- what reaches the log


@pytest.mark.postgres
def test_a_database_error_is_logged_without_the_patient_data_in_its_detail(pg_store, caplog):
    """What the window logs when an operation fails unexpectedly: PostgreSQL's DETAIL
    line ("Key (mrn)=(…) already exists") and the bound values stay out."""
    from sqlalchemy.exc import IntegrityError

    from ketamon.gui.runner import log_failure

    nurse = add_user(pg_store, "nurse", "nurse", "Sam Carter RN")
    ops.create_patient(pg_store, nurse, mrn="MRN-SECRET-1", family_name="Hidden", given_name="Val",
                       birth_date=date(1970, 1, 1), sex="female")
    with pytest.raises(IntegrityError) as err:
        with pg_store.transaction() as db:
            db.add(Patient(mrn="MRN-SECRET-1", family_name="Hidden", given_name="Val", birth_date=date(1970, 1, 1),
                           sex="female", allergies="", contraindications=[], concomitant_medications=[],
                           created_at=T0))
            db.flush()
    assert "MRN-SECRET-1" in str(err.value)  # PostgreSQL does put it there: the log must not
    caplog.set_level(logging.DEBUG)
    log_failure("create_patient", err.value)
    assert "UniqueViolation" in caplog.text and "duplicate key" in caplog.text
    assert "MRN-SECRET-1" not in caplog.text and "DETAIL" not in caplog.text
