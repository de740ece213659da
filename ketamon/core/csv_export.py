"""A session's vital signs and events as CSV: one row per stored entry, in time
order, corrections and retractions included and marked, so a spreadsheet shows
the whole record as it was charted.

Times are ISO 8601 in the clinic's zone with the offset (unambiguous, and what a
reader expects to see); `measured_at` is when it happened, `entered_at` when it
was typed. Empty means not measured, never zero. Free text that a spreadsheet
would run as a formula (starting with = + - @) is prefixed with an apostrophe.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from ketamon.core.chart import describe_dose, describe_side_effect, describe_vitals
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.report import ASSESSMENT_KINDS, SessionReport, build_report
from ketamon.core.store import Store

COLUMNS = [
    "session_id", "mrn", "record", "entry_id", "measured_at", "entered_at", "entered_by", "status",
    "supersedes_id", "correction_reason", "late", "source",
    "systolic", "diastolic", "mean_arterial", "mean_measured", "heart_rate", "spo2", "resp_rate", "temperature",
    "on_oxygen", "consciousness",
    "event", "scale", "score", "description", "comment",
]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _time(when: datetime | None) -> str:
    return when.astimezone().isoformat(timespec="seconds") if when else ""


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _item(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "|".join(map(str, value)) or "none"
    return "" if value is None else str(value)


def _status(row, replaced_by: dict[int, Any]) -> str:
    if row.retracted:
        return "retraction"
    if row.id in replaced_by:
        return "entered in error" if replaced_by[row.id].retracted else "superseded"
    if getattr(row, "supersedes_id", None) is not None:
        return "correction"
    return "in force"


def rows(report: SessionReport) -> list[dict[str, str]]:
    """The CSV rows as dicts keyed by COLUMNS, in time order."""
    users = report.users
    name = lambda uid: users[uid].display_name if uid in users else ""  # noqa: E731
    base = {"session_id": str(report.session_id), "mrn": _text(report.mrn)}
    out: list[tuple[datetime, datetime, dict]] = []

    def add(at, entered, **fields):
        row = {c: "" for c in COLUMNS}
        row.update(base)
        row.update({"measured_at": _time(at), "entered_at": _time(entered)})
        row.update({k: v for k, v in fields.items()})
        out.append((at, entered or at, row))

    def entry_fields(r, replaced_by, who_id):
        return dict(entry_id=str(r.id), entered_by=_text(name(who_id)), status=_status(r, replaced_by),
                    supersedes_id=_num(r.supersedes_id), correction_reason=_text(r.correction_reason),
                    late=_flag(getattr(r, "late", None)))

    def replaced(entity):
        rs = report.all_rows.get(entity, [])
        return rs, {r.supersedes_id: r for r in rs if r.supersedes_id is not None}

    vit, rep = replaced("vital_signs")
    for v in vit:
        add(v.measured_at, v.entered_at, record="vital_signs", **entry_fields(v, rep, v.entered_by_id),
            source=v.source, systolic=_num(v.systolic), diastolic=_num(v.diastolic),
            mean_arterial=_num(v.mean_arterial),
            mean_measured="" if v.mean_arterial is None else _flag(v.mean_measured),
            heart_rate=_num(v.heart_rate), spo2=_num(v.spo2), resp_rate=_num(v.resp_rate),
            temperature=_num(v.temperature), on_oxygen=_flag(v.on_oxygen), consciousness=v.consciousness or "",
            description=_text("Entered in error" if v.retracted else describe_vitals(v)), comment=_text(v.comment))
    doses, rep = replaced("dose_event")
    for d in doses:
        add(d.at, d.entered_at, record="dose", **entry_fields(d, rep, d.entered_by_id), event=d.kind,
            score="", description=_text("Entered in error" if d.retracted else describe_dose(d)),
            comment=_text(d.comment))
    ses, rep = replaced("side_effect")
    for e in ses:
        add(e.observed_at, e.entered_at, record="side_effect", **entry_fields(e, rep, e.entered_by_id),
            event=e.kind, scale=e.scale or "", score=_num(e.score),
            description=_text("Entered in error" if e.retracted else describe_side_effect(e)))
    notes, rep = replaced("note")
    for n in notes:
        add(n.at, n.entered_at, record="note", **entry_fields(n, rep, n.entered_by_id), event="note",
            description=_text("Entered in error" if n.retracted else n.text))
    ass, rep = replaced("assessment")
    for a in ass:
        label = ASSESSMENT_KINDS.get(a.kind, (a.kind, None))[0]
        items = "; ".join(f"{k}={_item(v)}" for k, v in (a.items or {}).items())
        add(a.at, a.entered_at, record="assessment", **entry_fields(a, rep, a.entered_by_id), event=a.kind,
            scale=label, score=_num(a.total) if a.kind in ("phq9", "aldrete", "padss") else "",
            description=_text(items), comment=_text(a.comment))
    for c in report.state_changes:
        add(c.at, c.at, record="state", entry_id=str(c.id), entered_by=_text(name(c.by_id)), status="in force",
            event=c.to_state,
            description=f"{STATE_LABELS.get(c.from_state, c.from_state)} → {STATE_LABELS.get(c.to_state, c.to_state)}",
            comment=_text(c.reason))
    for a in report.alerts:
        parts = [f"{a.mark} {a.message}".strip()]
        if a.cleared_at:
            parts.append(f"cleared {_time(a.cleared_at)}")
        parts.append(a.acknowledgement if not a.acknowledged_at else
                     f"acknowledged {_time(a.acknowledged_at)} by {a.acknowledged_by or ''}")
        parts.append("not reviewed" if not a.reviewed_at else
                     f"reviewed {_time(a.reviewed_at)} by {a.reviewed_by or ''}")
        add(a.raised_at, a.raised_at, record="alert", entry_id=str(a.alert_id), status="in force",
            event=a.priority, scale=a.category, description=_text("; ".join(parts)),
            comment=_text(a.review_comment))
    for ad in report.all_rows.get("addendum", []):
        add(ad.at, ad.at, record="addendum", entry_id=str(ad.id), entered_by=_text(name(ad.author_id)),
            status="in force", event="addendum", description=_text(ad.text), comment=_text(ad.reason))
    out.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in out]


def to_csv(report: SessionReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows(report))
    return buf.getvalue()


def session_csv(store: Store, session_id: int, now: datetime | None = None) -> str:
    """The CSV text of one session (UTF-8 when written; RFC 4180 line ends)."""
    return to_csv(build_report(store, session_id, now=now))
