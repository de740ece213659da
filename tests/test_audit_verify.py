"""`ketamon audit verify`: exits 0 and counts the rows of an intact trail; exits
non-zero and names the first bad row when a row was edited, deleted (the last one
included) or the chain reordered. Tampering is done with raw SQL, as an outsider
would; on SQLite and PostgreSQL."""
import pytest

from record_helpers import make_user, to_discharged
from sqlalchemy import func, select, text

from ketamon.cli import main
from ketamon.core import audit, ops
from ketamon.core.models import AuditEntry
from record_helpers import TEST_PASSWORD


@pytest.fixture
def trail(any_store, clock):
    """A signed session's history in the audit trail; returns the store and its row count."""
    from datetime import date

    store = any_store
    nurse = make_user(store, "nurse", "nurse", "Sam Carter RN")
    doctor = make_user(store, "doctor", "physician", "Dr Priya Shah")
    pid = ops.create_patient(store, nurse, mrn="MRN-9", family_name="Berg", given_name="Tom",
                             birth_date=date(1969, 1, 30), sex="male", weight_kg=90).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L7",
                             physician_id=doctor.user_id).result
    to_discharged(store, nurse, sid, clock)
    ops.sign_session(store, doctor, sid, TEST_PASSWORD)
    ops.add_addendum(store, nurse, sid, "Called the patient: well.", reason="Follow-up")
    with store.read() as db:
        rows = db.scalar(select(func.count()).select_from(AuditEntry))
    assert rows >= 15
    return store, rows


def run_verify(store, capsys) -> tuple[int, str, str]:
    code = main(["--db", store.url, "audit", "verify"])
    out = capsys.readouterr()
    return code, out.out, out.err


def first_line(err: str) -> str:
    """The first problem (the lines after name the clinical rows it left uncovered, if any)."""
    return err.strip().splitlines()[0] if err.strip() else ""


