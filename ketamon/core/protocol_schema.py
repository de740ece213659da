"""The schema every protocol file (and resources/alarms/defaults.toml) is checked
against before anything in it is used (pydantic). Building these models costs
about a tenth of a second, so this module is imported only when a file must be
checked: ketamon.core.protocols keeps what it accepted, keyed by the file's
content, and a warm start with unchanged files does not import it.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, create_model,
                      field_validator, model_validator)
from pydantic import ValidationError as PydanticValidationError

from ketamon.core import hard_limits
from ketamon.core.hard_limits import HardLimit
from ketamon.core.protocol_types import (PARAMETERS, Band, Checkpoint, DoseRule, ParameterRanges, Protocol,
                                         ProtocolError, ProtocolProblem, Schedule, _fmt)

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
