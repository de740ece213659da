"""The values a treatment protocol holds (ketamon.core.protocols loads them from
files): plain frozen dataclasses, cheap to import. The file schema that checks a
file before these are built is ketamon.core.protocol_schema (pydantic), imported
only when a file has to be checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROUTES = ("nasal", "iv", "im")

#: Vital-sign parameters with ranges, their display names and units.
PARAMETERS: dict[str, tuple[str, str]] = {
    "systolic": ("Systolic BP", "mmHg"),
    "diastolic": ("Diastolic BP", "mmHg"),
    "mean_arterial": ("Mean BP", "mmHg"),
    "heart_rate": ("Heart rate", "/min"),
    "spo2": ("SpO2", "%"),
    "resp_rate": ("Respiratory rate", "/min"),
    "temperature": ("Temperature", "°C"),
}


class ProtocolError(ValueError):
    """A protocol file the schema refuses; `problems` says where and why."""

    def __init__(self, problems: "str | list[ProtocolProblem]"):
        if isinstance(problems, str):
            self.problems: list[ProtocolProblem] = []
            super().__init__(problems)
        else:
            self.problems = list(problems)
            super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Band:
    """Inclusive limits; None on a side means no limit on that side."""

    low: float | None = None
    high: float | None = None

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if self.low is not None and self.high is not None:
            return f"{_fmt(self.low)}–{_fmt(self.high)}{u}"
        if self.low is not None:
            return f"≥ {_fmt(self.low)}{u}"
        if self.high is not None:
            return f"≤ {_fmt(self.high)}{u}"
        return "any value"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class ParameterRanges:
    """Three tiers: outside `absolute` is impossible (refused); outside `critical`
    alerts high; outside `abnormal` alerts at `abnormal_priority`."""

    parameter: str
    absolute: Band
    critical: Band
    abnormal: Band
    abnormal_priority: str = "medium"

    @property
    def label(self) -> str:
        return PARAMETERS[self.parameter][0]

    @property
    def unit(self) -> str:
        return PARAMETERS[self.parameter][1]

    def tier(self, value: float) -> str:
        """'impossible', 'critical', 'abnormal' or 'normal'."""
        if not self.absolute.contains(value):
            return "impossible"
        if not self.critical.contains(value):
            return "critical"
        if not self.abnormal.contains(value):
            return "abnormal"
        return "normal"


@dataclass(frozen=True)
class DoseRule:
    kind: str  # "fixed" | "per_kg" | "prescriber"
    mg: float | None = None
    mg_per_kg: float | None = None
    max_mg: float | None = None
    devices: int | None = None
    mg_per_device: float | None = None
    rest_minutes: float = 0
    infusion_minutes: float | None = None

    def planned_mg(self, weight_kg: float | None) -> float | None:
        """The dose this rule gives; None where a prescriber must enter it."""
        if self.kind == "fixed":
            return self.mg
        if self.kind == "per_kg":
            if weight_kg is None:
                return None
            mg = round(self.mg_per_kg * weight_kg, 1)
            return min(mg, self.max_mg) if self.max_mg else mg
        return None

    def describe(self) -> str:
        if self.kind == "fixed" and self.devices:
            return f"{_fmt(self.mg)} mg ({self.devices} devices × {_fmt(self.mg_per_device)} mg)"
        if self.kind == "fixed":
            return f"{_fmt(self.mg)} mg"
        if self.kind == "per_kg":
            over = f" over {_fmt(self.infusion_minutes)} min" if self.infusion_minutes else ""
            return f"{_fmt(self.mg_per_kg)} mg/kg{over}"
        return "dose entered by the prescriber"


@dataclass(frozen=True)
class Checkpoint:
    """A vital-sign set due at a point in the session."""

    label: str
    anchor: str  # "before_dose" | "first_dose" | "dose_end" | "before_discharge"
    minutes: float = 0


@dataclass(frozen=True)
class Schedule:
    checkpoints: tuple[Checkpoint, ...] = ()
    during_infusion_every: float | None = None  # minutes
    after_dose_every: float | None = None  # minutes, from the end of dosing
    after_dose_for: float | None = None  # minutes the after-dose interval runs
    early_window_minutes: float = 5  # a set this early still satisfies a due time
    grace_minutes: float = 2  # overdue this long after the due time


@dataclass(frozen=True)
class Protocol:
    id: str
    version: int
    name: str
    drug: str
    route: str
    dose: DoseRule
    schedule: Schedule
    ranges: dict[str, ParameterRanges]
    minimum_monitoring_minutes: float
    monitoring_from: str  # "first_dose" | "dose_end"
    discharge_score: str  # "aldrete" | "padss"
    discharge_threshold: int
    fasting_food_hours: float | None = None
    fasting_liquid_minutes: float | None = None
    rems_form: bool = False
    rules: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class ProtocolProblem:
    """Why a protocol or alarm-rule file was refused: kept on the registry so an
    administrator's screen can list it. `field` is a dotted path such as
    ``ranges.spo2.absolute`` (None for the whole file); `line` is known for a
    TOML syntax error."""

    path: str
    field: str | None
    why: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{self.path}: {where}{self.field + ': ' if self.field else ''}{self.why}"
