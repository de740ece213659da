"""`ketamon audit verify` covers the clinical record, not only the trail: a realistic
signed session is made through the operations, then changed with raw SQL as
someone with write access to the database would (on SQLite and PostgreSQL).
Each change names the table and the row; a cut tail is caught; with the clinic
key a full recomputation of the chain is caught too, and without it it is not
(what the README says); a read-only copy verifies."""
from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from record_helpers import FULL_ALDRETE, make_user, predose
from sqlalchemy import select, text

from ketamon.cli import main
from ketamon.core import audit, ops
from ketamon.core.models import Alert, AuditEntry, AuditHead, AuditRecord, SideEffect, VitalSigns
from ketamon.core.store import Store
from record_helpers import TEST_PASSWORD

KEY = "4f1c0a9e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b"


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    """No clinic key unless a test sets one (the developer's environment must not leak in)."""
    monkeypatch.delenv("KETAMON_AUDIT_KEY_FILE", raising=False)


def key_file(tmp_path, mode=0o600):
    path = tmp_path / "audit.key"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    return path


def make_record(store, clock) -> dict:
    """A session taken from registration to signature, with an acknowledged alert,
    a side effect and an addendum. Returns the ids the tests tamper with."""
    nurse = make_user(store, "nurse", "nurse", "Sam Carter RN")
    doctor = make_user(store, "doctor", "physician", "Dr Priya Shah")
    pid = ops.create_patient(store, nurse, mrn="MRN-77", family_name="Lind", given_name="Eva",
                             birth_date=date(1975, 4, 2), sex="female", weight_kg=64).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L9",
                             physician_id=doctor.user_id).result
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    first = clock.now()
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.advance(minutes=10)
    ops.record_vitals(store, nurse, sid, systolic=182, diastolic=104, heart_rate=96, spo2=97, resp_rate=16)
    ops.acknowledge_alert(store, nurse, session_id=sid)
    ops.record_side_effect(store, nurse, sid, "nausea", scale="NRS-0-10", score=3)
    clock.set(first + timedelta(minutes=40))
    ops.record_vitals(store, nurse, sid, systolic=132, diastolic=84, heart_rate=78, spo2=98, resp_rate=14)
    clock.set(first + timedelta(minutes=100))
    ops.move_to_recovery(store, nurse, sid)
    ops.record_vitals(store, nurse, sid, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)
    ops.record_discharge_assessment(store, nurse, sid, FULL_ALDRETE)
    ops.record_discharge_checklist(store, nurse, sid, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=95))
    clock.set(first + timedelta(minutes=125))
    ops.discharge(store, nurse, sid)
    with store.read() as db:
        for alert_id in db.scalars(select(Alert.id).where(Alert.session_id == sid, Alert.reviewed_at.is_(None))):
            ops.review_alert(store, doctor, alert_id, "Rechecked at 40 minutes: settled.")
    ops.sign_session(store, doctor, sid, TEST_PASSWORD)
    with store.read() as db:
        vitals = db.scalars(select(VitalSigns.id).where(VitalSigns.session_id == sid)
                            .order_by(VitalSigns.id)).all()
        effect = db.scalar(select(SideEffect.id).where(SideEffect.session_id == sid))
        alert = db.scalar(select(Alert.id).where(Alert.session_id == sid, Alert.acknowledged_by_id.is_not(None)))
    assert len(vitals) >= 3 and effect and alert, "the scenario must chart vitals, a side effect and an alert"
    return dict(session=sid, patient=pid, vitals=vitals[-2], effect=effect, alert=alert, nurse=nurse.user_id,
                doctor=doctor.user_id)


@pytest.fixture
def record(any_store, clock):
    return any_store, make_record(any_store, clock)


