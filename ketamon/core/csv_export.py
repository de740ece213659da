"""A session's vital signs and events as CSV: one row per stored entry, in time
order, corrections and retractions included and marked, so a spreadsheet shows
the whole record as it was charted.

Times are ISO 8601 in the clinic's zone with the offset (unambiguous, and what a
reader expects to see); `measured_at` is when it happened, `entered_at` when it
was typed. Empty means not measured, never zero. Free text that a spreadsheet
would run as a formula (starting with = + - @) is prefixed with an apostrophe.

Written as it is read (`write_session_csv`): the vital-sign sets come from the
database in chunks and are merged in time order with the other entries, so a
12-hour 1 Hz session is never held in memory.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import chain
from operator import itemgetter
from typing import IO, Any

from ketamon.core.chart import describe_dose, describe_side_effect, describe_vitals
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.models import VitalSigns
from ketamon.core.report import ASSESSMENT_KINDS, SessionReport, build_report
from ketamon.core.store import Store
from ketamon.core.stored_vitals import StoredVitalSigns

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


class _LocalTimes:
    """`_time` for many rows: the local offset is looked up once per quarter hour
    of UTC (zones change offset on a quarter hour at the finest), not once per row.
    Also takes SQLite's stored text ("YYYY-MM-DD HH:MM:SS.ffffff", UTC): the local
    minute is worked out once per minute and the seconds copied, never parsed."""

    def __init__(self):
        self._offsets: dict[tuple, tuple[timedelta, str]] = {}
        #: stored minute "YYYY-MM-DD HH:MM" -> (local "YYYY-MM-DDTHH:MM", offset), or None: not the stored form
        self._minutes: dict[str, tuple[str, str] | None] = {}
        self._last: tuple[datetime | str | None, str] = (None, "")

    def __call__(self, when: datetime | str | None) -> str:
        if when is None:
            return ""
        last, text = self._last
        if when == last:  # a device set: entered when measured
            return text
        if when.__class__ is str:
            minute = self._minutes.get(when[:16], ())
            if minute == ():
                minute = self._minute(when)
            text = minute[0] + when[16:19] + minute[1] if minute else self.aware(_parse_utc(when))
        else:
            text = self.aware(when)
        self._last = (when, text)
        return text

    def aware(self, when: datetime) -> str:
        key = (when.year, when.month, when.day, when.hour, when.minute // 15)
        offset = self._offsets.get(key)
        if offset is None:
            local = when.astimezone()
            offset = self._offsets[key] = (local.utcoffset(), local.isoformat()[-6:] if local.utcoffset()
                                           else "+00:00")
        return (when + offset[0]).replace(tzinfo=None).isoformat(timespec="seconds") + offset[1]

    def _minute(self, stored: str) -> tuple[str, str] | None:
        """(local "YYYY-MM-DDTHH:MM", offset) of a stored time's minute; None when
        the text is not the stored form or the offset is not whole minutes."""
        if len(self._minutes) > 4096:
            self._minutes.clear()
        try:
            start = _parse_utc(stored[:16])
        except ValueError:
            start = None
        found = None
        if start is not None and len(stored) >= 19 and stored[16] == ":" and stored[19:20] in ("", "."):
            text = self.aware(start)  # "YYYY-MM-DDTHH:MM:00+hh:mm"
            if len(text) == 25 and text[16:19] == ":00":
                found = (text[:16], text[19:])
        self._minutes[stored[:16]] = found
        return found


def _parse_utc(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc)


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


def _other_rows(report: SessionReport) -> list[tuple[datetime, datetime, dict]]:
    """Every entry except the vital-sign sets, as (at, entered, row), sorted stably
    by (at, entered)."""
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
    return out


#: a stored vital-sign set's values in the order _vital_rows unpacks them
_VITAL_FIELDS = ("id", "measured_at", "entered_at", "entered_by_id", "supersedes_id", "correction_reason", "late",
                 "source", "systolic", "diastolic", "mean_arterial", "mean_measured", "heart_rate", "spo2",
                 "resp_rate", "temperature", "on_oxygen", "consciousness", "comment", "retracted")
_COLUMN_OF = {c.key: i for i, c in enumerate(VitalSigns.__table__.c)}
_vital_fields = itemgetter(*(_COLUMN_OF[f] for f in _VITAL_FIELDS))
#: the values describe_vitals reads (a slice: source … comment, in table order)
_DESCRIBED = slice(_COLUMN_OF["source"], _COLUMN_OF["comment"] + 1)
assert {k for k, i in _COLUMN_OF.items() if _DESCRIBED.start <= i < _DESCRIBED.stop} >= {
    "source", "systolic", "diastolic", "mean_arterial", "heart_rate", "spo2", "resp_rate", "temperature",
    "on_oxygen", "consciousness", "comment"}


def _vital_rows(report: SessionReport, vitals: Iterable[Any], replaced_by: dict[int, Any],
                artefacts: dict[int, str] | None = None) -> Iterator[tuple[Any, Any, list[str]]]:
    """The vital-sign sets as (measured_at, entered_at, row as a list in COLUMNS
    order). The hot path of a long session: one list per set, no dict. `vitals`:
    StoredVitalSigns or the driver's tuples (`stored_vitals(raw=True)`: times may
    be SQLite's text, flags 0/1); the description of a set is made once per
    distinct set of values (a monitor repeats itself). `artefacts`: {id: the verdict
    in words} of the device sets marked artefact (status "artefact": listed, out of
    the clinical figures)."""
    artefacts = artefacts or {}
    users = report.users
    names = {uid: _text(u.display_name) for uid, u in users.items()}
    session_id, mrn = str(report.session_id), _text(report.mrn)
    when = _LocalTimes()
    fields, described, make = _vital_fields, _DESCRIBED, StoredVitalSigns._make
    descriptions: dict[tuple, str] = {}
    num, text, flag = _num, _text, _flag
    for r in vitals:
        (vid, measured, entered, by, supersedes, reason, late, source, systolic, diastolic, mean, mean_measured,
         heart_rate, spo2, resp_rate, temperature, on_oxygen, consciousness, comment, retracted) = fields(r)
        if retracted:
            description = "Entered in error"
        else:
            key = r[described]
            description = descriptions.get(key)
            if description is None:
                if len(descriptions) > 4096:
                    descriptions.clear()
                description = descriptions[key] = text(describe_vitals(make(r)))
        if vid in replaced_by or supersedes is not None or retracted:
            status = _status(make(r), replaced_by)
        elif vid in artefacts:
            status = "artefact"
            description = f"{description} — {artefacts[vid]}"
        else:
            status = "in force"
        measured_text = when(measured)
        yield measured, entered or measured, [
            session_id, mrn, "vital_signs", str(vid), measured_text,
            measured_text if entered == measured else when(entered),
            names.get(by, ""), status, "" if supersedes is None else num(supersedes),
            text(reason), "" if late is None else ("yes" if late else "no"), source,
            # integer columns: str() is what _num gives an int
            "" if systolic is None else str(systolic), "" if diastolic is None else str(diastolic),
            "" if mean is None else str(mean), "" if mean is None else flag(mean_measured),
            "" if heart_rate is None else str(heart_rate), "" if spo2 is None else str(spo2),
            "" if resp_rate is None else str(resp_rate), "" if temperature is None else num(temperature),
            "" if on_oxygen is None else ("yes" if on_oxygen else "no"), consciousness or "", "", "", "",
            description, text(comment)]


def rows(report: SessionReport, vitals: Iterable[Any] | None = None,
         replaced_by: dict[int, Any] | None = None, artefacts: dict[int, str] | None = None) -> Iterator[list[str]]:
    """The CSV rows as lists in COLUMNS order, in time order (at one time: vital
    signs by id first, then doses, side effects, notes, assessments, steps, alerts,
    addenda). `vitals`: the stored sets ordered by (measured_at, entered_at, id)
    (StoredVitalSigns, or the driver's tuples: see `_vital_rows`), with
    `replaced_by` ({superseded id: replacing row}) and `artefacts` (see
    `_vital_rows`); default the report's."""
    if vitals is None:
        stored = report.all_rows.get("vital_signs", [])
        vitals = sorted(stored, key=lambda v: (v.measured_at, v.entered_at or v.measured_at, v.id))
        replaced_by = {r.supersedes_id: r for r in stored if r.supersedes_id is not None}
        if artefacts is None and report.sets is not None:
            artefacts = _artefact_words(report.sets.verdicts)
    others = [(at, entered, [row[c] for c in COLUMNS]) for at, entered, row in _other_rows(report)]
    sets = _vital_rows(report, vitals, replaced_by or {}, artefacts)
    first = next(sets, None)
    if first is None:
        yield from (row for _, _, row in others)
        return
    if first[0].__class__ is str:  # SQLite's stored text: the other entries' times compared as that text
        others = [(_stored_text(at), _stored_text(entered), row) for at, entered, row in others]
    # merged as heapq.merge would (at one time the vital signs first), without a key call per set
    i, n = 0, len(others)
    for measured, entered, row in chain((first,), sets):
        while i < n and (others[i][0] < measured or (others[i][0] == measured and others[i][1] < entered)):
            yield others[i][2]
            i += 1
        yield row
    for _, _, row in others[i:]:
        yield row


def _stored_text(when: datetime) -> str:
    """A time as SQLite stores it (UTC, "YYYY-MM-DD HH:MM:SS.ffffff"): compared as text, in time order."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def write_csv(report: SessionReport, out: IO[str], vitals: Iterable[Any] | None = None,
              replaced_by: dict[int, Any] | None = None, artefacts: dict[int, str] | None = None) -> None:
    """Write the CSV (RFC 4180 line ends) to `out`, row by row."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(report, vitals, replaced_by, artefacts))


def to_csv(report: SessionReport) -> str:
    buf = io.StringIO()
    write_csv(report, buf)
    return buf.getvalue()


def write_session_csv(store: Store, session_id: int, out: IO[str], now: datetime | None = None) -> None:
    """Write one session's CSV to `out`, the vital-sign sets streamed from the
    database (see the module doc)."""
    from ketamon.core.device_sets import device_verdicts
    from ketamon.core.stored_vitals import stored_vitals, vitals_replaced

    report = build_report(store, session_id, now=now, vitals=False)
    write_csv(report, out, stored_vitals(store, session_id, raw=True), vitals_replaced(store, session_id),
              _artefact_words(device_verdicts(store, session_id)))


def _artefact_words(verdicts: dict[int, Any]) -> dict[int, str]:
    """{id: "artefact: reason by … hh:mm"} of the device sets whose verdict in force is artefact."""
    from ketamon.core.report import verdict_words

    return {vid: verdict_words(v)[1] for vid, v in verdicts.items() if v.verdict == "artefact"}


def session_csv(store: Store, session_id: int, now: datetime | None = None) -> str:
    """The CSV text of one session (UTF-8 when written; RFC 4180 line ends)."""
    buf = io.StringIO()
    write_session_csv(store, session_id, buf, now)
    return buf.getvalue()
