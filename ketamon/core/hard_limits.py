"""Hard limits: the bounds no protocol file, override or device can widen.

Every other number a clinic may choose lives in a protocol file
(resources/protocols/, or the clinic's own directory). These do not: they are the
last barrier against a typo in a file ("[0, 1000]" for SpO2), a file without a
``[ranges]`` section, or a device sending garbage. A protocol's absolute ranges
must lie inside them (checked when the file is loaded), and every vital-sign value
is checked against them even when the protocol says nothing about that parameter.

They are deliberately wide: a value outside is not unusual, it is impossible at a
treatment chair (or a unit mistake), so refusing it can never keep a real reading
out of the record. Narrowing is the protocol's job, never widening. Do not read
these numbers from a file or a setting; that would defeat their purpose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HardLimit:
    """Inclusive bounds for one quantity, with the words a nurse reads."""

    name: str
    label: str
    unit: str
    low: float
    high: float

    def contains(self, value: float) -> bool:
        """False for NaN and infinities as well as values outside the bounds."""
        return math.isfinite(value) and self.low <= value <= self.high

    def describe(self) -> str:
        u = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.low)}–{_fmt(self.high)}{u}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _limit(name: str, label: str, unit: str, low: float, high: float) -> HardLimit:
    return HardLimit(name, label, unit, low, high)


#: Vital signs. Keys are the names used in protocol files and in VitalSigns.
VITALS: dict[str, HardLimit] = {
    # Non-invasive cuffs measure from about 20-30 mmHg; the highest pressures ever
    # recorded (about 370 mmHg, during maximal weight lifting) are not seen at a
    # chair, and 350 is above every adult NIBP monitor's measuring range.
    "systolic": _limit("systolic", "Systolic BP", "mmHg", 20, 350),
    # Diastolic 10 is already a cuff's floor; above 250 no monitor reads.
    "diastolic": _limit("diastolic", "Diastolic BP", "mmHg", 10, 250),
    # The mean lies between diastolic and systolic; these bounds follow from theirs.
    "mean_arterial": _limit("mean_arterial", "Mean BP", "mmHg", 15, 300),
    # Below 10 /min is asystole or a lead off; 350 is above the fastest conducted
    # rhythms (1:1 flutter, pre-excited AF) and infant rates.
    "heart_rate": _limit("heart_rate", "Heart rate", "/min", 10, 350),
    # A percentage of haemoglobin saturated: 0-100 by definition.
    "spo2": _limit("spo2", "SpO2", "%", 0, 100),
    # 0 is apnoea and must stay chartable; adults do not breathe above 80 /min.
    "resp_rate": _limit("resp_rate", "Respiratory rate", "/min", 0, 80),
    # Below 25 °C is deep hypothermia (bypass territory), above 45 °C is not
    # survivable for long; a reading outside is a thermometer or unit error (°F).
    "temperature": _limit("temperature", "Temperature", "°C", 25, 45),
}

#: Patient weight. The clinics treat adults; 20 kg is below the lightest adults
#: seen in severe anorexia, 400 kg above nearly every living person. A weight in
#: pounds typed as kilograms lands inside, so this is a barrier, not a check.
WEIGHT = _limit("weight_kg", "Weight", "kg", 20, 400)

#: Infusion rate. The widest dose below (2 mg/kg) for a 100 kg patient over the
#: shortest infusion that is still an infusion, 40 minutes, is 300 mg/h; 540 mg/h
#: (a tenfold slip on 0.5 mg/kg) is refused.
INFUSION_RATE = _limit("infusion_rate", "Infusion rate", "mg/h", 0, 300)

#: How long an infusion may be planned to run. Under 10 minutes is a bolus, over 4
#: hours is not a sub-anaesthetic depression protocol.
INFUSION_MINUTES = _limit("infusion_minutes", "Infusion duration", "min", 10, 240)

#: Any interval or duration in a schedule or an alarm rule: at least a minute, at
#: most a day (a session never lasts longer).
MINUTES = _limit("minutes", "Interval", "min", 1, 24 * 60)


@dataclass(frozen=True)
class DoseLimit:
    """Largest dose per session for one drug by one route."""

    drug: str
    route: str
    max_mg: float
    max_mg_per_kg: float | None = None
    mg_per_device: float | None = None  # the only device strength there is
    max_devices: int | None = None


#: Keyed by (drug, route). A protocol for a pair not listed here is refused: there
#: is no built-in barrier for it, and adding one is a code review, not a file drop.
DOSES: dict[tuple[str, str], DoseLimit] = {
    # Spravato label: 56 or 84 mg per session, one 28 mg device every 5 minutes;
    # 84 mg (3 devices) is the label's maximum.
    ("esketamine", "nasal"): DoseLimit("esketamine", "nasal", 84, None, 28, 3),
    # Depression trials used 0.1-1 mg/kg IV (Fava 2018); anaesthetic induction
    # starts at 1-2 mg/kg. 2 mg/kg catches a tenfold slip on 0.5 mg/kg, and
    # 200 mg covers 2 mg/kg for a 100 kg patient.
    ("ketamine", "iv"): DoseLimit("ketamine", "iv", 200, 2),
    # IM depression doses were 0.5-1 mg/kg; IM anaesthesia starts at 4 mg/kg.
    ("ketamine", "im"): DoseLimit("ketamine", "im", 200, 2),
}

#: The shortest monitoring after esketamine the REMS allows: at least two hours.
ESKETAMINE_MONITORING_MINUTES = 120

#: Scales: a score outside its scale is not a score.
SCORES: dict[str, HardLimit] = {
    "moaas": _limit("moaas", "MOAA/S", "", 0, 5),
    "nausea": _limit("nausea", "Nausea", "", 0, 10),
    "dissociation_severity": _limit("dissociation_severity", "Dissociation", "", 0, 4),
    "cadss6": _limit("cadss6", "CADSS-6", "", 0, 24),
    "aldrete": _limit("aldrete", "Aldrete score", "", 0, 10),
    "padss": _limit("padss", "PADSS", "", 0, 10),
    "news2": _limit("news2", "NEWS2", "", 0, 20),
}


def vital_limit(name: str) -> HardLimit | None:
    """The hard limit for a vital-sign parameter, or None for one without (ACVPU)."""
    return VITALS.get(name)

#: The label's interval between two esketamine nasal devices, in minutes.
NASAL_REST_MINUTES = 5
