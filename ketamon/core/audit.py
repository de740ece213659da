"""The audit trail: an append-only table whose rows are hash-chained.

Each row's hash is SHA-256 over its canonical content and the previous row's
hash, so editing, deleting or reordering any row breaks the chain from there on.
`verify()` walks the chain and names the first bad row. Appends take a lock so
two workstations on one PostgreSQL database cannot fork the chain.

A chain cannot show that its newest rows were removed (what remains is still a
valid chain), so every append also updates the one-row `audit_head` table (last
id, last hash, row count) in the same transaction; `verify()` checks the tail
against it. What this does not protect against: someone with write access to the
database who recomputes every hash and the head (there is no secret key). It
catches edits, deletions and reordering done by hand or by another program.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session as DbSession

from ketamon.core.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6B6574  # "ket"


#: the columns a row's hash covers (every column but the hash itself)
HASHED_COLUMNS = ("id", "at", "user_id", "username", "action", "entity", "entity_id", "session_id", "before",
                  "after", "detail", "prev_hash")


def _digest(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a row's hashed columns, `at` already as ISO text.
    Never change the encoding: every stored hash depends on it."""
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def row_hash(row: Any) -> str:
    """The chain hash of one row: an `AuditEntry` or anything with the same attributes."""
    content = {name: getattr(row, name) for name in HASHED_COLUMNS}
    content["at"] = row.at.isoformat(timespec="microseconds")
    return _digest(content)


def jsonable(value: Any) -> Any:
    """Before/after snapshots: datetimes as ISO strings, the rest as JSON allows."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def snapshot(obj: Any) -> dict[str, Any]:
    """The column values of an ORM object, for before/after."""
    return {c.key: jsonable(getattr(obj, c.key)) for c in obj.__table__.columns}


@dataclass
class PendingAudit:
    action: str
    entity: str | None = None
    entity_id: int | None = None
    session_id: int | None = None
    before: dict | None = None
    after: dict | None = None
    detail: str | None = None


def append(db: DbSession, at: datetime, user_id: int | None, username: str | None, items: list[PendingAudit]) -> None:
    """Append rows to the chain inside the caller's transaction."""
    if not items:
        return
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = db.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    next_id = (last.id if last else 0) + 1
    for item in items:
        row = AuditEntry(
            id=next_id,
            at=at,
            user_id=user_id,
            username=username,
            action=item.action,
            entity=item.entity,
            entity_id=item.entity_id,
            session_id=item.session_id,
            before=jsonable(item.before) if item.before is not None else None,
            after=jsonable(item.after) if item.after is not None else None,
            detail=item.detail,
            prev_hash=prev,
            hash="",
        )
        row.hash = row_hash(row)
        db.add(row)
        db.flush()
        prev = row.hash
        next_id += 1
    head = db.get(AuditHead, 1)
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS, rows=0)
        db.add(head)
    head.rows = next_id - 1
    head.last_id = next_id - 1
    head.last_hash = prev
    db.flush()


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    bad_id: int | None = None
    problem: str = ""


#: rows per batch while verifying: memory stays bounded by this, not by the trail
VERIFY_BATCH = 2000


def _chain_rows(db: DbSession, batch: int = VERIFY_BATCH) -> Iterator[Any]:
    """Every audit row in id order as a tuple (HASHED_COLUMNS, then the hash), `batch`
    at a time.

    Never load the trail as ORM objects in one go: a clinic's trail runs to
    millions of rows, and the identity map would hold them all (4 GB for a million).
    PostgreSQL streams one statement through a server-side cursor (one snapshot);
    SQLite pages by id (keyset), each page a short indexed range scan."""
    table = AuditEntry.__table__
    columns = select(*(table.c[name] for name in HASHED_COLUMNS), table.c.hash)
    if db.get_bind().dialect.name == "postgresql":
        result = db.execute(columns.order_by(AuditEntry.id).execution_options(yield_per=batch))
        try:
            for part in result.partitions():
                yield from part
        finally:
            result.close()
        return
    after: int | None = None
    while True:
        stmt = columns.order_by(AuditEntry.id).limit(batch)
        if after is not None:
            stmt = stmt.where(AuditEntry.id > after)
        rows = db.execute(stmt).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][0]


def verify(db: DbSession, batch: int = VERIFY_BATCH) -> VerifyResult:
    """Walk the chain in id order; report the first row that does not fit.

    Checks, per row: ids run 1, 2, 3… without gaps (a deleted row), the row's
    `prev_hash` is the previous row's hash (reordered or removed rows), and the
    row's own hash matches its content (an edited row). Then the tail must match
    `audit_head` (rows removed from the end). Rows are streamed `batch` at a time
    and checked as they come, so memory does not grow with the trail."""
    prev = GENESIS
    expected_id = 1
    count = 0
    for row in _chain_rows(db, batch):
        count += 1
        row_id = row[0]
        if row_id != expected_id:
            if row_id > expected_id:
                return VerifyResult(False, count, expected_id,
                                    f"row {expected_id} is missing (the next row is {row_id})")
            return VerifyResult(False, count, row_id, f"row {row_id} is out of order")
        content = dict(zip(HASHED_COLUMNS, row))
        content["at"] = content["at"].isoformat(timespec="microseconds")
        if _digest(content) != row[-1]:
            return VerifyResult(False, count, row_id, f"row {row_id} was altered (its content does not match "
                                                      "its hash)")
        if content["prev_hash"] != prev:
            return VerifyResult(False, count, row_id, f"row {row_id} does not follow row {row_id - 1} "
                                                      "(the chain is broken: rows altered, removed or reordered)")
        prev = row[-1]
        expected_id += 1
    head = db.get(AuditHead, 1)
    last_id = expected_id - 1
    if head is None:
        if count:
            return VerifyResult(False, count, None, "the audit head record is missing")
        return VerifyResult(True, 0)
    if head.last_id > last_id:
        return VerifyResult(False, count, last_id + 1,
                            f"row {last_id + 1} is missing: the trail should end at row {head.last_id}, "
                            f"but ends at row {last_id}")
    if head.last_id < last_id:
        return VerifyResult(False, count, head.last_id + 1,
                            f"row {head.last_id + 1} onwards were not written by ketamon (the trail should "
                            f"end at row {head.last_id})")
    if head.last_hash != prev or head.rows != count:
        return VerifyResult(False, count, last_id,
                            f"row {last_id} does not match the audit head (the last row was altered or "
                            "replaced)")
    return VerifyResult(True, count)
