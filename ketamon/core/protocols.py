"""Treatment protocols, loaded from versioned TOML files in resources/protocols/.

A clinic adds its own protocol by dropping a file there (or in the directory named
by KETAMON_PROTOCOLS); no code changes. Every number a clinic may choose lives in
the file, never in code. Sections this module does not interpret (e.g. `rules`)
are kept as plain dicts for the alert engine.
"""
from __future__ import annotations

import logging
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterable, Literal, get_args

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, create_model,
                      field_validator, model_validator)
from pydantic import ValidationError as PydanticValidationError

from ketamon.core import hard_limits
from ketamon.core.errors import NotFound
from ketamon.core.hard_limits import HardLimit
from ketamon.core.resources import resources_dir

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- the file schema
#
# Every protocol file is checked against this schema when it is loaded, so a typo
# in a file is refused with its path, the field and why, instead of silently
# removing a safety barrier ([0, 1000] for SpO2), crashing every entry (a band of
# strings) or refusing every value (an inverted band). Numbers must be real,
# finite numbers ("90" or true is not 90); unknown names are refused (a typo such
# as [range] would otherwise drop a section); absolute ranges must lie inside the
# hard limits built into the code (ketamon.core.hard_limits).

Priority = Literal["high", "medium", "low", "info"]  # as ketamon.core.rules.PRIORITIES


def _number(v: Any) -> float | int:
    """A real, finite TOML number, kept as written (an int stays an int)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {v!r}")
    return v


def _positive(v: float) -> float:
    if v <= 0:
        raise ValueError(f"must be above 0, got {_fmt(v)}")
    return v


Finite = Annotated[float | int, PlainValidator(_number)]
Whole = Annotated[int, Field(strict=True)]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=200)]
Flag = Annotated[bool, Field(strict=True)]


class _At(ValueError):
    """A refusal found by a check over several fields, pinned to the field it is about."""

    def __init__(self, loc: tuple[str, ...], why: str):
        super().__init__(why)
        self.loc = loc


def _within(limit: HardLimit, what: str | None = None):
    def check(v: float | None) -> float | None:
        if v is not None and not limit.contains(v):
            raise ValueError(f"{_fmt(v)} lies outside the hard limit {limit.describe()}"
                             + (f" ({what})" if what else ""))
        return v

    return AfterValidator(check)


def _between(low: float, high: float, unit: str = ""):
    return _within(HardLimit("", "", unit, low, high))


Minutes = Annotated[Finite, _within(hard_limits.MINUTES, "an interval is at least a minute and at most a day")]
Offset = Annotated[Finite, _between(0, 24 * 60, "min")]
Positive = Annotated[Finite, AfterValidator(_positive)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Band(_Model):
    """[low, high] or { low = …, high = … }; a missing side has no limit."""

    low: Finite | None = None
    high: Finite | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any) -> Any:
        if isinstance(v, list):
            if len(v) != 2:
                raise ValueError(f"a band is [low, high], got {len(v)} values")
            return {"low": v[0], "high": v[1]}
        return v

    @model_validator(mode="after")
    def _ordered(self) -> "_Band":
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"the band is inverted: low {_fmt(self.low)} is above high {_fmt(self.high)}")
        return self

    def band(self) -> Band:
        return Band(self.low, self.high)


def _inside(inner: Band, outer: Band) -> bool:
    """Every given side of `inner` lies within `outer` (a missing side of `inner`
    means "no limit of this tier", which never reaches beyond the outer band)."""
    return all(v is None or outer.contains(v) for v in (inner.low, inner.high))


class _ParameterRanges(_Model):
    """One parameter's tiers. Subclassed per parameter so the checks know whose
    hard limit applies."""

    parameter: ClassVar[str] = ""
    absolute: _Band | None = None
    critical: _Band | None = None
    abnormal: _Band | None = None
    abnormal_priority: Priority = "medium"

    @classmethod
    def _absolute(cls, absolute: _Band | None) -> Band:
        """The band refused outside: the file's, each missing side taken from the hard limit."""
        hard = hard_limits.VITALS[cls.parameter]
        low = absolute.low if absolute is not None and absolute.low is not None else hard.low
        high = absolute.high if absolute is not None and absolute.high is not None else hard.high
        return Band(low, high)

    @field_validator("absolute")
    @classmethod
    def _inside_hard_limit(cls, v: _Band | None) -> _Band | None:
        hard = hard_limits.VITALS[cls.parameter]
        if v is not None and not _inside(v.band(), Band(hard.low, hard.high)):
            raise ValueError(f"{v.band().describe()} lies outside the hard limit {hard.describe()}")
        return v

    @field_validator("critical")
    @classmethod
    def _critical_inside_absolute(cls, v: _Band | None, info: ValidationInfo) -> _Band | None:
        absolute = cls._absolute(info.data.get("absolute"))
        if v is not None and not _inside(v.band(), absolute):
            raise ValueError(f"{v.band().describe()} reaches beyond the absolute range "
                             f"{absolute.describe(PARAMETERS[cls.parameter][1])}")
        return v

    @field_validator("abnormal")
    @classmethod
    def _abnormal_inside_critical(cls, v: _Band | None, info: ValidationInfo) -> _Band | None:
        if v is None:
            return v
        absolute = cls._absolute(info.data.get("absolute"))
        if not _inside(v.band(), absolute):
            raise ValueError(f"{v.band().describe()} reaches beyond the absolute range "
                             f"{absolute.describe(PARAMETERS[cls.parameter][1])}")
        crit = info.data.get("critical")
        if crit is not None:
            if crit.low is not None and v.low is not None and v.low < crit.low:
                raise ValueError(f"the lower limit {_fmt(v.low)} is below the critical lower limit {_fmt(crit.low)}")
            if crit.high is not None and v.high is not None and v.high > crit.high:
                raise ValueError(f"the upper limit {_fmt(v.high)} is above the critical upper limit "
                                 f"{_fmt(crit.high)}")
        return v


