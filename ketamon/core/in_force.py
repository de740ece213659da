"""Which clinical entries are in force: the one rule, in Python and in SQL.

Clinical entries are append-only. A correction is a new row whose
`supersedes_id` names the row it replaces; "entered in error" is such a row with
`retracted` set, and it retracts the entry it supersedes. So an entry is in force
when it is not a retraction and no other row supersedes it.

A device vital-sign set a nurse marked an artefact (its newest DeviceValidation
says "artefact") is out of force too, without being superseded: it stays in the
record (the event log, the printed table, the exports list it, labelled) but no
clinical figure uses it (alert rules, NEWS2, baseline, due times, the plot).
Validating it again puts it back in force. `in_force_clause(VitalSigns)` says so
in SQL (`artefact_set_clause` picks the labelled ones); `artefact_ids` gives the
ids for the readers that work in Python.

Every read model (chart, record, alert rules, screens, exports) asks this module;
never write the rule out again, or print and screen can disagree.
"""
from __future__ import annotations

from functools import cache
from typing import Iterable, TypeVar

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

T = TypeVar("T")


def superseded_ids(rows: Iterable) -> set[int]:
    """Ids of the rows some other row replaces (corrected or retracted)."""
    return {r.supersedes_id for r in rows if r.supersedes_id is not None}


def current(rows: Iterable[T]) -> list[T]:
    """The rows in force, in the order given. `rows` must hold every row of the
    session for that kind of entry (a superseding row outside it is not seen)."""
    rows = list(rows)
    gone = superseded_ids(rows)
    return [r for r in rows if r.id not in gone and not r.retracted]


def split(rows: Iterable[T]) -> tuple[list[T], set[int]]:
    """(rows in force, ids of the superseded rows): what the event log needs to
    strike through the replaced lines."""
    rows = list(rows)
    gone = superseded_ids(rows)
    return [r for r in rows if r.id not in gone and not r.retracted], gone


@cache
def in_force_clause(model):
    """WHERE clause: `model` rows not retracted and not superseded by another row
    (a NOT EXISTS on the superseding row, answered by the supersedes_id index);
    for vital signs, not marked artefact either (artefact_clause). Built once per
    model (clauses are immutable): building the alias and its comparison cost
    ~3 ms, and every save asks for it several times."""
    from ketamon.core.models import VitalSigns

    clause = _kept_clause(model)
    if model is VitalSigns:
        clause = and_(clause, ~artefact_clause())
    return clause


@cache
def _kept_clause(model):
    """WHERE clause: `model` rows not retracted and not superseded by another row."""
    newer = aliased(model)
    return and_(model.retracted.is_(False), ~exists().where(newer.supersedes_id == model.id))


#: the verdict that takes a device set out of force
ARTEFACT = "artefact"


@cache
def artefact_clause():
    """WHERE clause: the VitalSigns row's newest verdict is "artefact" (an EXISTS
    on device_validations by its vital_signs_id index; a set without a verdict,
    nearly all of them, costs one index probe)."""
    from ketamon.core.models import DeviceValidation, VitalSigns

    verdict, newer = aliased(DeviceValidation), aliased(DeviceValidation)
    return exists().where(verdict.vital_signs_id == VitalSigns.id, verdict.verdict == ARTEFACT,
                          ~exists().where(newer.vital_signs_id == verdict.vital_signs_id, newer.id > verdict.id))


@cache
def artefact_set_clause():
    """WHERE clause: a VitalSigns row out of force for its artefact verdict only
    (not retracted, not superseded): the sets the record still lists, labelled
    "artefact" (`Chart.artefact_sets`). Never a reading in force."""
    from ketamon.core.models import VitalSigns

    return and_(_kept_clause(VitalSigns), artefact_clause())


def newest_verdicts(rows: Iterable) -> dict[int, str]:
    """{vital_signs_id: verdict in force} from (vital_signs_id, verdict) rows in id order."""
    return {vid: verdict for vid, verdict in rows}


def artefact_ids(db: DbSession, session_id: int) -> set[int]:
    """Ids of the session's device sets whose verdict in force is "artefact" (one
    small query: a session has as many verdicts as a nurse gave)."""
    from ketamon.core.models import DeviceValidation

    rows = db.execute(select(DeviceValidation.vital_signs_id, DeviceValidation.verdict)
                      .where(DeviceValidation.session_id == session_id).order_by(DeviceValidation.id))
    return {vid for vid, verdict in newest_verdicts(rows).items() if verdict == ARTEFACT}


@cache
def _rows_of_session(model, order):
    """The statement of `current_rows`, built once: SQLAlchemy then finds its SQL by
    the statement's cache key, kept on it, instead of building and keying a new one
    on every call (an operation's checks run several per entry saved)."""
    return select(model).where(model.session_id == bindparam("session_id")).order_by(order, model.id)


def current_rows(db: DbSession, model, session_id: int, order) -> list:
    """One session's rows of `model` in force, by `order` then id (one query)."""
    return current(db.scalars(_rows_of_session(model, order), {"session_id": session_id}))
