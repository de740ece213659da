"""Alert rules (issue 4). Called by the charting operations inside their
transaction so an alert is raised atomically with the entry that caused it."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ketamon.core.models import Session
    from ketamon.core.ops.base import Op


def evaluate(op: "Op", session: "Session") -> None:
    """Re-evaluate the session's conditions after an entry; raise/clear alerts."""


def check_dose_allowed(op: "Op", session: "Session") -> None:
    """Raise ValidationError when dosing may not start yet (pre-dose gate)."""