_RANGE_MODELS: dict[str, type[_ParameterRanges]] = {
    name: type(f"{name}_ranges", (_ParameterRanges,), {"parameter": name, "__module__": __name__})
    for name in PARAMETERS
}
_Ranges = create_model("_Ranges", __base__=_Model,
                       **{name: (m | None, None) for name, m in _RANGE_MODELS.items()})


class _Dose(_Model):
    rule: Literal["fixed", "per_kg", "prescriber"]
    mg: Positive | None = None
    mg_per_kg: Positive | None = None
    max_mg: Positive | None = None
    devices: Annotated[Whole, Field(ge=1)] | None = None
    mg_per_device: Positive | None = None
    rest_minutes: Offset = 0
    infusion_minutes: Annotated[Finite, _within(hard_limits.INFUSION_MINUTES)] | None = None


class _Checkpoint(_Model):
    label: Text
    anchor: Literal["before_dose", "first_dose", "dose_end", "before_discharge"]
    minutes: Offset = 0


class _Schedule(_Model):
    checkpoints: list[_Checkpoint] = []
    during_infusion_every: Minutes | None = None
    after_dose_every: Minutes | None = None
    after_dose_for: Minutes | None = None
    early_window_minutes: Offset = 5
    grace_minutes: Offset = 2


class _Monitoring(_Model):
    minimum_minutes: Minutes = 60
    from_: Literal["first_dose", "dose_end"] = Field("first_dose", alias="from")
    discharge_score: Literal["aldrete", "padss"] = "aldrete"
    discharge_threshold: Annotated[Whole, _within(hard_limits.SCORES["aldrete"])] = 9


class _Fasting(_Model):
    food_hours: Annotated[Finite, _between(0, 24, "h")] | None = None
    liquid_minutes: Offset | None = None


# Alarm rule sections (resources/alarms/defaults.toml, and a protocol's [rules],
# which overrides them key by key, so every key is optional here).

def _vital(name: str):
    return Annotated[Finite, _within(hard_limits.VITALS[name])] | None


def _score(name: str):
    return Annotated[Whole, _within(hard_limits.SCORES[name])] | None


class _Rule(_Model):
    enabled: Flag | None = None
    priority: Priority | None = None


class _AlarmsRule(_Model):
    acknowledge_silence_minutes: Minutes | None = None
    escalate_unacknowledged_minutes: Minutes | None = None
    escalate_priorities: list[Priority] | None = None


