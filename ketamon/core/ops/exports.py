"""Prints and exports are operations too: the role is checked and the audit trail
says who printed or exported which session, when, in what form and where to.

Call these *before* writing the file (GUI, CLI, scripts alike); when they refuse,
write nothing. They change no clinical data, so a signed session may be printed.
"""
from __future__ import annotations

from ketamon.core.errors import ValidationError
from ketamon.core import inputs
from ketamon.core.ops.base import Op, operation
from ketamon.core.permissions import Permission

#: what may be printed -> words for the audit trail and the status bar
PRINTS = {"summary": "Session summary", "form": "Esketamine monitoring form"}
#: export formats -> words
EXPORTS = {"fhir": "FHIR R4 bundle", "csv": "CSV of vital signs and events", "form": "Monitoring form data (JSON)"}


@operation(Permission.PRINT, "print session summaries")
def record_print(op: Op, session_id: int, what: str = "summary", *, destination: str | None = None) -> None:
    """Audit a print (PDF, paper or preview) of a session's summary or monitoring form."""
    inputs.PrintInput.check(op, locals())
    if what not in PRINTS:
        raise ValidationError(f"Cannot print {what!r}: choose one of {', '.join(PRINTS)}.", "what", what)
    s = op.session(session_id, for_change=False)
    op.audit("print", entity="session", entity_id=s.id, session_id=s.id,
             detail=PRINTS[what] + (f" → {destination}" if destination else ""))
    op.changes.mark(exports=True, session_id=s.id)
    op.changes.message = f"{PRINTS[what]} printed"


@operation(Permission.EXPORT, "export session records")
def record_export(op: Op, session_id: int, fmt: str, *, destination: str | None = None) -> None:
    """Audit an export of a session in one of EXPORTS' formats."""
    inputs.ExportInput.check(op, locals())
    if fmt not in EXPORTS:
        raise ValidationError(f"Cannot export as {fmt!r}: choose one of {', '.join(EXPORTS)}.", "fmt", fmt)
    s = op.session(session_id, for_change=False)
    op.audit("export", entity="session", entity_id=s.id, session_id=s.id,
             detail=EXPORTS[fmt] + (f" → {destination}" if destination else ""))
    op.changes.mark(exports=True, session_id=s.id)
    op.changes.message = f"{EXPORTS[fmt]} exported"
