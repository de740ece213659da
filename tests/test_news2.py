"""NEWS2 bands at every boundary, written out from clinical-reference.md section 4
(RCP 2017, SpO2 scale 1), and its triggers."""
import pytest

from ketamon.core import news2
from ketamon.core.alerts import news2_condition
from ketamon.core.protocols import default_registry
from ketamon.core.rules import rules_for

# (parameter, value, points): both sides of every band edge in the reference table
BANDS = [
    # Resp. rate: ≤8 → 3 | 9–11 → 1 | 12–20 → 0 | 21–24 → 2 | ≥25 → 3
    ("resp_rate", 3, 3), ("resp_rate", 8, 3), ("resp_rate", 9, 1), ("resp_rate", 11, 1), ("resp_rate", 12, 0),
    ("resp_rate", 20, 0), ("resp_rate", 21, 2), ("resp_rate", 24, 2), ("resp_rate", 25, 3), ("resp_rate", 40, 3),
    # SpO2 scale 1: ≤91 → 3 | 92–93 → 2 | 94–95 → 1 | ≥96 → 0
    ("spo2", 85, 3), ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1), ("spo2", 95, 1),
    ("spo2", 96, 0), ("spo2", 100, 0),
    # Air or oxygen: oxygen → 2 | air → 0
    ("on_oxygen", True, 2), ("on_oxygen", False, 0),
    # Systolic: ≤90 → 3 | 91–100 → 2 | 101–110 → 1 | 111–219 → 0 | ≥220 → 3
    ("systolic", 70, 3), ("systolic", 90, 3), ("systolic", 91, 2), ("systolic", 100, 2), ("systolic", 101, 1),
    ("systolic", 110, 1), ("systolic", 111, 0), ("systolic", 219, 0), ("systolic", 220, 3), ("systolic", 250, 3),
    # Pulse: ≤40 → 3 | 41–50 → 1 | 51–90 → 0 | 91–110 → 1 | 111–130 → 2 | ≥131 → 3
    ("heart_rate", 35, 3), ("heart_rate", 40, 3), ("heart_rate", 41, 1), ("heart_rate", 50, 1),
    ("heart_rate", 51, 0), ("heart_rate", 90, 0), ("heart_rate", 91, 1), ("heart_rate", 110, 1),
    ("heart_rate", 111, 2), ("heart_rate", 130, 2), ("heart_rate", 131, 3), ("heart_rate", 180, 3),
    # Consciousness: alert → 0 | new confusion, voice, pain, unresponsive → 3
    ("consciousness", "A", 0), ("consciousness", "C", 3), ("consciousness", "V", 3), ("consciousness", "P", 3),
    ("consciousness", "U", 3),
    # Temperature: ≤35.0 → 3 | 35.1–36.0 → 1 | 36.1–38.0 → 0 | 38.1–39.0 → 1 | ≥39.1 → 2
    ("temperature", 34.0, 3), ("temperature", 35.0, 3), ("temperature", 35.1, 1), ("temperature", 36.0, 1),
    ("temperature", 36.1, 0), ("temperature", 38.0, 0), ("temperature", 38.1, 1), ("temperature", 39.0, 1),
    ("temperature", 39.1, 2), ("temperature", 41.0, 2),
]

#: a set scoring 0 everywhere, to vary one parameter at a time
NORMAL = dict(resp_rate=16, spo2=98, on_oxygen=False, systolic=120, heart_rate=70, consciousness="A",
              temperature=36.8)


@pytest.mark.parametrize("part, value, points", BANDS)
def test_every_band_edge_scores_as_the_reference_says(part, value, points):
    result = news2.score(**{**NORMAL, part: value})
    assert isinstance(result, news2.News2)
    assert result.parts[part] == points
    assert result.total == points  # every other parameter scores 0


def test_the_total_adds_all_seven_parameters():
    # RR 22 (2) + SpO2 94 (1) + oxygen (2) + SBP 105 (1) + pulse 115 (2) + voice (3) + 38.5 °C (1) = 12
    r = news2.score(resp_rate=22, spo2=94, on_oxygen=True, systolic=105, heart_rate=115, consciousness="V",
                    temperature=38.5)
    assert r.total == 12 and r.risk == "high" and r.threes == ["consciousness"]


@pytest.mark.parametrize("missing", news2.PARTS)
def test_an_incomplete_set_has_no_score(missing):
    result = news2.score(**{**NORMAL, missing: None})
    assert isinstance(result, news2.Incomplete) and result.missing == (missing,)
    assert result.text() == "NEWS2 —"


def test_a_recent_temperature_stands_in_and_is_named():
    class Set:
        resp_rate, spo2, on_oxygen, systolic, heart_rate, consciousness, temperature = 16, 98, False, 120, 70, "A", None

    assert isinstance(news2.score_vitals(Set()), news2.Incomplete)
    r = news2.score_vitals(Set(), earlier_temperature=38.4)
    assert r.total == 1 and r.carried == ("temperature",)
    assert r.text() == "NEWS2 1 (temperature from earlier set)"


RULE = rules_for(default_registry().get("esketamine-56"))["news2"]


@pytest.mark.parametrize("values, priority, words", [
    (dict(), None, None),  # 0: routine
    (dict(heart_rate=95, resp_rate=22), None, None),  # 3 without a single 3: nurse assesses, no alert
    (dict(spo2=91), "low", "inform the medical team"),  # single 3
    (dict(resp_rate=22, heart_rate=115, spo2=95), "medium", "urgent review"),  # 2 + 2 + 1 = 5
    (dict(resp_rate=22, heart_rate=115, spo2=94, systolic=105, temperature=38.5), "high", "emergency"),  # 7
    (dict(consciousness="V", resp_rate=22, heart_rate=115), "high", "emergency"),  # 3 + 2 + 2 = 7
    (dict(consciousness="V", resp_rate=22), "medium", "urgent"),  # single 3 and total 5: the higher trigger
])
def test_triggers_raise_rising_priorities(values, priority, words):
    result = news2.score(**{**NORMAL, **values})
    cond = news2_condition(result, RULE)
    if priority is None:
        assert cond is None
    else:
        assert cond.priority == priority and words in cond.message
        assert cond.message.startswith(f"NEWS2 {result.total}")