class _RiseRule(_Rule):
    systolic_mmhg: Positive | None = None
    diastolic_mmhg: Positive | None = None
    systolic_percent: Positive | None = None
    diastolic_percent: Positive | None = None


class _BpRule(_Rule):
    systolic: _vital("systolic") = None
    diastolic: _vital("diastolic") = None


class _BpSustainedRule(_BpRule):
    minutes: Minutes | None = None


class _HrRule(_Rule):
    above: _vital("heart_rate") = None
    minutes: Minutes | None = None


class _SedationRule(_Rule):
    moaas_at_or_below: _score("moaas") = None


class _DissociationRule(_Rule):
    severity_at_or_above: _score("dissociation_severity") = None
    cadss6_at_or_above: _score("cadss6") = None


class _NauseaRule(_Rule):
    at_or_above: _score("nausea") = None


class _BreathingRule(_Rule):
    resp_rate_at_or_below: _vital("resp_rate") = None
    spo2_at_or_below: _vital("spo2") = None


class _News2Rule(_Rule):
    single_three_priority: Priority | None = None
    urgent_total: _score("news2") = None
    urgent_priority: Priority | None = None
    emergency_total: _score("news2") = None
    emergency_priority: Priority | None = None
    temperature_carry_minutes: Offset | None = None
    not_assessable_priority: Priority | None = None


class _PredoseRule(_BpRule):
    require_baseline: Flag | None = None


class _DoseCheckRule(_Rule):
    mg_per_kg_low: Positive | None = None
    mg_per_kg_high: Positive | None = None
    max_rate_mg_per_kg_per_h: Positive | None = None
    first_esketamine_session_max_mg: Positive | None = None


class _CloseMonitoringRule(_Rule):
    every_minutes: Minutes | None = None


class _Rules(_Model):
    alarms: _AlarmsRule | None = None
    overdue: _Rule | None = None
    rise_over_baseline: _RiseRule | None = None
    bp_single: _BpRule | None = None
    bp_sustained: _BpSustainedRule | None = None
    hr_sustained: _HrRule | None = None
    sedation: _SedationRule | None = None
    dissociation: _DissociationRule | None = None
    nausea: _NauseaRule | None = None
    vomiting: _Rule | None = None
    respiratory_depression: _BreathingRule | None = None
    news2: _News2Rule | None = None
    predose_gate: _PredoseRule | None = None
    protocol_deviation: _Rule | None = None
    infusion_complete: _Rule | None = None
    dose_check: _DoseCheckRule | None = None
    close_monitoring: _CloseMonitoringRule | None = None


