"""Scored scales the session record uses: PHQ-9 before dosing, the modified Aldrete
score or PADSS before discharge. Pure functions, no database (clinical-reference.md
sections 3 and 5).

Item answers are stored as `{item key: points}` with string keys (JSON). A total is
always computed from the items here, never typed in.

PADSS: the reference drops the surgical items. We keep the five items of the
modified PADSS (Chung 1995) so the maximum stays 10 and the protocols' threshold of
9 keeps its published meaning; "bleeding" is read as bleeding at the cannula or
injection site, which does apply to IV and IM sessions (nasal sessions score it 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from ketamon.core.errors import ValidationError


@dataclass(frozen=True)
class Choice:
    points: int
    text: str


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    choices: tuple[Choice, ...]

    @property
    def points(self) -> tuple[int, ...]:
        return tuple(c.points for c in self.choices)

    def text_for(self, points: int) -> str:
        for c in self.choices:
            if c.points == points:
                return c.text
        return "—"


@dataclass(frozen=True)
class Scale:
    """A scale scored by adding its items' points."""

    kind: str  # the Assessment.kind it is stored under
    name: str
    items: tuple[Item, ...]

    @property
    def maximum(self) -> int:
        return sum(max(i.points) for i in self.items)

    def item(self, key: str) -> Item:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(key)

    def check(self, answers: dict[str, int]) -> dict[str, int]:
        """Answers as {key: points}, every item answered with one of its values.
        Returns them normalised (string keys, int points); refuses anything else
        with a message naming the item."""
        clean: dict[str, int] = {}
        known = {i.key for i in self.items}
        unknown = sorted(str(k) for k in answers if str(k) not in known)
        if unknown:
            raise ValidationError(f"{self.name}: unknown item {', '.join(unknown)}.", "items", answers)
        for item in self.items:
            value = answers.get(item.key)
            if value is None:
                raise ValidationError(f"{self.name}: “{item.label}” is not answered.", item.key, None)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value \
                    or int(value) not in item.points:
                allowed = ", ".join(str(p) for p in sorted(item.points))
                raise ValidationError(f"{self.name}: “{item.label}” {value} is not allowed: "
                                      f"choose {allowed}.", item.key, value)
            clean[item.key] = int(value)
        return clean

    def total(self, answers: dict[str, int]) -> int:
        return sum(self.check(answers).values())


# ---------------------------------------------------------------- PHQ-9

PHQ9_ANSWERS = (
    Choice(0, "Not at all"),
    Choice(1, "Several days"),
    Choice(2, "More than half the days"),
    Choice(3, "Nearly every day"),
)

#: "Over the last 2 weeks, how often have you been bothered by any of the following?"
PHQ9 = Scale("phq9", "PHQ-9", tuple(Item(str(n), text, PHQ9_ANSWERS) for n, text in enumerate([
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading or watching television",
    "Moving or speaking so slowly that other people could have noticed, or being so fidgety or "
    "restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
], start=1)))

#: (lowest total, band) in rising order
PHQ9_BANDS = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe"))
PHQ9_SELF_HARM_ITEM = "9"


def phq9_band(total: int) -> str:
    if not 0 <= total <= 27:
        raise ValueError(f"PHQ-9 total {total} is outside 0–27")
    band = PHQ9_BANDS[0][1]
    for low, name in PHQ9_BANDS:
        if total >= low:
            band = name
    return band


def phq9_needs_followup(answers: dict[str, int]) -> bool:
    """Any answer above 0 on item 9 (self-harm) needs a recorded follow-up."""
    return int(answers.get(PHQ9_SELF_HARM_ITEM) or 0) > 0


# ---------------------------------------------------------------- discharge scores

ALDRETE = Scale("aldrete", "Modified Aldrete score", (
    Item("activity", "Activity", (
        Choice(2, "Moves 4 limbs on command"),
        Choice(1, "Moves 2 limbs on command"),
        Choice(0, "Moves no limbs on command"))),
    Item("respiration", "Respiration", (
        Choice(2, "Breathes deeply and coughs freely"),
        Choice(1, "Dyspnoea or shallow breathing"),
        Choice(0, "Apnoeic"))),
    Item("circulation", "Circulation", (
        Choice(2, "BP within ±20 mmHg of pre-dose"),
        Choice(1, "BP ±20–50 mmHg of pre-dose"),
        Choice(0, "BP beyond ±50 mmHg of pre-dose"))),
    Item("consciousness", "Consciousness", (
        Choice(2, "Fully awake"),
        Choice(1, "Arousable on calling"),
        Choice(0, "Not responding"))),
    Item("spo2", "SpO2", (
        Choice(2, "Above 92 % on room air"),
        Choice(1, "Needs oxygen to stay above 90 %"),
        Choice(0, "Below 90 % even with oxygen"))),
))

PADSS = Scale("padss", "PADSS", (
    Item("vital_signs", "Vital signs", (
        Choice(2, "BP and pulse within 20 % of pre-dose"),
        Choice(1, "BP and pulse 20–40 % from pre-dose"),
        Choice(0, "BP or pulse more than 40 % from pre-dose"))),
    Item("activity", "Activity and mental status", (
        Choice(2, "Oriented and steady on their feet"),
        Choice(1, "Oriented or steady, not both"),
        Choice(0, "Neither oriented nor steady"))),
    Item("nausea_vomiting", "Nausea and vomiting", (
        Choice(2, "None or minimal"),
        Choice(1, "Moderate, treated"),
        Choice(0, "Severe, continuing despite treatment"))),
    Item("pain", "Pain", (
        Choice(2, "None or acceptable to the patient"),
        Choice(1, "Moderate, needs treatment"),
        Choice(0, "Severe"))),
    Item("bleeding", "Bleeding (cannula or injection site)", (
        Choice(2, "None or minimal"),
        Choice(1, "Moderate, needed a new dressing"),
        Choice(0, "Severe, still bleeding"))),
))

DISCHARGE_SCALES = {"aldrete": ALDRETE, "padss": PADSS}
SCALES_BY_KIND = {s.kind: s for s in (PHQ9, ALDRETE, PADSS)}


def discharge_scale(kind: str) -> Scale:
    """The scale a protocol's `discharge_score` names."""
    try:
        return DISCHARGE_SCALES[kind]
    except KeyError:
        raise ValueError(f"unknown discharge score {kind!r}; known: {', '.join(DISCHARGE_SCALES)}") from None


def aldrete_circulation(baseline_systolic: float | None, systolic: float | None) -> int | None:
    """Suggested circulation points from systolic BP against the pre-dose value
    (±20 → 2, ±20–50 → 1, beyond ±50 → 0). None when either is unknown."""
    if baseline_systolic is None or systolic is None:
        return None
    diff = abs(systolic - baseline_systolic)
    return 2 if diff <= 20 else 1 if diff <= 50 else 0


def padss_vital_signs(baseline: tuple[float | None, float | None],
                      current: tuple[float | None, float | None]) -> int | None:
    """Suggested PADSS vital-signs points from (systolic, heart rate) against the
    pre-dose values: the larger deviation counts (≤ 20 % → 2, ≤ 40 % → 1, else 0).
    None unless both values are known at both times."""
    points = []
    for before, now in zip(baseline, current):
        if before is None or now is None or before <= 0:
            return None
        change = abs(now - before) * 100  # compared with before × percent: no rounding at 20 % / 40 %
        points.append(2 if change <= 20 * before else 1 if change <= 40 * before else 0)
    return min(points)
