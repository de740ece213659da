"""Input checks shared by every way data comes in. Impossible values are refused
with a message naming the field, the value and the allowed range; unusual ones
are accepted (the alert rules deal with them)."""
from __future__ import annotations

from datetime import datetime, timedelta

from ketamon.core.errors import ValidationError
from ketamon.core.hard_limits import vital_limit
from ketamon.core.protocols import PARAMETERS, Protocol, _fmt

#: the last barrier for an entry's time ahead of the clock: the largest value the
#: clinic setting ``future_tolerance_minutes`` allows. The clinic's own tolerance
#: (default 2 min) is checked first, with each operation's input
#: (ketamon.core.inputs.check_entry_time); this one only catches a caller that skipped it.
FUTURE_TOLERANCE = timedelta(minutes=15)
#: typed more than this long after it was measured: labelled late
LATE_AFTER = timedelta(minutes=5)

VITAL_FIELDS = tuple(PARAMETERS)


def check_time(label: str, when: datetime, now: datetime) -> None:
    if when > now + FUTURE_TOLERANCE:
        local = when.astimezone().strftime("%H:%M")
        raise ValidationError(f"{label} {local} is in the future; it must be now or earlier.", "measured_at", when)


def check_vitals(protocol: Protocol | None, values: dict[str, float | None]) -> None:
    """Refuse impossible values: outside the hard limits built into the code
    (ketamon.core.hard_limits), whatever the protocol says or leaves out, and
    outside the protocol's absolute range, which lies inside them (None: the
    session is not known yet; the hard limits alone)."""
    for name, value in values.items():
        if value is None:
            continue
        hard = vital_limit(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            label = hard.label if hard else name
            raise ValidationError(f"{label} must be a number, not {value!r}. Nothing was saved.", name, value)
        r = protocol.ranges.get(name) if protocol is not None else None
        if r is not None and not r.absolute.contains(value):
            raise ValidationError(
                f"{r.label} {_fmt(value)} {r.unit} is not possible: allowed {r.absolute.describe(r.unit)}. "
                "Nothing was saved.",
                name,
                value,
            )
        if hard is not None and not hard.contains(value):
            raise ValidationError(
                f"{hard.label} {_fmt(value)} {hard.unit} is not possible: allowed {hard.describe()}. "
                "Nothing was saved.",
                name,
                value,
            )
    sys_, dia = values.get("systolic"), values.get("diastolic")
    if sys_ is not None and dia is not None and dia >= sys_:
        raise ValidationError(
            f"Diastolic BP {_fmt(dia)} must be lower than systolic {_fmt(sys_)}. Nothing was saved.",
            "diastolic",
            dia,
        )
    if (sys_ is None) != (dia is None):
        missing = "diastolic" if dia is None else "systolic"
        raise ValidationError(f"Blood pressure needs both values: {missing} is missing. Nothing was saved.",
                              missing, None)


def derived_mean(systolic: int | None, diastolic: int | None) -> int | None:
    if systolic is None or diastolic is None:
        return None
    return round(diastolic + (systolic - diastolic) / 3)


def check_score(label: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if not (low <= value <= high):
        raise ValidationError(f"{label} {_fmt(value)} is outside its scale {low}–{high}. Nothing was saved.",
                              label, value)
