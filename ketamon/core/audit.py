"""The audit trail: an append-only table whose rows are hash-chained, and which
covers the clinical record itself.

Each row's hash is SHA-256 over its canonical content and the previous row's
hash, so editing, deleting or reordering any row breaks the chain from there on.
Appends take a lock so two workstations on one PostgreSQL database cannot fork
the chain. Every append also updates the one-row `audit_head` (last id, last
hash, row count) in the same transaction, so rows removed from the end show.

The record: every clinical row a transaction writes (inserted, updated, deleted:
captured by `track()` from the ORM's flushes and from Core statements run through
the session, so no operation has to remember it) is listed under the audit row
that wrote it, in `audit_record`, with a digest of its stored values; the audit
row's `record_digest` (hashed with the row) covers that list. `verify()` then
re-reads every clinical table and compares each row with its newest digest: a
row changed, deleted or added outside ketamon is named with the audit row after
which it changed. Cutting the last audit rows shows too when they wrote clinical
rows (those rows are then not covered).

The clinic key (setting `audit_key_file`): with it, rows from `audit_head.key_from`
on are sealed with HMAC-SHA256 and the head carries a seal, so someone with write
access but without the key cannot recompute the hashes, nor rewrite the head to
hide a cut tail. Without a key file, someone with write access who recomputes
every hash, digest and the head with this module's code is NOT caught (nothing
secret distinguishes ketamon from them); nor is a cut of trailing rows that wrote
no clinical row (a print, a sign-in). Databases that never had a key verify as
before.

Never change an encoding here (`_digest`, `row_digest`, `record_digest`): every
stored hash depends on them. A migration that rewrites clinical values must write
a new baseline (`baseline()`), or verify will name every row it changed.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, bindparam, func, insert, literal, select, text, tuple_
from sqlalchemy.orm import Session as DbSession

from ketamon.core import settings
from ketamon.core.errors import KetamonError
from ketamon.core.models import AuditEntry, AuditHead, AuditRecord, Base

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6B6574  # "ket"

#: tables that are the audit trail itself, not the record it covers, and the live notices (change_log)
UNTRACKED = frozenset({"audit_log", "audit_head", "audit_record", "alembic_version", "change_log"})
#: db.info key: the tables as stored (reflected) for the baseline's digests
_AS_STORED = "ketamon_audit_tables_as_stored"


def record_tables() -> list[Table]:
    """Every clinical table (patients, sessions, entries, alerts, users, settings…):
    all of the models but the audit's own. A new model is covered without a change here."""
    return [t for t in Base.metadata.sorted_tables if t.name not in UNTRACKED]


#: the columns a row's hash covers (every column but the hash itself); `record_digest`
#: joins them only when set, so rows written before it existed keep their hashes
HASHED_COLUMNS = ("id", "at", "user_id", "username", "action", "entity", "entity_id", "session_id", "before",
                  "after", "detail", "prev_hash")
_STREAMED = HASHED_COLUMNS + ("record_digest",)


class AuditKeyError(KetamonError):
    """The clinic's audit key file is missing, unsafe or not the clinic's; the message says which."""


def _digest(content: dict[str, Any], key: bytes | None = None) -> str:
    """SHA-256 (HMAC-SHA256 with the clinic key) of the canonical JSON of a row's
    hashed columns, `at` already as ISO text. Never change the encoding."""
    if content.get("record_digest") is None:
        content.pop("record_digest", None)
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":")).encode()
    if key is not None:
        return hmac.new(key, canonical, hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical).hexdigest()


def row_hash(row: Any, key: bytes | None = None) -> str:
    """The chain hash of one row: an `AuditEntry` or anything with the same attributes."""
    content = {name: getattr(row, name) for name in HASHED_COLUMNS}
    content["record_digest"] = getattr(row, "record_digest", None)
    content["at"] = row.at.isoformat(timespec="microseconds")
    return _digest(content, key)


def _canon(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_digest(values: Mapping[str, Any]) -> str:
    """Digest of one clinical row as stored: its non-NULL columns (so a nullable
    column added later leaves every digest as it was), times as naive UTC."""
    content = {k: _canon(v) for k, v in values.items() if v is not None}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str, separators=(",", ":")).encode()
                          ).hexdigest()


