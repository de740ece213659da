"""One HL7 v2 ORU^R01 message of the IHE PCD-01 profile, read into what ketamon
charts: where it comes from (chair in PV1-3, monitor id in MSH-3 / OBX-18, the
patient in PID-3), the values by field with their time, and the values refused
with the reason. Parsed with python-hl7 (`hl7.parse`); pure, no database.

Times: OBX-14 when present, else the group's OBR-7, else MSH-7 (IHE PCD TF-2).
A time without an offset is the workstation's local time, as a typed one is.
A message is refused whole (`Refused`) when it is not HL7, not ORU^R01, or has
observations without an OBR; one value that cannot be charted as sent (unknown
unit, unit of another dimension, not a number) is a `Problem` and the others
are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import hl7

from ketamon.core.errors import ValidationError
from ketamon.core.feed import mdc

#: the largest message accepted (a PCD-01 message of a full monitor is a few kB)
MAX_BYTES = 64 * 1024

#: HL7 table 0357 error conditions used in ERR-3
SEQUENCE_ERROR, REQUIRED_MISSING, DATA_TYPE_ERROR = "100", "101", "102"
UNSUPPORTED_MESSAGE, UNKNOWN_KEY, INTERNAL_ERROR = "200", "204", "207"


@dataclass(frozen=True)
class Header:
    """What an acknowledgement needs from the message's MSH."""

    control_id: str = ""
    sending_app: str = ""
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""
    version: str = "2.6"
    processing_id: str = "P"
    #: MSH-15/16 set: the sender asks for accept acknowledgements (CA/CE/CR)
    enhanced: bool = False
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """One value ketamon charts, in ketamon's unit, with the time it was measured."""

    field: str
    value: float | int
    at: datetime | None
    code: str


@dataclass(frozen=True)
class Problem:
    """One value refused as sent; it is charted as an artefact, never as a value."""

    code: str
    text: str


@dataclass(frozen=True)
class DeviceMessage:
    header: Header
    chair: str | None
    monitor_ids: tuple[str, ...]
    patient_ids: tuple[str, ...]
    readings: tuple[Reading, ...]
    problems: tuple[Problem, ...]


class Refused(ValidationError):
    """The whole message is refused: nothing is stored. `error_code` is HL7 table
    0357's; `header` is what could be read of the MSH (None for garbage)."""

    def __init__(self, message: str, header: Header | None, error_code: str, *, chair: str | None = None,
                 session_id: int | None = None):
        super().__init__(message, "message", None)
        self.header = header
        self.error_code = error_code
        self.chair = chair
        self.session_id = session_id


