"""Treatment protocols, loaded from versioned TOML files in resources/protocols/.

A clinic adds its own protocol by dropping a file there (or in the directory named
by KETAMON_PROTOCOLS); no code changes. Every number a clinic may choose lives in
the file, never in code. Sections this module does not interpret (e.g. `rules`)
are kept as plain dicts for the alert engine.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ketamon.core.resources import resources_dir

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
    pass


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


def _band(d: dict | list | None) -> Band:
    if d is None:
        return Band()
    if isinstance(d, list):
        if len(d) != 2:
            raise ProtocolError(f"a band is [low, high], got {d!r}")
        return Band(d[0], d[1])
    return Band(d.get("low"), d.get("high"))


def parse_protocol(data: dict[str, Any], source: str = "") -> Protocol:
    try:
        route = data["route"]
        if route not in ROUTES:
            raise ProtocolError(f"route must be one of {ROUTES}, got {route!r}")
        d = data["dose"]
        dose = DoseRule(
            kind=d["rule"],
            mg=d.get("mg"),
            mg_per_kg=d.get("mg_per_kg"),
            max_mg=d.get("max_mg"),
            devices=d.get("devices"),
            mg_per_device=d.get("mg_per_device"),
            rest_minutes=d.get("rest_minutes", 0),
            infusion_minutes=d.get("infusion_minutes"),
        )
        if dose.kind not in ("fixed", "per_kg", "prescriber"):
            raise ProtocolError(f"dose.rule must be fixed, per_kg or prescriber, got {dose.kind!r}")
        s = data.get("schedule", {})
        schedule = Schedule(
            checkpoints=tuple(
                Checkpoint(c["label"], c["anchor"], c.get("minutes", 0)) for c in s.get("checkpoints", [])
            ),
            during_infusion_every=s.get("during_infusion_every"),
            after_dose_every=s.get("after_dose_every"),
            after_dose_for=s.get("after_dose_for"),
            early_window_minutes=s.get("early_window_minutes", 5),
            grace_minutes=s.get("grace_minutes", 2),
        )
        ranges = {}
        for name, r in data.get("ranges", {}).items():
            if name not in PARAMETERS:
                raise ProtocolError(f"unknown parameter in ranges: {name!r}")
            ranges[name] = ParameterRanges(
                parameter=name,
                absolute=_band(r.get("absolute")),
                critical=_band(r.get("critical")),
                abnormal=_band(r.get("abnormal")),
                abnormal_priority=r.get("abnormal_priority", "medium"),
            )
        m = data.get("monitoring", {})
        f = data.get("fasting", {})
        return Protocol(
            id=data["id"],
            version=int(data["version"]),
            name=data["name"],
            drug=data["drug"],
            route=route,
            dose=dose,
            schedule=schedule,
            ranges=ranges,
            minimum_monitoring_minutes=m.get("minimum_minutes", 60),
            monitoring_from=m.get("from", "first_dose"),
            discharge_score=m.get("discharge_score", "aldrete"),
            discharge_threshold=m.get("discharge_threshold", 9),
            fasting_food_hours=f.get("food_hours"),
            fasting_liquid_minutes=f.get("liquid_minutes"),
            rems_form=bool(data.get("rems_form", False)),
            rules=data.get("rules", {}),
            source=source,
        )
    except KeyError as exc:
        raise ProtocolError(f"{source or 'protocol'}: missing required key {exc}") from None


def protocol_dirs() -> list[Path]:
    dirs = [resources_dir() / "protocols"]
    from ketamon.core import settings

    dirs.extend(settings.get("protocols"))
    return dirs


class ProtocolRegistry:
    """All protocol versions known to this installation, keyed by id and version.

    A session stores the id and version it was started under, so a later edit of
    a protocol file never changes the rules of a past session.
    """

    def __init__(self, protocols: list[Protocol]):
        self._by_key: dict[tuple[str, int], Protocol] = {}
        for p in protocols:
            if (p.id, p.version) in self._by_key:
                raise ProtocolError(f"protocol {p.key} is defined twice ({p.source})")
            self._by_key[(p.id, p.version)] = p

    @classmethod
    def load(cls, dirs: list[Path] | None = None) -> "ProtocolRegistry":
        protocols = []
        for d in dirs or protocol_dirs():
            for path in sorted(Path(d).glob("*.toml")):
                with open(path, "rb") as fh:
                    protocols.append(parse_protocol(tomllib.load(fh), source=str(path)))
        return cls(protocols)

    def get(self, protocol_id: str, version: int | None = None) -> Protocol:
        if version is None:
            versions = [v for (i, v) in self._by_key if i == protocol_id]
            if not versions:
                raise KeyError(f"no protocol {protocol_id!r}")
            version = max(versions)
        return self._by_key[(protocol_id, version)]

    def current(self) -> list[Protocol]:
        """The newest version of each protocol, in name order."""
        newest: dict[str, Protocol] = {}
        for p in self._by_key.values():
            if p.id not in newest or p.version > newest[p.id].version:
                newest[p.id] = p
        return sorted(newest.values(), key=lambda p: p.name)


_default: ProtocolRegistry | None = None


def default_registry() -> ProtocolRegistry:
    global _default
    if _default is None:
        _default = ProtocolRegistry.load()
    return _default