def record_digest(items: Iterable[tuple[str, int, str | None]]) -> str:
    """Digest of an audit row's record items, (table, row id, row digest or None), in `seq` order."""
    h = hashlib.sha256()
    for table, row_id, digest in items:
        h.update(_record_line(table, row_id, digest))
    return h.hexdigest()


def _record_line(table: str, row_id: int, digest: str | None) -> bytes:
    return f"{table}|{row_id}|{digest or '-'}\n".encode()


# ---------------------------------------------------------------- the clinic key


def load_key(path: Path | str | None = None) -> bytes | None:
    """The clinic's audit key from `path` (default: the `audit_key_file` setting);
    None when none is set. Refused when others than its owner can read it."""
    if path is None:
        path = settings.get("audit_key_file")
        if path is None:
            return None
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise AuditKeyError(f"the audit key file {path} cannot be read ({exc.strerror})") from None
    if os.name != "nt" and mode & 0o077:
        raise AuditKeyError(f"the audit key file {path} can be read by others than its owner (mode "
                            f"{mode & 0o777:o}); make it readable by its owner only: chmod 600 {path}")
    if len(data) < 32:
        raise AuditKeyError(f"the audit key file {path} holds fewer than 32 characters; put a long random key "
                            "in it (e.g. `openssl rand -hex 32`)")
    return data


def key_id(key: bytes) -> str:
    """Names a key without revealing it: which key sealed the trail."""
    return hmac.new(key, b"ketamon audit key", hashlib.sha256).hexdigest()


def head_seal(key: bytes, last_id: int, last_hash: str, rows: int, key_from: int | None) -> str:
    return hmac.new(key, f"{last_id}|{last_hash}|{rows}|{key_from}".encode(), hashlib.sha256).hexdigest()


_UNSET: Any = object()


# ---------------------------------------------------------------- snapshots


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


# ---------------------------------------------------------------- capturing what a transaction writes

_TOUCHED = "ketamon_audit_touched"


def touched(db: DbSession, restore: dict[str, set[int]] | None | object = _UNSET) -> dict[str, set[int]] | None:
    """The clinical rows the transaction wrote that no audit row lists yet (a
    copy); with `restore`, put back what an earlier call returned (a savepoint
    rolled back: the rows it wrote are gone and must not be listed)."""
    if restore is not _UNSET:
        if restore:
            db.info[_TOUCHED] = {table: set(ids) for table, ids in restore.items()}
        else:
            db.info.pop(_TOUCHED, None)
        return None
    now = db.info.get(_TOUCHED)
    return {table: set(ids) for table, ids in now.items()} if now else None


def _touch(db: DbSession, table: str, ids: Iterable[int]) -> None:
    db.info.setdefault(_TOUCHED, {}).setdefault(table, set()).update(i for i in ids if i is not None)


#: (number of tables in the metadata, the clinical tables by name): `sorted_tables`
#: sorts the whole schema on every call, and every flush and every audit row asks
_tracked: list[tuple[int, dict[str, Table]]] = []


def _tracked_tables() -> dict[str, Table]:
    """record_tables() by name, computed again only when a table is added."""
    count = len(Base.metadata.tables)
    if not _tracked or _tracked[0][0] != count:
        _tracked[:] = [(count, {t.name: t for t in record_tables()})]
    return _tracked[0][1]


def _after_flush(db: DbSession, _flush_context: Any) -> None:
    tracked = _tracked_tables()
    for obj in list(db.new) + list(db.deleted) + [o for o in db.dirty if db.is_modified(o)]:
        table = getattr(obj, "__table__", None)
        if table is not None and table.name in tracked:
            _touch(db, table.name, [getattr(obj, "id", None)])