def sql(store, statement: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_intact_trail(trail, capsys):
    store, rows = trail
    code, out, err = run_verify(store, capsys)
    assert (code, err) == (0, "")
    assert out.strip().startswith(f"audit trail intact: {rows} rows; ")


def test_every_kind_of_change_is_in_the_trail(trail):
    store, _rows = trail
    with store.read() as db:
        rows = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = {(r.action, r.entity) for r in rows}
    for expected in [("create", "patient"), ("create", "session"), ("create", "vital_signs"),
                     ("create", "dose_event"), ("create", "assessment"), ("transition", "session"),
                     ("update", "session"), ("sign", "session"), ("create", "addendum")]:
        assert expected in actions
    sign = next(r for r in rows if r.action == "sign")
    assert sign.username == "doctor" and sign.at is not None and sign.before and sign.after


def test_an_edited_row_is_named(trail, capsys):
    store, rows = trail
    sql(store, "UPDATE audit_log SET detail = :d WHERE id = 7", d="nothing to see here")
    code, out, err = run_verify(store, capsys)
    assert code == 1
    assert first_line(err) == "audit trail BROKEN at row 7: row 7 was altered (its content does not match its hash)"


def test_an_edited_value_inside_before_after_is_named(trail, capsys):
    store, rows = trail
    with store.read() as db:
        target = db.scalars(select(AuditEntry).where(AuditEntry.entity == "vital_signs")).first()
    after = dict(target.after, systolic=99)
    with store.transaction() as db:  # an outsider's edit through the ORM, JSON and all
        db.get(AuditEntry, target.id).after = after
    code, _out, err = run_verify(store, capsys)
    assert code == 1 and f"BROKEN at row {target.id}:" in err


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(trail, capsys):
    store, rows = trail
    with store.transaction() as db:
        row = db.get(AuditEntry, 5)
        row.username = "someone-else"
        row.hash = audit.row_hash(row)
    code, _out, err = run_verify(store, capsys)
    assert code == 1
    assert first_line(err).startswith("audit trail BROKEN at row 6: row 6 does not follow row 5")


def test_a_deleted_row_is_named(trail, capsys):
    store, rows = trail
    sql(store, "DELETE FROM audit_log WHERE id = 12")
    code, _out, err = run_verify(store, capsys)
    assert code == 1
    assert first_line(err) == "audit trail BROKEN at row 12: row 12 is missing (the next row is 13)"


def test_a_deleted_last_row_is_caught_by_the_head(trail, capsys):
    store, rows = trail
    sql(store, "DELETE FROM audit_log WHERE id = :i", i=rows)
    code, _out, err = run_verify(store, capsys)
    assert code == 1
    assert first_line(err) == (f"audit trail BROKEN at row {rows}: row {rows} is missing: the trail should end at "
                           f"row {rows}, but ends at row {rows - 1}")


def test_a_reordered_chain_is_named(trail, capsys):
    store, rows = trail
    # swap rows 8 and 9 (ids moved through a free id, as a constraint-respecting outsider would)
    sql(store, "UPDATE audit_log SET id = -1 WHERE id = 8")
    sql(store, "UPDATE audit_log SET id = 8 WHERE id = 9")
    sql(store, "UPDATE audit_log SET id = 9 WHERE id = -1")
    code, _out, err = run_verify(store, capsys)
    assert code == 1 and first_line(err).startswith("audit trail BROKEN at row 8:")


def test_a_row_appended_outside_ketamon_is_named(trail, capsys):
    store, rows = trail
    with store.transaction() as db:
        last = db.get(AuditEntry, rows)
        forged = AuditEntry(id=rows + 1, at=last.at, user_id=None, username="intruder", action="create",
                            entity="note", entity_id=1, session_id=1, before=None, after={"text": "x"},
                            detail=None, prev_hash=last.hash, hash="")
        forged.hash = audit.row_hash(forged)
        db.add(forged)
    code, _out, err = run_verify(store, capsys)
    assert code == 1 and first_line(err).startswith(f"audit trail BROKEN at row {rows + 1}: row {rows + 1} onwards "
                                                "were not written by ketamon")


def test_an_empty_trail_is_intact(store, capsys):
    code, out, _err = run_verify(store, capsys)
    assert (code, out.strip()) == (0, "audit trail intact: 0 rows; 0 clinical rows match it")


# --- a clinic-sized trail: streamed, in bounded memory -------------------------------------------

BIG_TRAIL = 50_000


def fill_trail(store, rows: int) -> None:
    """`rows` valid audit rows and their head, inserted in bulk. Hashes come from the
    module's own `row_hash`, so the chain is exactly what ketamon would have written."""
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from sqlalchemy import insert

    from ketamon.core.models import AuditHead

    t0 = datetime(2025, 1, 1, 8, 0, tzinfo=timezone.utc)
    prev = audit.GENESIS
    with store.transaction() as db:
        chunk = []
        for i in range(1, rows + 1):
            row = dict(id=i, at=t0 + timedelta(seconds=i, microseconds=i % 997), user_id=None,
                       username="nurse", action="create", entity="vital_signs", entity_id=i, session_id=i // 40,
                       before=None, after={"systolic": 100 + i % 60, "heart_rate": 60 + i % 40,
                                           "measured_at": (t0 + timedelta(seconds=i)).isoformat()},
                       detail=f"set {i}", prev_hash=prev, hash="")
            row["hash"] = prev = audit.row_hash(SimpleNamespace(**row))
            chunk.append(row)
            if len(chunk) == 5000:
                db.execute(insert(AuditEntry.__table__), chunk)
                chunk = []
        if chunk:
            db.execute(insert(AuditEntry.__table__), chunk)
        db.add(AuditHead(id=1, last_id=rows, last_hash=prev, rows=rows))


@pytest.fixture
def big_trail(any_store):
    fill_trail(any_store, BIG_TRAIL)
    return any_store


def verify_peak(store) -> tuple[audit.VerifyResult, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        with store.read() as db:
            result = audit.verify(db)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_large_trail_is_verified_in_bounded_memory(big_trail, capsys):
    """Loading the whole trail at once (as ORM objects) peaks at over 100 MB for
    50,000 rows; streamed it stays at a few megabytes, whatever the trail's length."""
    result, peak = verify_peak(big_trail)
    assert (result.ok, result.rows) == (True, BIG_TRAIL)
    assert peak < 16 * 1024 * 1024, f"verify peaked at {peak / 2**20:.1f} MB"
    code, out, _err = run_verify(big_trail, capsys)
    assert (code, out.strip()) == (0, f"audit trail intact: {BIG_TRAIL} rows; 0 clinical rows match it")


def test_tampering_deep_in_a_large_trail_is_named(big_trail, capsys):
    """An edit, a broken link across two batches and a deletion, far past the first
    batch, are named exactly as in a short trail. Each tamper lies before the one
    before it, so each becomes the first bad row."""
    sql(big_trail, "UPDATE audit_log SET detail = :d WHERE id = 31234", d="nothing to see here")
    code, _out, err = run_verify(big_trail, capsys)
    assert (code, first_line(err)) == (1, "audit trail BROKEN at row 31234: row 31234 was altered (its content "
                                      "does not match its hash)")

    with big_trail.transaction() as db:  # the last row of a batch, re-hashed: the next batch must notice
        row = db.get(AuditEntry, audit.VERIFY_BATCH * 3)
        row.username = "someone-else"
        row.hash = audit.row_hash(row)
    nxt = audit.VERIFY_BATCH * 3 + 1
    code, _out, err = run_verify(big_trail, capsys)
    assert code == 1
    assert first_line(err).startswith(f"audit trail BROKEN at row {nxt}: row {nxt} does not follow row {nxt - 1}")

    sql(big_trail, "DELETE FROM audit_log WHERE id = 4001")
    code, _out, err = run_verify(big_trail, capsys)
    assert (code, first_line(err)) == (1, "audit trail BROKEN at row 4001: row 4001 is missing (the next row is "
                                      "4002)")
