"""The alarm rules a session runs under, and a patient's effective limits.

Numbers come from files, never from code: `resources/alarms/defaults.toml` gives
every rule's defaults, and a protocol's `[rules]` section overrides them key by
key. Limits come from the protocol's ranges, overridden per patient by a
physician (LimitOverride, newest row wins). Pure: no database access here.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Iterable

from ketamon.core.protocols import PARAMETERS, Band, ParameterRanges, Protocol, ProtocolError
from ketamon.core.resources import resource

PRIORITIES = ("high", "medium", "low", "info")
#: larger is more urgent
PRIORITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}
PRIORITY_MARK = {"high": "***", "medium": "**", "low": "*", "info": ""}
PRIORITY_LABEL = {"high": "High", "medium": "Medium", "low": "Low", "info": "Info"}
TIERS = ("critical", "abnormal")


def priority_up(priority: str) -> str:
    order = ["info", "low", "medium", "high"]
    return order[min(order.index(priority) + 1, len(order) - 1)]


_defaults: dict[str, Any] | None = None


def default_rules() -> dict[str, Any]:
    global _defaults
    if _defaults is None:
        with open(resource("alarms", "defaults.toml"), "rb") as fh:
            _defaults = tomllib.load(fh)
    return _defaults


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class Rule:
    """One rule section: its numbers and the priority it raises."""

    enabled: bool
    priority: str
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


@dataclass(frozen=True)
class AlertRules:
    """Everything the alert engine needs from the protocol, checked once on load."""

    protocol_key: str
    silence: timedelta
    escalate_after: timedelta
    escalate_priorities: tuple[str, ...]
    sections: dict[str, Rule]

    def __getitem__(self, name: str) -> Rule:
        return self.sections[name]

    def on(self, name: str) -> Rule | None:
        """The rule if it is enabled, else None."""
        r = self.sections.get(name)
        return r if r is not None and r.enabled else None


SECTIONS = ("overdue", "rise_over_baseline", "bp_single", "bp_sustained", "hr_sustained", "sedation",
            "dissociation", "nausea", "vomiting", "respiratory_depression", "news2", "predose_gate",
            "protocol_deviation", "infusion_complete", "dose_check", "close_monitoring")


def parse_rules(protocol: Protocol) -> AlertRules:
    data = _merge(default_rules(), protocol.rules or {})
    where = f"{protocol.source or protocol.key} [rules]"
    alarms = data.get("alarms", {})
    sections: dict[str, Rule] = {}
    for name in SECTIONS:
        sec = dict(data.get(name, {}))
        enabled = bool(sec.pop("enabled", True))
        priority = sec.pop("priority", "medium")
        if priority not in PRIORITIES:
            raise ProtocolError(f"{where}.{name}: priority must be one of {PRIORITIES}, got {priority!r}")
        for k, v in sec.items():
            if k.endswith("_priority") and v not in PRIORITIES:
                raise ProtocolError(f"{where}.{name}.{k}: must be one of {PRIORITIES}, got {v!r}")
        sections[name] = Rule(enabled, priority, sec)
    unknown = set(data) - set(SECTIONS) - {"alarms"}
    if unknown:
        raise ProtocolError(f"{where}: unknown rule section(s) {', '.join(sorted(unknown))}")
    esc = tuple(alarms.get("escalate_priorities", ("medium",)))
    if set(esc) - set(PRIORITIES):
        raise ProtocolError(f"{where}.alarms.escalate_priorities: unknown priority in {esc!r}")
    try:
        return AlertRules(protocol.key, timedelta(minutes=alarms["acknowledge_silence_minutes"]),
                          timedelta(minutes=alarms["escalate_unacknowledged_minutes"]), esc, sections)
    except KeyError as exc:
        raise ProtocolError(f"{where}.alarms: missing {exc}") from None


_cache: dict[str, AlertRules] = {}


def rules_for(protocol: Protocol) -> AlertRules:
    """The protocol's alarm rules (parsed once per protocol version)."""
    key = f"{protocol.key}|{protocol.source}"
    r = _cache.get(key)
    if r is None:
        r = _cache[key] = parse_rules(protocol)
    return r


def news2_carry_minutes(protocol: Protocol) -> float:
    """How long a temperature stands in for later sets without one, for NEWS2, under
    this protocol (its rules over the alarm defaults). The chart, the alert rule,
    the printout and the exports all take it from here."""
    return float(rules_for(protocol)["news2"].get("temperature_carry_minutes", 0))


# ---------------------------------------------------------------- limits


@dataclass(frozen=True)
class LimitChange:
    """What a LimitOverride row says, without the database around it."""

    parameter: str
    tier: str
    low: float | None
    high: float | None
    reason: str
    set_at: Any = None
    set_by: str = ""


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits in force for one session: the protocol's ranges with the
    patient's overrides applied. `overridden[(parameter, tier)]` says who changed
    what, so the chart can show it."""

    ranges: dict[str, ParameterRanges]
    overridden: dict[tuple[str, str], LimitChange]

    def tier(self, parameter: str, value: float) -> str:
        r = self.ranges.get(parameter)
        return r.tier(value) if r else "normal"


def effective_limits(protocol: Protocol, overrides: Iterable[LimitChange]) -> EffectiveLimits:
    """`overrides` in the order they were set; the newest per (parameter, tier)
    wins, and one with both limits empty returns that tier to the protocol's."""
    newest: dict[tuple[str, str], LimitChange] = {}
    for o in overrides:
        newest[(o.parameter, o.tier)] = o
    in_force = {k: o for k, o in newest.items() if o.low is not None or o.high is not None}
    ranges = dict(protocol.ranges)
    for (param, tier), o in in_force.items():
        if param in ranges:
            ranges[param] = replace(ranges[param], **{tier: Band(o.low, o.high)})
    return EffectiveLimits(ranges, in_force)


def check_limit_change(protocol: Protocol, current: EffectiveLimits, parameter: str, tier: str,
                       low: float | None, high: float | None) -> str | None:
    """Why a proposed override is not possible, or None. Messages are for a physician."""
    if parameter not in PARAMETERS:
        return f"Unknown parameter {parameter!r}."
    if tier not in TIERS:
        return f"The tier must be critical or abnormal, not {tier!r}."
    r = protocol.ranges.get(parameter)
    if r is None:
        return f"{PARAMETERS[parameter][0]} has no ranges in {protocol.name}."
    label, unit = r.label, r.unit
    if low is not None and high is not None and low >= high:
        return f"{label}: the lower limit {low:g} must be below the upper limit {high:g}."
    for side, v in (("lower", low), ("upper", high)):
        if v is not None and not r.absolute.contains(v):
            return (f"{label} {side} limit {v:g} {unit} is outside what is possible "
                    f"({r.absolute.describe(unit)}).")
    if low is None and high is None:
        return None
    proposed = replace(current.ranges[parameter], **{tier: Band(low, high)})
    crit, abn = proposed.critical, proposed.abnormal
    if crit.low is not None and abn.low is not None and abn.low < crit.low:
        return (f"{label}: the abnormal lower limit ({abn.low:g}) cannot be below the critical "
                f"lower limit ({crit.low:g}).")
    if crit.high is not None and abn.high is not None and abn.high > crit.high:
        return (f"{label}: the abnormal upper limit ({abn.high:g}) cannot be above the critical "
                f"upper limit ({crit.high:g}).")
    return None