def _do_orm_execute(state: Any) -> Any:
    """Core-level INSERT/UPDATE/DELETE on a clinical table, run through the session:
    the rows it hits are captured like the ORM's (UPDATE/DELETE: read by its WHERE
    first; INSERT: the ids above the largest before it)."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    if not isinstance(table, Table) or table.name not in _tracked_tables():
        return None
    db = state.session
    if state.is_insert:
        before = db.execute(select(func.max(table.c.id))).scalar() or 0
        result = state.invoke_statement()
        _touch(db, table.name, db.execute(select(table.c.id).where(table.c.id > before)).scalars())
        return result
    where = state.statement.whereclause
    ids_stmt = select(table.c.id) if where is None else select(table.c.id).where(where)
    _touch(db, table.name, db.execute(ids_stmt).scalars())
    return None


def _clear(db: DbSession, *_args: Any) -> None:
    db.info.pop(_TOUCHED, None)


def track(sessions: Any, now: Any) -> None:
    """Capture every clinical write in sessions made by `sessions` (a sessionmaker)
    and make sure each is covered by an audit row. `now()` dates the row written for
    writes no `append()` covered (made outside an operation: a set-up script, a
    benchmark's bulk insert), so they are audited rather than left to look forged."""
    from sqlalchemy import event

    def before_commit(db: DbSession) -> None:
        db.flush()
        if db.info.get(_TOUCHED):
            append(db, now(), None, None, [])

    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "do_orm_execute", _do_orm_execute)
    event.listen(sessions, "before_commit", before_commit)
    event.listen(sessions, "after_rollback", _clear)


_ROWS_BY_ID: dict[Table, Any] = {}


def _rows_by_id(table: Table, keep: bool = True) -> Any:
    """SELECT a table's rows by a list of ids (bound as "ids"), built once per table of
    the models (each operation reads back the rows it wrote: see
    ketamon.core.in_force._rows_of_session); `keep=False` for a migration's reflected tables."""
    stmt = _ROWS_BY_ID.get(table)
    if stmt is None:
        stmt = select(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        if keep:
            _ROWS_BY_ID[table] = stmt
    return stmt


def _record_items(db: DbSession, touched: dict[str, set[int]]) -> list[tuple[str, int, str | None]]:
    """(table, id, digest of the row as now stored, None if gone), sorted: what an audit row lists."""
    as_stored = db.info.pop(_AS_STORED, None)  # a migration's reflected tables: used once
    tables = as_stored or _tracked_tables()
    items: list[tuple[str, int, str | None]] = []
    for name in sorted(touched):
        table = tables[name]
        stmt = _rows_by_id(table, keep=as_stored is None)
        ids = sorted(touched[name])
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            found = {row.id: row_digest(row._mapping) for row in db.execute(stmt, {"ids": chunk})}
            items.extend((name, i, found.get(i)) for i in chunk)
    return items


# ---------------------------------------------------------------- appending


#: the chain's last row, read by every operation: built once
_LAST_ROW = select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)


def append(db: DbSession, at: datetime, user_id: int | None, username: str | None, items: list[PendingAudit],
           key: bytes | None = _UNSET) -> None:
    """Append rows to the chain inside the caller's transaction. The clinical rows
    the transaction wrote so far are listed under the last of them; with none
    given but rows written, one "record" row covers them."""
    db.flush()
    touched = db.info.pop(_TOUCHED, None) or {}
    if not items and not touched:
        return
    if not items:
        items = [PendingAudit("record", detail="written outside an operation: " + ", ".join(sorted(touched)))]
    if key is _UNSET:
        key = load_key()
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = db.execute(_LAST_ROW).first()
    prev = last.hash if last else GENESIS
    next_id = (last.id if last else 0) + 1
    head = db.get(AuditHead, 1)
    if head is not None and head.key_id is not None:
        if key is None:
            raise AuditKeyError("the audit trail is sealed with the clinic's audit key and this workstation has "
                                "no key file; set KETAMON_AUDIT_KEY_FILE to the clinic's key file")
        if key_id(key) != head.key_id:
            raise AuditKeyError("the audit key file of this workstation is not the key the clinic's audit trail "
                                "is sealed with")
    key_from = head.key_from if head is not None and head.key_from is not None else (next_id if key else None)
    record = _record_items(db, touched)
    for n, item in enumerate(items):
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
            record_digest=record_digest(record) if record and n == len(items) - 1 else None,
        )
        row.hash = row_hash(row, key if key_from is not None and next_id >= key_from else None)
        db.add(row)
        prev = row.hash
        next_id += 1
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS, rows=0)
        db.add(head)
    head.rows = next_id - 1
    head.last_id = next_id - 1
    head.last_hash = prev
    if key is not None:
        head.key_from, head.key_id = key_from, key_id(key)
        head.seal = head_seal(key, head.last_id, head.last_hash, head.rows, key_from)
    db.flush()  # the rows and the head at once (a flush is most of an audit row's cost)
    if record:  # after its audit row, which it points at
        db.execute(insert(AuditRecord.__table__), [
            dict(audit_id=next_id - 1, seq=seq, table_name=t, row_id=i, digest=d)
            for seq, (t, i, d) in enumerate(record)])


