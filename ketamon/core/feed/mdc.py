"""MDC codes (ISO/IEEE 11073-10101) of the values ketamon charts, and their units.

A value is identified by its OBX-3 code alone, never by the display text beside
it (a gateway may mislabel it), and its unit (OBX-6, an MDC code or UCUM) is
checked against the measurement: a code/unit mismatch is an artefact, never a
guess. Sources: /work/shared/docs/device-feed.md (IHE PCD TF-2, HL7 FHIR PHD IG).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: OBX-3 code → VitalSigns field
MEASUREMENTS: dict[str, str] = {
    "150021": "systolic",       # MDC_PRESS_BLD_NONINV_SYS
    "150022": "diastolic",      # MDC_PRESS_BLD_NONINV_DIA
    "150023": "mean_arterial",  # MDC_PRESS_BLD_NONINV_MEAN
    "147842": "heart_rate",     # MDC_ECG_HEART_RATE (MDC_ECG_CARD_BEAT_RATE)
    "149530": "heart_rate",     # MDC_PULS_OXIM_PULS_RATE
    "149546": "heart_rate",     # MDC_PULS_RATE_NON_INV
    "150456": "spo2",           # MDC_PULS_OXIM_SAT_O2
    "151562": "resp_rate",      # MDC_RESP_RATE
    "151578": "resp_rate",      # MDC_TRANS_THORAC_IMPED_RESP_RATE (impedance)
    "151594": "resp_rate",      # MDC_CO2_RESP_RATE
    "151658": "resp_rate",      # pleth-derived respiratory rate
    "150344": "temperature",    # MDC_TEMP
}

#: where one field comes from more than one code (an ECG and a pulse rate in one
#: message), the lower rank wins: the ECG's heart rate over the oximeter's pulse
PREFERENCE: dict[str, int] = {"147842": 0, "149530": 1, "149546": 2,
                              "151562": 0, "151578": 1, "151594": 2, "151658": 3}

#: the codes of a group header (the NIBP panel) that carry no value of their own
PANELS = frozenset({"150020"})


@dataclass(frozen=True)
class Unit:
    """One unit: the dimension it measures and the factor to ketamon's unit."""

    dimension: str
    factor: float
    label: str


_MMHG = Unit("pressure", 1.0, "mmHg")
_KPA = Unit("pressure", 7.50062, "kPa")
_RATE = Unit("rate", 1.0, "/min")
_PERCENT = Unit("percent", 1.0, "%")
_DEGC = Unit("temperature", 1.0, "°C")

#: OBX-6 first component (an MDC unit code or UCUM) → unit
UNITS: dict[str, Unit] = {
    "266016": _MMHG, "mm[Hg]": _MMHG, "mmHg": _MMHG, "MDC_DIM_MMHG": _MMHG,
    "265987": _KPA, "kPa": _KPA, "MDC_DIM_KILO_PASCAL": _KPA,
    "264864": _RATE, "264928": _RATE, "/min": _RATE, "{beats}/min": _RATE, "{breaths}/min": _RATE,
    "MDC_DIM_BEAT_PER_MIN": _RATE, "MDC_DIM_RESP_PER_MIN": _RATE,
    "262688": _PERCENT, "%": _PERCENT, "MDC_DIM_PERCENT": _PERCENT,
    "268192": _DEGC, "Cel": _DEGC, "MDC_DIM_DEGC": _DEGC,
}

#: the dimension each field is measured in
DIMENSIONS: dict[str, str] = {
    "systolic": "pressure", "diastolic": "pressure", "mean_arterial": "pressure", "heart_rate": "rate",
    "spo2": "percent", "resp_rate": "rate", "temperature": "temperature",
}

#: fields stored as whole numbers (VitalSigns columns are integers but temperature)
WHOLE = frozenset(DIMENSIONS) - {"temperature"}


class NotCharted(ValueError):
    """A value that cannot be charted as sent (unit, number): the message says why."""


def field_for(code: str) -> str | None:
    """The VitalSigns field of an OBX-3 code, None for codes ketamon does not chart."""
    return MEASUREMENTS.get(code)


def convert(field: str, value: str, unit: str) -> float | int:
    """The value of `field` in ketamon's unit, from OBX-5 text and OBX-6's first
    component. Raises NotCharted with the reason (unknown or mismatched unit, not
    a finite number). Whole-number fields are rounded (a kPa converted, a 97.6 %)."""
    known = UNITS.get(unit.strip())
    if known is None:
        raise NotCharted(f"unit {unit.strip() or '(none)'!r} is not a unit ketamon knows for {field}")
    if known.dimension != DIMENSIONS[field]:
        raise NotCharted(f"unit {known.label} does not measure {field}")
    try:
        number = float(value.strip())
    except ValueError:
        raise NotCharted(f"{value.strip()[:20]!r} is not a number") from None
    if not math.isfinite(number):
        raise NotCharted(f"{value.strip()[:20]!r} is not a finite number")
    converted = number * known.factor
    return int(round(converted)) if field in WHOLE else round(converted, 1)