def decode(raw: bytes) -> str:
    """The message's text: UTF-8, else Latin-1 (HL7's usual 8859/1); any line
    ending taken as the segment separator."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip("\x0b\x1c\r\n ").replace("\r\n", "\r").replace("\n", "\r")


def parse(raw: bytes) -> DeviceMessage:
    """Read one message; raises Refused with the reason when it cannot be used."""
    if len(raw) > MAX_BYTES:
        raise Refused(f"The message is {len(raw)} bytes, more than the {MAX_BYTES} accepted.", None,
                      DATA_TYPE_ERROR)
    try:
        msg = hl7.parse(decode(raw))
        msh = msg.segment("MSH")
    except Exception:  # python-hl7 raises ParseException, IndexError, KeyError… on garbage
        raise Refused("This is not an HL7 v2 message (no readable MSH segment).", None, DATA_TYPE_ERROR) from None
    header = _header(msh)
    kind = (_part(msh, 9, 1), _part(msh, 9, 2))
    if kind != ("ORU", "R01"):
        raise Refused(f"Message type {'^'.join(kind)} is not ORU^R01 (observation results).", header,
                      UNSUPPORTED_MESSAGE)
    try:
        readings, problems = _observations(msg, header)
    except Refused as exc:
        exc.chair = _chair(msg)  # the technical alert names the chair, and its next good message resolves it
        raise
    return DeviceMessage(header=header, chair=_chair(msg), monitor_ids=_monitor_ids(msg),
                         patient_ids=_patient_ids(msg), readings=readings, problems=problems)


def _part(segment, field: int, component: int = 1, repetition: int = 0) -> str:
    """One component of one field as text, "" where the segment is shorter."""
    if field >= len(segment):
        return ""
    reps = str(segment[field]).split("~")
    if repetition >= len(reps):
        return ""
    parts = reps[repetition].split("^")
    return parts[component - 1].strip() if component <= len(parts) else ""


def _repetitions(segment, field: int) -> int:
    return len(str(segment[field]).split("~")) if field < len(segment) else 0


def _time(text: str) -> datetime | None:
    """An HL7 TS (YYYYMMDDHHMMSS[.S][+ZZZZ]); None when empty. ValueError when unreadable."""
    if not text:
        return None
    try:
        return hl7.parse_datetime(text)
    except Exception:
        raise ValueError(f"time {text[:26]!r} is not an HL7 time") from None


def _header(msh) -> Header:
    try:
        sent = _time(_part(msh, 7))
    except ValueError:
        sent = None
    return Header(control_id=_part(msh, 10)[:50], sending_app=_part(msh, 3)[:50],
                  sending_facility=_part(msh, 4)[:50], receiving_app=_part(msh, 5)[:50],
                  receiving_facility=_part(msh, 6)[:50], version=_part(msh, 12)[:10] or "2.6",
                  processing_id=_part(msh, 11)[:3] or "P", enhanced=bool(_part(msh, 15) or _part(msh, 16)),
                  sent_at=sent)


def _observations(msg, header: Header) -> tuple[tuple[Reading, ...], tuple[Problem, ...]]:
    """The values by field (one per field: the preferred code, the first sent) and the problems."""
    group_time: datetime | None = None
    seen_obr = False
    chosen: dict[str, Reading] = {}
    problems: list[Problem] = []
    for segment in msg:
        name = str(segment[0])
        if name == "OBR":
            seen_obr = True
            try:
                group_time = _time(_part(segment, 7)) or header.sent_at
            except ValueError as exc:
                raise Refused(f"OBR-7 {exc}.", header, DATA_TYPE_ERROR) from None
        elif name == "OBX":
            if not seen_obr:
                raise Refused("The observations (OBX) come without an OBR segment: no group, no time; "
                              "nothing was stored.", header, SEQUENCE_ERROR)
            reading = _reading(segment, group_time, problems)
            if reading is not None and _preferred(reading, chosen.get(reading.field)):
                chosen[reading.field] = reading
    if not seen_obr:
        raise Refused("The message has no OBR segment: nothing to chart.", header, REQUIRED_MISSING)
    return tuple(chosen.values()), tuple(problems)


def _preferred(new: Reading, old: Reading | None) -> bool:
    return old is None or mdc.PREFERENCE.get(new.code, 9) < mdc.PREFERENCE.get(old.code, 9)


def _reading(obx, group_time: datetime | None, problems: list[Problem]) -> Reading | None:
    """One OBX as a Reading; None for codes ketamon does not chart, values not
    measured (empty, status X/D), or a problem (appended to `problems`)."""
    code = _part(obx, 3)
    field = mdc.field_for(code)
    value = _part(obx, 5)
    if field is None or not value or _part(obx, 11) in ("X", "D", "W"):
        return None
    try:
        if _part(obx, 2) not in ("NM", ""):
            raise mdc.NotCharted(f"value type {_part(obx, 2)[:5]!r} is not numeric (NM)")
        number = mdc.convert(field, value, _part(obx, 6))
        at = _time(_part(obx, 14)) or group_time
    except ValueError as exc:  # mdc.NotCharted is a ValueError
        problems.append(Problem(code, f"{field} ({code}): {exc}"))
        return None
    return Reading(field, number, at, code)


def _chair(msg) -> str | None:
    """PV1-3 (point of care^room^bed): the bed when given, else the point of care."""
    try:
        pv1 = msg.segment("PV1")
    except KeyError:
        return None
    return (_part(pv1, 3, 3) or _part(pv1, 3, 1))[:32].upper() or None  # as ops store chairs: CHAIR3


def _monitor_ids(msg) -> tuple[str, ...]:
    """The sending device's ids: MSH-3 (namespace and universal id), each OBX-18."""
    msh = msg.segment("MSH")
    ids = [_part(msh, 3, 1), _part(msh, 3, 2)]
    ids += [_part(obx, 18, 1) for obx in msg.segments("OBX")] if _has(msg, "OBX") else []
    return tuple(dict.fromkeys(i[:64] for i in ids if i))


def _patient_ids(msg) -> tuple[str, ...]:
    """Every identifier of PID-3 (ID^^^authority^type~…), first component of each."""
    if not _has(msg, "PID"):
        return ()
    pid = msg.segment("PID")
    return tuple(i for i in (_part(pid, 3, 1, r) for r in range(_repetitions(pid, 3))) if i)


def _has(msg, name: str) -> bool:
    return any(str(segment[0]) == name for segment in msg)