def baseline(db: DbSession, at: datetime, detail: str, batch: int = 2000) -> None:
    """One audit row listing every clinical row as it stands (when the record first
    became covered: the migration that added it). Nothing written when there is no
    clinical row (a new clinic). Never holds more than `batch` rows' digests besides
    the ids it lists."""
    # The tables as the database holds them at this revision, not as the models
    # are now: a table or a nullable column added by a later migration does not
    # exist yet when this runs (and a NULL column never enters a row digest).
    stored = MetaData()
    stored.reflect(bind=db.connection(), only=lambda name, _: name not in UNTRACKED)
    touched: dict[str, set[int]] = {}
    for table in stored.sorted_tables:
        ids = set(db.execute(select(table.c.id)).scalars())
        if ids:
            touched[table.name] = ids
    if touched:
        db.info[_TOUCHED] = touched
        db.info[_AS_STORED] = {t.name: t for t in stored.sorted_tables}
        append(db, at, None, None, [PendingAudit("baseline", detail=detail)])


# ---------------------------------------------------------------- verifying


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    bad_id: int | None = None
    problem: str = ""
    #: every problem found, the first one being `problem` (at most MAX_FINDINGS; `more` counts the rest)
    findings: list[str] = field(default_factory=list)
    more: int = 0
    #: clinical rows compared with the trail
    record_rows: int = 0
    #: the trail is sealed with the clinic key and was checked with it
    keyed: bool = False


#: rows per batch while verifying: memory stays bounded by this, not by the trail
VERIFY_BATCH = 2000
#: problems listed by name; beyond this they are counted
MAX_FINDINGS = 50


def _pages(db: DbSession, stmt: Any, key_cols: list[Any], batch: int) -> Iterator[Any]:
    """`stmt` ordered by `key_cols` (unique), `batch` rows at a time, keyset-paged:
    each page a short indexed range scan, nothing held between pages."""
    after: tuple | None = None
    n = len(key_cols)
    while True:
        page = stmt.order_by(*key_cols).limit(batch)
        if after is not None:
            if n == 1:
                page = page.where(key_cols[0] > after[0])
            else:
                # a row value, not an OR: both databases then walk the index from there
                page = page.where(tuple_(*key_cols) > tuple_(*(literal(v) for v in after)))
        rows = db.execute(page).all()
        yield from rows
        if len(rows) < batch:
            return
        after = tuple(rows[-1]._mapping[c] for c in key_cols)


def _chain_rows(db: DbSession, batch: int = VERIFY_BATCH) -> Iterator[Any]:
    """Every audit row in id order as a tuple (HASHED_COLUMNS, record_digest, hash),
    `batch` at a time.

    Never load the trail as ORM objects in one go: a clinic's trail runs to
    millions of rows, and the identity map would hold them all (4 GB for a million)."""
    table = AuditEntry.__table__
    columns = select(*(table.c[name] for name in _STREAMED), table.c.hash)
    yield from _pages(db, columns, [table.c.id], batch)


class _Findings:
    def __init__(self) -> None:
        self.items: list[tuple[int | None, str]] = []
        self.more = 0

    def add(self, bad_id: int | None, problem: str) -> None:
        if len(self.items) < MAX_FINDINGS:
            self.items.append((bad_id, problem))
        else:
            self.more += 1