def sql(store, statement: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def run_verify(url, capsys) -> tuple[int, str, str]:
    code = main(["--db", url, "audit", "verify"])
    out = capsys.readouterr()
    return code, out.out, out.err


def audit_row_that_wrote(store, table: str, row_id: int) -> AuditEntry:
    with store.read() as db:
        audit_id = db.scalar(select(AuditRecord.audit_id).where(AuditRecord.table_name == table,
                                                                AuditRecord.row_id == row_id)
                             .order_by(AuditRecord.audit_id.desc()).limit(1))
        return db.get(AuditEntry, audit_id)


def named(store, table: str, row_id: int, how: str) -> str:
    """The sentence verify must print, e.g. "vital_signs row 4 was changed outside
    ketamon after audit row 31 (2026-11-20 09:15 by nurse)"."""
    row = audit_row_that_wrote(store, table, row_id)
    return (f"{table} row {row_id} was {how} outside ketamon after audit row {row.id} "
            f"({row.at:%Y-%m-%d %H:%M} by {row.username or 'ketamon'})")


def test_an_untouched_record_verifies(record, capsys):
    store, ids = record
    code, out, err = run_verify(store.url, capsys)
    assert (code, err) == (0, "")
    assert out.startswith("audit trail intact: ") and " clinical rows match it" in out
    clinical = int(out.split("; ")[1].split()[0])
    assert clinical >= 20


def test_a_changed_systolic_is_named(record, capsys):
    store, ids = record
    expected = named(store, "vital_signs", ids["vitals"], "changed")
    sql(store, "UPDATE vital_signs SET systolic = 118 WHERE id = :i", i=ids["vitals"])
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1
    assert err.strip() == f"audit trail BROKEN at the audit head: {expected}"


def test_a_deleted_side_effect_is_named(record, capsys):
    store, ids = record
    expected = named(store, "side_effects", ids["effect"], "deleted")
    sql(store, "DELETE FROM side_effects WHERE id = :i", i=ids["effect"])
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and err.strip().endswith(expected)


def test_an_unsigned_session_is_named(record, capsys):
    store, ids = record
    expected = named(store, "sessions", ids["session"], "changed")
    signer = audit_row_that_wrote(store, "sessions", ids["session"])
    assert signer.action == "sign" and signer.username == "doctor"
    sql(store, "UPDATE sessions SET state = 'discharged', signed_at = NULL, signed_by_id = NULL WHERE id = :i",
        i=ids["session"])
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and err.strip().endswith(expected)
    assert "by doctor)" in expected


def test_a_changed_acknowledger_is_named(record, capsys):
    store, ids = record
    expected = named(store, "alerts", ids["alert"], "changed")
    sql(store, "UPDATE alerts SET acknowledged_by_id = :d WHERE id = :i", d=ids["doctor"], i=ids["alert"])
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and err.strip().endswith(expected)


def test_a_row_added_outside_ketamon_is_named(record, capsys):
    store, ids = record
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO notes (session_id, at, entered_at, entered_by_id, text, retracted) "
                          "VALUES (:s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :u, 'Patient fine.', :f)"),
                     dict(s=ids["session"], u=ids["nurse"], f=False))
        note_id = conn.execute(text("SELECT max(id) FROM notes")).scalar()
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1
    assert err.strip().endswith(f"notes row {note_id} was added outside ketamon (no audit row wrote it)")


def test_every_tampering_is_listed_at_once(record, capsys):
    store, ids = record
    sql(store, "UPDATE vital_signs SET systolic = 118 WHERE id = :i", i=ids["vitals"])
    sql(store, "DELETE FROM side_effects WHERE id = :i", i=ids["effect"])
    sql(store, "UPDATE alerts SET acknowledged_by_id = :d WHERE id = :i", d=ids["doctor"], i=ids["alert"])
    _code, _out, err = run_verify(store.url, capsys)
    for table, row in (("vital_signs", ids["vitals"]), ("side_effects", ids["effect"]), ("alerts", ids["alert"])):
        assert f"{table} row {row} was " in err


def cut_tail(store, n: int) -> None:
    """The attacker's two statements (three, with the record lists): remove the last
    `n` audit rows and make the head agree with what is left."""
    with store.read() as db:
        last = db.scalar(select(AuditHead.last_id))
        keep = db.execute(select(AuditEntry.id, AuditEntry.hash).where(AuditEntry.id == last - n)).one()
    sql(store, "DELETE FROM audit_record WHERE audit_id > :k", k=keep.id)
    sql(store, "DELETE FROM audit_log WHERE id > :k", k=keep.id)
    sql(store, "UPDATE audit_head SET last_id = :k, last_hash = :h, rows = :k WHERE id = 1", k=keep.id, h=keep.hash)


def test_a_cut_tail_is_caught(record, capsys):
    """The last audit row (the physician's signature) and the head rewritten: the
    signed session is no longer covered by the trail, and verify says so."""
    store, ids = record
    with store.read() as db:
        last = db.get(AuditEntry, db.scalar(select(AuditHead.last_id)))
    assert (last.action, last.entity_id) == ("sign", ids["session"])
    cut_tail(store, 1)
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1
    assert f"sessions row {ids['session']} was changed outside ketamon after audit row" in err


# --- the clinic key ------------------------------------------------------------------------------


