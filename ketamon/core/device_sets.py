"""The nurse's verdicts on device vital-sign sets, as screens and exports say
them (a read model: the operations that record them are in ketamon.core.ops.device).

A device set without a verdict is "not validated"; the newest verdict is in force.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session as DbSession

from ketamon.core.in_force import ARTEFACT
from ketamon.core.models import DeviceValidation, User
from ketamon.core.store import Store


@dataclass(frozen=True)
class Verdict:
    verdict: str  # validated | artefact
    by: str
    at: datetime
    reason: str | None

    def text(self) -> str:
        said = "validated" if self.verdict == "validated" else f"artefact: {self.reason}"
        return f"Device, {said} ({self.by} {self.at.astimezone().strftime('%H:%M')})"


#: what a device set without a verdict says
NOT_VALIDATED = "Device, not validated"


def device_verdicts(store: Store, session_id: int) -> dict[int, Verdict]:
    """The verdict in force (the newest) for each device set of a session, by set id."""
    with store.read() as db:
        return verdicts_in(db, session_id)


def artefacts_of(verdicts: dict[int, Verdict]) -> set[int]:
    """The sets whose verdict in force is "artefact" (out of every clinical figure)."""
    return {vid for vid, v in verdicts.items() if v.verdict == ARTEFACT}


def _verdicts(*where):
    return (select(DeviceValidation, User.display_name).outerjoin(User, User.id == DeviceValidation.by_id)
            .where(*where).order_by(DeviceValidation.id))


#: built once (read after every saved set: see in_force._rows_of_session)
_SESSION_VERDICTS = _verdicts(DeviceValidation.session_id == bindparam("session_id"))


def verdicts_in(db: DbSession, session_id: int) -> dict[int, Verdict]:
    """`device_verdicts` in a transaction of the caller's (one query)."""
    return _verdicts_of(db.execute(_SESSION_VERDICTS, {"session_id": session_id}))


def verdicts_where(db: DbSession, *where) -> dict[int, Verdict]:
    """The verdict in force for each device set that `where` picks, in a read
    already open (one query)."""
    return _verdicts_of(db.execute(_verdicts(*where)))


def _verdicts_of(rows) -> dict[int, Verdict]:
    return {row.vital_signs_id: Verdict(row.verdict, name or "the system", row.at, row.reason)
            for row, name in rows}