def _walk_chain(db: DbSession, batch: int, key: bytes | None, found: _Findings) -> tuple[int, bool]:
    """The chain, the record lists it covers, and the head. Returns (rows, keyed)."""
    head = db.get(AuditHead, 1)
    key_from = head.key_from if head is not None else None
    keyed = False
    if key_from is not None:
        if key is None:
            found.add(key_from, f"rows {key_from} onwards are sealed with the clinic's audit key; set "
                                "KETAMON_AUDIT_KEY_FILE to its key file to verify them")
        elif head.key_id != key_id(key):
            found.add(None, "the audit key file given is not the key this trail is sealed with")
        else:
            keyed = True
    elif key is not None and head is not None:
        found.add(None, "the audit trail is not sealed with the clinic's audit key (nothing has been written "
                        "with the key yet, or the seal was removed)")
    seal_key = key if keyed else None

    rec_table = AuditRecord.__table__
    items = _pages(db, select(rec_table.c.audit_id, rec_table.c.seq, rec_table.c.table_name, rec_table.c.row_id,
                              rec_table.c.digest), [rec_table.c.audit_id, rec_table.c.seq], batch)
    pending = next(items, None)
    orphans = _Findings()

    prev = GENESIS
    expected_id = 1
    count = 0
    broken = False
    for row in _chain_rows(db, batch):
        count += 1
        row_id = row[0]
        # the record items this row lists
        while pending is not None and pending[0] < row_id:
            orphans.add(pending[0], _ORPHAN.format(id=pending[0]))
            while pending is not None and pending[0] < row_id:
                pending = next(items, None)
        # hashed as they stream: one bulk write can list hundreds of thousands of rows
        listed, n_listed = hashlib.sha256(), 0
        while pending is not None and pending[0] == row_id:
            listed.update(_record_line(pending[2], pending[3], pending[4]))
            n_listed += 1
            pending = next(items, None)
        if broken:
            continue
        if row_id != expected_id:
            broken = True
            if row_id > expected_id:
                found.add(expected_id, f"row {expected_id} is missing (the next row is {row_id})")
            else:
                found.add(row_id, f"row {row_id} is out of order")
            continue
        content = dict(zip(_STREAMED, row))
        content["at"] = content["at"].isoformat(timespec="microseconds")
        sealed = seal_key is not None and row_id >= key_from
        if key_from is not None and row_id >= key_from and seal_key is None:
            pass  # cannot check the seal without the key (already reported); the links still are
        elif _digest(dict(content), seal_key if sealed else None) != row[-1]:
            broken = True
            found.add(row_id, f"row {row_id} was altered (its content does not match its "
                              f"{'seal' if sealed else 'hash'})")
            continue
        if content["prev_hash"] != prev:
            broken = True
            found.add(row_id, f"row {row_id} does not follow row {row_id - 1} (the chain is broken: rows "
                              "altered, removed or reordered)")
            continue
        expected = content["record_digest"]
        if (expected is None and n_listed) or (expected is not None and listed.hexdigest() != expected):
            found.add(row_id, f"row {row_id}'s list of the clinical rows it wrote was altered")
        prev = row[-1]
        expected_id += 1
    while pending is not None:
        orphans.add(pending[0], _ORPHAN.format(id=pending[0]))
        while True:
            nxt = next(items, None)
            if nxt is None or nxt[0] != pending[0]:
                pending = nxt
                break
    if not broken:
        _check_head(head, count, expected_id - 1, prev, key if keyed else None, found)
    for bad_id, problem in orphans.items:
        found.add(bad_id, problem)
    found.more += orphans.more
    return count, keyed


_ORPHAN = "the list of clinical rows written by row {id} is there, but row {id} is not"


