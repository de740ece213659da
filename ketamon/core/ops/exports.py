"""Prints and exports are operations too: the role is checked and the audit trail
says who printed or exported which session, when, in what form and where to.

Call these *before* writing the file (GUI, CLI, scripts alike); when they refuse,
write nothing. They change no clinical data, so a signed session may be printed.

The esketamine monitoring form is paperwork the clinic files with the REMS: its
print, export and sending (`mark_form_sent`) are also stored as FormFiling rows,
from which its status is read (ketamon.core.rems.form_statuses). The form is
refused (rems.FormNotApplicable) for a session that is not esketamine.
"""
from __future__ import annotations

from sqlalchemy import select

from ketamon.core import inputs
from ketamon.core.errors import ValidationError
from ketamon.core.models import DoseEvent, FormFiling
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
    if what == "form":
        _file_form(op, s, "printed", destination or "")
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
    if fmt == "form":
        _file_form(op, s, "exported", destination or "")
    op.audit("export", entity="session", entity_id=s.id, session_id=s.id,
             detail=EXPORTS[fmt] + (f" → {destination}" if destination else ""))
    op.changes.mark(exports=True, session_id=s.id)
    op.changes.message = f"{EXPORTS[fmt]} exported"


def _file_form(op: Op, session, action: str, how: str, reference: str = "") -> FormFiling:
    """Refuse the form for a session that is not esketamine, else store the filing
    step in the version the session's form follows (its first filing's, else the newest)."""
    from ketamon.core import rems

    rems.check_form_applies(op.store, session)
    filing = FormFiling(session_id=session.id, template_version=rems.version_for_filing(op.db, session.id),
                        action=action, how=how, by_id=op.actor.user_id, at=op.now, reference=reference)
    op.db.add(filing)
    return filing


@operation(Permission.PRINT, "record that a monitoring form was sent")
def mark_form_sent(op: Op, session_id: int, how: str, reference: str = "") -> None:
    """Record that the session's esketamine monitoring form was sent to the REMS
    (how: fax, REMS portal, email…; reference: e.g. the fax confirmation). The
    form then leaves the queue of forms to file. Front desk, nurses and physicians."""
    inputs.MarkFormSentInput.check(op, locals())
    how, reference = (how or "").strip(), (reference or "").strip()
    if not how:
        raise ValidationError("Say how the form was sent (fax, REMS portal, email…).", "how", how)
    s = op.session(session_id, for_change=False)
    treated = op.db.scalar(select(DoseEvent.id).where(DoseEvent.session_id == s.id,
                                                      DoseEvent.kind == "nasal_device").limit(1))
    if treated is None:
        from ketamon.core import rems

        rems.check_form_applies(op.store, s)  # an IV session: that refusal first
        raise ValidationError(f"Session {s.id} has no esketamine device recorded yet; the form is sent after "
                              "the treatment.", "session_id", s.id)
    filing = _file_form(op, s, "sent", how, reference)
    op.audit("form_sent", entity="session", entity_id=s.id, session_id=s.id,
             after={"how": how, "reference": reference, "template_version": filing.template_version},
             detail=f"Esketamine monitoring form v{filing.template_version} sent by {how}"
                    + (f" (reference {reference})" if reference else ""))
    op.changes.mark(exports=True, session_id=s.id)
    op.changes.message = f"Monitoring form of session {s.id} marked as sent"
