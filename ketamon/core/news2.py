"""NEWS2 (Royal College of Physicians, 2017), SpO2 scale 1. Pure functions.

The bands are the published ones (clinical-reference.md section 4) and are not a
clinic's choice, so they live here as a table rather than in a protocol file;
what a clinic *does* with a score (which priority each trigger raises) is in the
alarm rules. A score is only given for a complete set: a missing value is never
scored as normal.

The alert rule also scores what a set has (`partial`): a missing value can only
add points, so a partial score that already reaches a trigger is a lower bound
that must raise (a missing temperature, rarely charted at a ketamine chair, must
not silence NEWS2). Below a trigger, the set is "not assessable".
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: (upper bound inclusive, points) in ascending order; the last bound is None (no limit)
RESP_RATE = ((8, 3), (11, 1), (20, 0), (24, 2), (None, 3))
SPO2_SCALE_1 = ((91, 3), (93, 2), (95, 1), (None, 0))
SYSTOLIC = ((90, 3), (100, 2), (110, 1), (219, 0), (None, 3))
PULSE = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (None, 3))
TEMPERATURE = ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (None, 2))

#: the parameters of a complete set, in the order the chart lists them
PARTS = ("resp_rate", "spo2", "on_oxygen", "systolic", "heart_rate", "consciousness", "temperature")
PART_LABELS = {
    "resp_rate": "Respiratory rate",
    "spo2": "SpO2",
    "on_oxygen": "Air or oxygen",
    "systolic": "Systolic BP",
    "heart_rate": "Pulse",
    "consciousness": "Consciousness",
    "temperature": "Temperature",
}


def _band(table, value: float) -> int:
    for upper, points in table:
        if upper is None or value <= upper:
            return points
    raise AssertionError("unreachable: the last band is open")


def part_score(part: str, value) -> int:
    """Points for one parameter (value must not be None)."""
    if part == "resp_rate":
        return _band(RESP_RATE, value)
    if part == "spo2":
        return _band(SPO2_SCALE_1, value)
    if part == "on_oxygen":
        return 2 if value else 0
    if part == "systolic":
        return _band(SYSTOLIC, value)
    if part == "heart_rate":
        return _band(PULSE, value)
    if part == "consciousness":
        return 0 if value == "A" else 3  # new confusion, voice, pain, unresponsive
    if part == "temperature":
        # temperatures are charted to one decimal; 35.04 is 35.0
        return _band(TEMPERATURE, round(float(value), 1))
    raise KeyError(part)


@dataclass(frozen=True)
class News2:
    """A scored set. `parts` holds each parameter's points; `carried` names values
    taken from an earlier set (e.g. a temperature measured 20 minutes before)."""

    total: int
    parts: dict[str, int]
    carried: tuple[str, ...] = ()
    #: parameters not charted (a partial score: the true score is at least `total`)
    missing: tuple[str, ...] = ()

    @property
    def any_three(self) -> bool:
        return any(p == 3 for p in self.parts.values())

    @property
    def threes(self) -> list[str]:
        return [k for k in PARTS if self.parts.get(k) == 3]

    @property
    def risk(self) -> str:
        """RCP clinical risk: low, low-medium (a single 3), medium (5–6), high (≥7)."""
        if self.total >= 7:
            return "high"
        if self.total >= 5:
            return "medium"
        if self.any_three:
            return "low-medium"
        return "low"

    def text(self) -> str:
        t = f"NEWS2 {self.total}"
        if self.missing:
            t = f"NEWS2 at least {self.total} (" + ", ".join(PART_LABELS[m].lower() for m in self.missing) + \
                " missing)"
        if self.carried:
            t += " (" + ", ".join(PART_LABELS[c].lower() for c in self.carried) + " from earlier set)"
        return t


@dataclass(frozen=True)
class Incomplete:
    missing: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return "NEWS2 —"


def score(*, resp_rate: float | None, spo2: float | None, on_oxygen: bool | None, systolic: float | None,
          heart_rate: float | None, consciousness: str | None, temperature: float | None,
          carried: tuple[str, ...] = ()) -> News2 | Incomplete:
    """NEWS2 of one set; `Incomplete` (naming what is missing) unless all seven are present."""
    values = dict(resp_rate=resp_rate, spo2=spo2, on_oxygen=on_oxygen, systolic=systolic, heart_rate=heart_rate,
                  consciousness=consciousness, temperature=temperature)
    missing = tuple(k for k in PARTS if values[k] is None)
    if missing:
        return Incomplete(missing)
    parts = {k: part_score(k, values[k]) for k in PARTS}
    return News2(sum(parts.values()), parts, tuple(carried))


def score_vitals(v, earlier_temperature: float | None = None) -> News2 | Incomplete:
    """NEWS2 of a VitalSigns-like object. `earlier_temperature` (from a recent set,
    chosen by the caller within the protocol's carry-over window) stands in when
    this set has none, and is named in the result."""
    temp, carried = v.temperature, ()
    if temp is None and earlier_temperature is not None:
        temp, carried = earlier_temperature, ("temperature",)
    return score(resp_rate=v.resp_rate, spo2=v.spo2, on_oxygen=v.on_oxygen, systolic=v.systolic,
                 heart_rate=v.heart_rate, consciousness=v.consciousness, temperature=temp, carried=carried)


def partial(v, earlier_temperature: float | None = None) -> News2:
    """What the charted parameters of a VitalSigns-like set score, naming those
    missing (`missing`); complete sets score as `score_vitals`. Used by the alert
    rule only: the chart shows a NEWS2 for complete sets alone."""
    temp, carried = v.temperature, ()
    if temp is None and earlier_temperature is not None:
        temp, carried = earlier_temperature, ("temperature",)
    values = dict(resp_rate=v.resp_rate, spo2=v.spo2, on_oxygen=v.on_oxygen, systolic=v.systolic,
                  heart_rate=v.heart_rate, consciousness=v.consciousness, temperature=temp)
    parts = {k: part_score(k, x) for k, x in values.items() if x is not None}
    return News2(sum(parts.values()), parts, carried, tuple(k for k in PARTS if values[k] is None))


def score_series(vitals, carry_minutes: float = 0) -> dict[int, News2]:
    """NEWS2 of every complete set in `vitals` (in force, in measured order), by
    VitalSigns id; a set without a temperature uses the last one measured up to
    `carry_minutes` before it. Sets that cannot be scored are left out."""
    from datetime import timedelta

    out: dict[int, News2] = {}
    last_temp = None  # (measured_at, value)
    window = timedelta(minutes=carry_minutes)
    for v in vitals:
        earlier = None
        if v.temperature is None and last_temp is not None and v.measured_at - last_temp[0] <= window:
            earlier = last_temp[1]
        result = score_vitals(v, earlier)
        if isinstance(result, News2):
            out[v.id] = result
        if v.temperature is not None:
            last_temp = (v.measured_at, v.temperature)
    return out