def _check_head(head: Any, count: int, last_id: int, prev: str, key: bytes | None, found: _Findings) -> None:
    if head is None:
        if count:
            found.add(None, "the audit head record is missing")
        return
    if head.last_id > last_id:
        found.add(last_id + 1, f"row {last_id + 1} is missing: the trail should end at row {head.last_id}, "
                               f"but ends at row {last_id}")
    elif head.last_id < last_id:
        found.add(head.last_id + 1, f"row {head.last_id + 1} onwards were not written by ketamon (the trail "
                                    f"should end at row {head.last_id})")
    elif head.last_hash != prev or head.rows != count:
        found.add(last_id, f"row {last_id} does not match the audit head (the last row was altered or "
                           "replaced)")
    elif key is not None and head.seal != head_seal(key, head.last_id, head.last_hash, head.rows, head.key_from):
        found.add(last_id, "the audit head's seal does not match (the head was rewritten: rows removed from "
                           "the end?)")


def _when(db: DbSession, audit_id: int) -> str:
    row = db.execute(select(AuditEntry.at, AuditEntry.username).where(AuditEntry.id == audit_id)).first()
    if row is None:
        return f"audit row {audit_id}"
    return f"audit row {audit_id} ({row.at:%Y-%m-%d %H:%M} by {row.username or 'ketamon'})"


def _check_table(db: DbSession, table: Table, batch: int, found: _Findings) -> int:
    """Merge-join the table's rows (by id) with the newest record item of each (by row id)."""
    r, r2 = AuditRecord.__table__.alias("r"), AuditRecord.__table__.alias("r2")
    newest = (select(func.max(r2.c.audit_id)).where(r2.c.table_name == r.c.table_name, r2.c.row_id == r.c.row_id)
              .scalar_subquery())
    latest = _pages(db, select(r.c.row_id, r.c.digest, r.c.audit_id)
                    .where(r.c.table_name == table.name, r.c.audit_id == newest), [r.c.row_id], batch)
    rows = _pages(db, select(table), [table.c.id], batch)
    name = table.name
    item = next(latest, None)
    count = 0
    for row in rows:
        count += 1
        while item is not None and item[0] < row.id:
            if item[1] is not None:
                found.add(None, f"{name} row {item[0]} was deleted outside ketamon after {_when(db, item[2])}")
            item = next(latest, None)
        if item is None or item[0] > row.id:
            found.add(None, f"{name} row {row.id} was added outside ketamon (no audit row wrote it)")
            continue
        if item[1] is None:
            found.add(None, f"{name} row {row.id} was added outside ketamon (ketamon deleted it in "
                            f"{_when(db, item[2])})")
        elif row_digest(row._mapping) != item[1]:
            found.add(None, f"{name} row {row.id} was changed outside ketamon after {_when(db, item[2])}")
        item = next(latest, None)
    while item is not None:
        if item[1] is not None:
            found.add(None, f"{name} row {item[0]} was deleted outside ketamon after {_when(db, item[2])}")
        item = next(latest, None)
    return count


def verify(db: DbSession, batch: int = VERIFY_BATCH, key: bytes | None = _UNSET) -> VerifyResult:
    """Walk the chain in id order, then compare every clinical row with the trail.

    The chain, per row: ids run 1, 2, 3… without gaps (a deleted row), the row's
    `prev_hash` is the previous row's hash (reordered or removed rows), the row's
    own hash (its seal, with the clinic key) matches its content (an edited row),
    and its list of the clinical rows it wrote matches its `record_digest`. Then the
    tail must match `audit_head` (and its seal). The record: each clinical row must
    match the newest digest the trail holds for it; a row without one was added
    outside ketamon, a digest without its row was deleted outside it.

    Everything is streamed `batch` rows at a time, so memory does not grow with the
    trail or the record. `key` defaults to the clinic key of the `audit_key_file`
    setting (AuditKeyError when that file is unsafe)."""
    if key is _UNSET:
        key = load_key()
    if db.get_bind().dialect.name == "postgresql" and not db.in_transaction():
        # one snapshot for the whole walk: pages read later must not see newer writes
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    found = _Findings()
    count, keyed = _walk_chain(db, batch, key, found)
    record_rows = sum(_check_table(db, table, batch, found) for table in record_tables())
    if not found.items:
        return VerifyResult(True, count, record_rows=record_rows, keyed=keyed)
    bad_id, problem = found.items[0]
    return VerifyResult(False, count, bad_id, problem, [p for _i, p in found.items], found.more, record_rows, keyed)