def recompute_everything(store) -> None:
    """What someone with write access and this module's code (but not the key) can do:
    rewrite a clinical row, fix its digest, and recompute every hash and the head."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE vital_signs SET systolic = 118 WHERE id = (SELECT max(id) FROM vital_signs)"))
        vid = conn.execute(text("SELECT max(id) FROM vital_signs")).scalar()
        table = VitalSigns.__table__
        row = conn.execute(select(table).where(table.c.id == vid)).one()
        conn.execute(text("UPDATE audit_record SET digest = :d WHERE table_name = 'vital_signs' AND row_id = :i"),
                     dict(d=audit.row_digest(row._mapping), i=vid))
        columns = audit.HASHED_COLUMNS + ("record_digest",)
        log = AuditEntry.__table__
        rec = AuditRecord.__table__
        prev = audit.GENESIS
        rows = conn.execute(select(*(log.c[c] for c in columns)).order_by(log.c.id)).all()
        for r in rows:
            entry = SimpleNamespace(**dict(zip(columns, r)))
            items = conn.execute(select(rec.c.table_name, rec.c.row_id, rec.c.digest)
                                 .where(rec.c.audit_id == entry.id).order_by(rec.c.seq)).all()
            entry.record_digest = audit.record_digest(items) if items else None
            entry.prev_hash = prev
            prev = audit.row_hash(entry)
            conn.execute(log.update().where(log.c.id == entry.id)
                         .values(prev_hash=entry.prev_hash, record_digest=entry.record_digest, hash=prev))
        conn.execute(AuditHead.__table__.update().values(last_id=rows[-1].id, last_hash=prev, rows=len(rows)))


def test_without_a_key_a_full_recomputation_passes(record, capsys):
    """Documented limit: without the clinic key nothing secret tells ketamon's hashes
    from anyone else's, so rewriting a value and recomputing everything passes."""
    store, _ids = record
    recompute_everything(store)
    code, out, _err = run_verify(store.url, capsys)
    assert code == 0 and out.startswith("audit trail intact")