class _ProtocolFile(_Model):
    """The whole file. dose, schedule and ranges are required: a protocol without
    them would chart without limits or due times."""

    id: Annotated[str, Field(strict=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    version: Annotated[Whole, Field(ge=1)]
    name: Text
    drug: Text
    route: Literal["nasal", "iv", "im"]
    rems_form: Flag = False
    dose: _Dose
    schedule: _Schedule
    ranges: _Ranges
    monitoring: _Monitoring = _Monitoring()
    fasting: _Fasting = _Fasting()
    rules: _Rules = _Rules()

    @model_validator(mode="after")
    def _dose_fits_drug_and_route(self) -> "_ProtocolFile":
        """The route and dose rule agree, and the dose lies inside the drug's hard limit."""
        d = self.dose
        limit = hard_limits.DOSES.get((self.drug, self.route))
        if limit is None:
            known = ", ".join(f"{dr} {ro}" for dr, ro in hard_limits.DOSES)
            raise _At(("drug",), f"{self.drug} by the {self.route} route has no hard dose limits built in "
                                 f"(known: {known})")
        given = {k: getattr(d, k) for k in ("mg", "mg_per_kg", "max_mg", "devices", "mg_per_device")
                 if getattr(d, k) is not None}
        if d.rule == "fixed" and d.mg is None:
            raise _At(("dose", "mg"), 'required when rule = "fixed"')
        if d.rule == "per_kg":
            if d.mg_per_kg is None:
                raise _At(("dose", "mg_per_kg"), 'required when rule = "per_kg"')
            if limit.max_mg_per_kg is None:
                raise _At(("dose", "rule"), f"{self.drug} by the {self.route} route is not dosed per kg")
            if d.mg_per_kg > limit.max_mg_per_kg:
                raise _At(("dose", "mg_per_kg"), f"{_fmt(d.mg_per_kg)} mg/kg lies outside the hard limit "
                                                 f"{_fmt(limit.max_mg_per_kg)} mg/kg for {self.drug} {self.route}")
        if d.rule == "prescriber" and given.keys() - {"max_mg"}:
            field_ = sorted(given.keys() - {"max_mg"})[0]
            raise _At(("dose", field_), 'a prescriber\'s dose is entered per session, not set in the file')
        for key in ("mg", "max_mg"):
            v = getattr(d, key)
            if v is not None and v > limit.max_mg:
                raise _At(("dose", key), f"{_fmt(v)} mg lies outside the hard limit {_fmt(limit.max_mg)} mg "
                                         f"per session for {self.drug} {self.route}")
        if self.route == "nasal":
            if d.rule != "fixed" or d.devices is None or d.mg_per_device is None:
                missing = "devices" if d.devices is None else "mg_per_device" if d.mg_per_device is None else "rule"
                raise _At(("dose", missing), 'a nasal dose is rule = "fixed" with devices and mg_per_device')
            if limit.mg_per_device is not None and d.mg_per_device != limit.mg_per_device:
                raise _At(("dose", "mg_per_device"), f"{self.drug} nasal devices hold "
                                                     f"{_fmt(limit.mg_per_device)} mg")
            if limit.max_devices is not None and d.devices > limit.max_devices:
                raise _At(("dose", "devices"), f"{d.devices} lies outside the hard limit of "
                                               f"{limit.max_devices} devices per session")
            if d.mg != d.devices * d.mg_per_device:
                raise _At(("dose", "mg"), f"{_fmt(d.mg)} mg is not {d.devices} devices × "
                                          f"{_fmt(d.mg_per_device)} mg")
            if d.rest_minutes < hard_limits.NASAL_REST_MINUTES:
                raise _At(("dose", "rest_minutes"), f"{_fmt(d.rest_minutes)} min is below the "
                                                    f"{hard_limits.NASAL_REST_MINUTES} min between devices "
                                                    "the label requires")
        else:
            for key in ("devices", "mg_per_device"):
                if getattr(d, key) is not None:
                    raise _At(("dose", key), f"devices are for the nasal route, not {self.route}")
        if self.route == "iv" and d.rule != "prescriber" and d.infusion_minutes is None:
            raise _At(("dose", "infusion_minutes"), "required for an IV infusion")
        if self.route != "iv" and d.infusion_minutes is not None:
            raise _At(("dose", "infusion_minutes"), f"an infusion is IV, not {self.route}")
        total = d.mg if d.rule == "fixed" else d.max_mg
        if d.infusion_minutes and total is not None:
            rate = total * 60 / d.infusion_minutes
            if not hard_limits.INFUSION_RATE.contains(rate):
                raise _At(("dose", "infusion_minutes"), f"{_fmt(total)} mg over {_fmt(d.infusion_minutes)} min "
                                                        f"is {rate:.0f} mg/h, outside the hard limit "
                                                        f"{hard_limits.INFUSION_RATE.describe()}")
        if (self.drug == "esketamine"
                and self.monitoring.minimum_minutes < hard_limits.ESKETAMINE_MONITORING_MINUTES):
            raise _At(("monitoring", "minimum_minutes"),
                      f"{_fmt(self.monitoring.minimum_minutes)} min is below the "
                      f"{hard_limits.ESKETAMINE_MONITORING_MINUTES} min the esketamine REMS requires")
        return self


# ---------------------------------------------------------------- refusals


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


def _known_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """The names allowed where `loc` points (for "unknown name" refusals)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(part)
        if f is None:
            return []
        found = [a for a in _flatten(f.annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return []
        model = found[0]
    return [f.alias or n for n, f in model.model_fields.items()]


def _flatten(tp: Any) -> list[Any]:
    args = get_args(tp)
    if not args:
        return [tp]
    return [x for a in args for x in _flatten(a)]


def _problems(exc: PydanticValidationError, path: str, model: type[BaseModel]) -> list[ProtocolProblem]:
    out = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        err = (e.get("ctx") or {}).get("error")
        if isinstance(err, _At):
            loc, why = loc + err.loc, str(err)
        elif e["type"] == "missing":
            why = "required, but missing"
        elif e["type"] == "extra_forbidden":
            known = _known_names(model, loc)
            why = "is not a known name here" + (f" (known: {', '.join(known)})" if known else "")
        elif e["type"] == "value_error":
            why = str(err) if err is not None else e["msg"]
        else:
            got = e.get("input")
            why = e["msg"][0].lower() + e["msg"][1:] + (f", got {got!r}" if not isinstance(got, (dict, list))
                                                         else "")
        out.append(ProtocolProblem(path, ".".join(str(x) for x in loc) or None, why))
    return out


def validate_protocol_file(data: dict[str, Any], source: str = "") -> list[ProtocolProblem]:
    """Every reason the file is refused; empty when it is good."""
    try:
        _ProtocolFile.model_validate(data)
    except PydanticValidationError as exc:
        return _problems(exc, source or "protocol", _ProtocolFile)
    return []


def validate_alarm_rules(data: dict[str, Any], source: str = "") -> list[ProtocolProblem]:
    """Check resources/alarms/defaults.toml (or a protocol's [rules]) against the schema."""
    try:
        _Rules.model_validate(data)
    except PydanticValidationError as exc:
        return _problems(exc, source or "alarm rules", _Rules)
    return []


def parse_protocol(data: dict[str, Any], source: str = "") -> Protocol:
    """The protocol a file describes; ProtocolError (with `.problems`) when the
    schema refuses it. Nothing in a refused file is used."""
    try:
        f = _ProtocolFile.model_validate(data)
    except PydanticValidationError as exc:
        raise ProtocolError(_problems(exc, source or "protocol", _ProtocolFile)) from None
    d, s, m = f.dose, f.schedule, f.monitoring
    ranges = {}
    for name in PARAMETERS:
        r = getattr(f.ranges, name)
        if r is None:
            continue
        ranges[name] = ParameterRanges(
            parameter=name,
            absolute=type(r)._absolute(r.absolute),
            critical=r.critical.band() if r.critical else Band(),
            abnormal=r.abnormal.band() if r.abnormal else Band(),
            abnormal_priority=r.abnormal_priority,
        )
    return Protocol(
        id=f.id,
        version=f.version,
        name=f.name,
        drug=f.drug,
        route=f.route,
        dose=DoseRule(kind=d.rule, mg=d.mg, mg_per_kg=d.mg_per_kg, max_mg=d.max_mg, devices=d.devices,
                      mg_per_device=d.mg_per_device, rest_minutes=d.rest_minutes,
                      infusion_minutes=d.infusion_minutes),
        schedule=Schedule(
            checkpoints=tuple(Checkpoint(c.label, c.anchor, c.minutes) for c in s.checkpoints),
            during_infusion_every=s.during_infusion_every,
            after_dose_every=s.after_dose_every,
            after_dose_for=s.after_dose_for,
            early_window_minutes=s.early_window_minutes,
            grace_minutes=s.grace_minutes,
        ),
        ranges=ranges,
        minimum_monitoring_minutes=m.minimum_minutes,
        monitoring_from=m.from_,
        discharge_score=m.discharge_score,
        discharge_threshold=m.discharge_threshold,
        fasting_food_hours=f.fasting.food_hours,
        fasting_liquid_minutes=f.fasting.liquid_minutes,
        rems_form=f.rems_form,
        rules=data.get("rules", {}),
        source=source,
    )


def _syntax_line(exc: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    """The line of a TOML syntax error and the error without its position."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", msg)
    if m:
        return int(m.group(1)), msg[:m.start()].strip()
    m = re.search(r"\(at end of document\)", msg)
    return None, msg[:m.start()].strip() if m else msg


def read_protocol_file(path: Path) -> tuple[Protocol | None, list[ProtocolProblem]]:
    """One file: the protocol, or None and why it was refused. Never raises."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ProtocolProblem(str(path), None, f"cannot be read: {exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, why = _syntax_line(exc)
        return None, [ProtocolProblem(str(path), None, f"TOML syntax error: {why}", line)]
    try:
        return parse_protocol(data, source=str(path)), []
    except ProtocolError as exc:
        return None, list(exc.problems)


def protocol_dirs() -> list[Path]:
    dirs = [resources_dir() / "protocols"]
    from ketamon.core import settings

    dirs.extend(settings.get("protocols"))
    return dirs


class ProtocolUnavailable(NotFound, KeyError):
    """A protocol (or the version a session was started under) that this
    workstation does not have, or whose file was refused on load. A KeyError too,
    for callers that look protocols up by id; its message is a sentence."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "protocol not available"


class ProtocolRegistry:
    """All protocol versions known to this installation, keyed by id and version.

    A session stores the id and version it was started under, so a later edit of
    a protocol file never changes the rules of a past session. Files the schema
    refuses are left out, never half-used; why is kept in `problems` so an
    administrator can see it, and the other protocols keep working.
    """

    def __init__(self, protocols: list[Protocol], problems: Iterable[ProtocolProblem] = ()):
        self._by_key: dict[tuple[str, int], Protocol] = {}
        self._problems: list[ProtocolProblem] = list(problems)
        for p in protocols:
            if (p.id, p.version) in self._by_key:
                raise ProtocolError(f"protocol {p.key} is defined twice ({p.source})")
            self._by_key[(p.id, p.version)] = p

    @property
    def problems(self) -> list[ProtocolProblem]:
        """Every file refused on load, with its path, the field and why."""
        return list(self._problems)

    @classmethod
    def load(cls, dirs: list[Path] | None = None) -> "ProtocolRegistry":
        protocols: dict[tuple[str, int], Protocol] = {}
        problems: list[ProtocolProblem] = []
        for d in dirs or protocol_dirs():
            for path in sorted(Path(d).glob("*.toml")):
                protocol, found = read_protocol_file(path)
                problems.extend(found)
                if protocol is None:
                    continue
                first = protocols.get((protocol.id, protocol.version))
                if first is not None:
                    problems.append(ProtocolProblem(
                        str(path), "version", f"{protocol.key} is already defined by {first.source}; "
                                              "give this file a new version"))
                    continue
                protocols[(protocol.id, protocol.version)] = protocol
        problems.extend(_alarm_defaults_problems())
        for problem in problems:  # file names and field paths only: no patient data
            log.warning("protocol file refused: %s", problem)
        return cls(list(protocols.values()), problems)

    def get(self, protocol_id: str, version: int | None = None) -> Protocol:
        if version is None:
            versions = [v for (i, v) in self._by_key if i == protocol_id]
            if not versions:
                raise ProtocolUnavailable(self._unavailable(protocol_id, None))
            version = max(versions)
        try:
            return self._by_key[(protocol_id, version)]
        except KeyError:
            raise ProtocolUnavailable(self._unavailable(protocol_id, version)) from None

    def _unavailable(self, protocol_id: str, version: int | None) -> str:
        what = f"Protocol {protocol_id!r}" + (f" version {version}" if version is not None else "")
        refused = [str(p) for p in getattr(self, "problems", [])]
        why = f" A protocol file was refused on load: {refused[0]}" if refused else ""
        return (f"{what} is not available on this workstation.{why} An administrator can see the protocol "
                "files on the Settings page.")

    def current(self) -> list[Protocol]:
        """The newest version of each protocol, in name order."""
        newest: dict[str, Protocol] = {}
        for p in self._by_key.values():
            if p.id not in newest or p.version > newest[p.id].version:
                newest[p.id] = p
        return sorted(newest.values(), key=lambda p: p.name)


def _alarm_defaults_problems() -> list[ProtocolProblem]:
    """resources/alarms/defaults.toml checked like a protocol's [rules]."""
    path = resources_dir() / "alarms" / "defaults.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [ProtocolProblem(str(path), None, f"cannot be read: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        line, why = _syntax_line(exc)
        return [ProtocolProblem(str(path), None, f"TOML syntax error: {why}", line)]
    return validate_alarm_rules(data, str(path))




_default: ProtocolRegistry | None = None


def default_registry() -> ProtocolRegistry:
    global _default
    if _default is None:
        _default = ProtocolRegistry.load()
    return _default