@pytest.fixture
def keyed_record(any_store, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("KETAMON_AUDIT_KEY_FILE", str(key_file(tmp_path)))
    return any_store, make_record(any_store, clock)


def test_with_the_key_the_record_verifies_sealed(keyed_record, capsys):
    store, _ids = keyed_record
    code, out, err = run_verify(store.url, capsys)
    assert (code, err) == (0, "") and out.strip().endswith("; sealed with the clinic key")


def test_with_the_key_a_full_recomputation_is_caught(keyed_record, capsys):
    store, _ids = keyed_record
    recompute_everything(store)
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1
    assert err.startswith("audit trail BROKEN at row 1: row 1 was altered (its content does not match its seal)")


def test_with_the_key_removing_the_seal_is_caught(keyed_record, capsys):
    store, _ids = keyed_record
    recompute_everything(store)
    sql(store, "UPDATE audit_head SET key_from = NULL, key_id = NULL, seal = NULL")
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and "not sealed with the clinic's audit key" in err


def test_with_the_key_a_cut_tail_of_a_print_is_caught(keyed_record, capsys):
    """A print writes no clinical row; only the head's seal can show it was cut."""
    store, ids = keyed_record
    with store.read() as db:
        doctor = db.get(AuditEntry, db.scalar(select(AuditHead.last_id)))
    from ketamon.core.permissions import Actor

    ops.record_print(store, Actor(ids["doctor"], "doctor", "Dr Priya Shah", "physician"), ids["session"], "summary")
    cut_tail(store, 1)
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and "the audit head's seal does not match" in err
    assert doctor.action == "sign"


def test_verify_without_the_key_on_a_sealed_trail_says_so(keyed_record, capsys, monkeypatch):
    store, _ids = keyed_record
    monkeypatch.delenv("KETAMON_AUDIT_KEY_FILE")
    code, _out, err = run_verify(store.url, capsys)
    assert code == 1 and "sealed with the clinic's audit key; set KETAMON_AUDIT_KEY_FILE" in err


def test_a_workstation_without_the_key_is_refused_once_sealed(keyed_record, monkeypatch):
    store, ids = keyed_record
    monkeypatch.delenv("KETAMON_AUDIT_KEY_FILE")
    from ketamon.core.permissions import Actor

    with pytest.raises(audit.AuditKeyError, match="this workstation has no key file"):
        ops.record_print(store, Actor(ids["doctor"], "doctor", "Dr Priya Shah", "physician"), ids["session"],
                         "summary")


def test_a_key_file_others_can_read_is_refused(store, tmp_path, monkeypatch, capsys):
    path = key_file(tmp_path, mode=0o644)
    monkeypatch.setenv("KETAMON_AUDIT_KEY_FILE", str(path))
    code, _out, err = run_verify(store.url, capsys)
    assert code == 2
    assert err.strip() == (f"cannot verify the audit trail: the audit key file {path} can be read by others than "
                           f"its owner (mode 644); make it readable by its owner only: chmod 600 {path}")


def test_an_unkeyed_clinic_adopts_a_key_and_keeps_verifying(store, clock, tmp_path, monkeypatch, capsys):
    """A database written without a key, then with one: the old rows stay plain
    SHA-256, the new ones are sealed, and the whole verifies with the key."""
    ids = make_record(store, clock)
    monkeypatch.setenv("KETAMON_AUDIT_KEY_FILE", str(key_file(tmp_path)))
    from ketamon.core.permissions import Actor

    ops.record_print(store, Actor(ids["doctor"], "doctor", "Dr Priya Shah", "physician"), ids["session"], "summary")
    code, out, err = run_verify(store.url, capsys)
    assert (code, err) == (0, "") and out.strip().endswith("sealed with the clinic key")


# --- read-only -----------------------------------------------------------------------------------


def test_a_read_only_copy_verifies(store, clock, tmp_path, capsys):
    """A copy made with SQLite's backup API, mode 0444: verify reads it and leaves it
    byte for byte as it was."""
    make_record(store, clock)
    copy = tmp_path / "copy" / "copy.sqlite3"
    copy.parent.mkdir()
    src = sqlite3.connect(store.engine.url.database)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    copy.chmod(0o444)
    before = copy.read_bytes()
    code, out, err = run_verify(str(copy), capsys)
    assert (code, err) == (0, "") and out.startswith("audit trail intact")
    assert copy.read_bytes() == before and stat.S_IMODE(copy.stat().st_mode) == 0o444


def test_a_read_only_copy_names_a_change(store, clock, tmp_path, capsys):
    ids = make_record(store, clock)
    sql(store, "UPDATE vital_signs SET systolic = 118 WHERE id = :i", i=ids["vitals"])
    store.dispose()
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(store.engine.url.database, copy)
    copy.chmod(0o444)
    code, _out, err = run_verify(str(copy), capsys)
    assert code == 1 and f"vital_signs row {ids['vitals']} was changed outside ketamon" in err


def test_read_only_verify_on_postgresql_writes_nothing(pg_store, clock, capsys):
    """On PostgreSQL verify runs in read-only transactions: it cannot write."""
    make_record(pg_store, clock)
    ro = Store(pg_store.url, read_only=True)
    try:
        with ro.read() as db:
            with pytest.raises(Exception, match="read-only"):
                db.execute(text("UPDATE sessions SET lot_number = 'x'"))
    finally:
        ro.dispose()
    code, _out, _err = run_verify(pg_store.url, capsys)
    assert code == 0


# --- bounded memory ------------------------------------------------------------------------------


BIG_RECORD = 200_000


def test_a_clinic_sized_record_is_verified_in_bounded_memory(store, clock):
    """200,000 vital-sign rows written in one bulk insert (captured and listed like
    any other write): verify compares them all in a few megabytes."""
    import tracemalloc

    from datetime import date, timedelta

    from sqlalchemy import insert

    from ketamon.core.models import VitalSigns

    nurse = make_user(store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(store, nurse, mrn="BULK-1", family_name="Bulk", given_name="Mark",
                             birth_date=date(1980, 1, 1), sex="unknown", weight_kg=70.0).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    start = clock.now()
    rows = [dict(session_id=sid, measured_at=start + timedelta(seconds=i), entered_at=start + timedelta(seconds=i),
                 entered_by_id=nurse.user_id, source="device", heart_rate=70 + i % 9, spo2=97 + i % 3, resp_rate=14,
                 mean_measured=False, late=False, retracted=False) for i in range(BIG_RECORD)]
    with store.transaction() as db:  # a bulk write, as a device import would make: captured like any other
        for k in range(0, BIG_RECORD, 5000):
            db.execute(insert(VitalSigns), rows[k:k + 5000])
    del rows
    tracemalloc.start()
    try:
        with store.read() as db:
            result = audit.verify(db)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.findings
    assert result.record_rows >= BIG_RECORD
    assert peak < 16 * 1024 * 1024, f"verify peaked at {peak / 2**20:.1f} MB"
