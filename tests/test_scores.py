"""Scores the record uses, table-driven from clinical-reference.md sections 3 and 5:
PHQ-9 totals, bands and the item-9 flag; modified Aldrete and PADSS totals; the
suggestions computed from blood pressure against the pre-dose baseline."""
import pytest

from ketamon.core import scores
from ketamon.core.errors import ValidationError


def phq9(*answers: int) -> dict[str, int]:
    return {str(i): a for i, a in enumerate(answers, start=1)}


@pytest.mark.parametrize("total, band", [
    (0, "minimal"), (4, "minimal"),
    (5, "mild"), (9, "mild"),
    (10, "moderate"), (14, "moderate"),
    (15, "moderately severe"), (19, "moderately severe"),
    (20, "severe"), (27, "severe"),
])
def test_phq9_bands_at_their_edges(total, band):
    assert scores.phq9_band(total) == band


@pytest.mark.parametrize("total", [-1, 28])
def test_phq9_total_outside_0_27_is_not_a_band(total):
    with pytest.raises(ValueError):
        scores.phq9_band(total)


@pytest.mark.parametrize("answers, total, flag", [
    ((0, 0, 0, 0, 0, 0, 0, 0, 0), 0, False),
    ((3, 3, 3, 3, 3, 3, 3, 3, 3), 27, True),
    ((2, 2, 1, 2, 1, 1, 1, 0, 0), 10, False),
    ((0, 0, 0, 0, 0, 0, 0, 0, 1), 1, True),  # any non-zero item 9 needs follow-up
    ((3, 3, 3, 3, 3, 3, 3, 3, 0), 24, False),
])
def test_phq9_total_and_item9_flag(answers, total, flag):
    assert scores.PHQ9.total(phq9(*answers)) == total
    assert scores.phq9_needs_followup(phq9(*answers)) is flag


def test_phq9_items_are_the_nine_questions_with_four_answers():
    assert [i.key for i in scores.PHQ9.items] == [str(n) for n in range(1, 10)]
    assert "better off dead" in scores.PHQ9.item("9").label
    assert [c.text for c in scores.PHQ9.item("1").choices] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day"]
    assert scores.PHQ9.maximum == 27


@pytest.mark.parametrize("answers, words", [
    ({"1": 0}, "“Feeling down, depressed, or hopeless” is not answered"),
    ({**phq9(0, 0, 0, 0, 0, 0, 0, 0, 0), "3": 4}, "is not allowed: choose 0, 1, 2, 3"),
    ({**phq9(0, 0, 0, 0, 0, 0, 0, 0, 0), "10": 1}, "unknown item 10"),
    ({**phq9(0, 0, 0, 0, 0, 0, 0, 0, 0), "2": 1.5}, "1.5 is not allowed"),
])
def test_phq9_refuses_incomplete_or_impossible_answers(answers, words):
    with pytest.raises(ValidationError) as err:
        scores.PHQ9.total(answers)
    assert words in str(err.value)


ALDRETE_ITEMS = ("activity", "respiration", "circulation", "consciousness", "spo2")
PADSS_ITEMS = ("vital_signs", "activity", "nausea_vomiting", "pain", "bleeding")


@pytest.mark.parametrize("scale, keys", [(scores.ALDRETE, ALDRETE_ITEMS), (scores.PADSS, PADSS_ITEMS)])
@pytest.mark.parametrize("points, total", [
    ((2, 2, 2, 2, 2), 10),
    ((2, 2, 1, 2, 2), 9),
    ((1, 2, 1, 2, 2), 8),
    ((0, 0, 0, 0, 0), 0),
])
def test_discharge_scores_total_their_five_items(scale, keys, points, total):
    assert [i.key for i in scale.items] == list(keys)
    assert scale.maximum == 10
    assert scale.total(dict(zip(keys, points))) == total


def test_each_discharge_item_scores_2_1_0_with_the_reference_wording():
    assert scores.ALDRETE.item("activity").text_for(2) == "Moves 4 limbs on command"
    assert scores.ALDRETE.item("circulation").text_for(1) == "BP ±20–50 mmHg of pre-dose"
    assert scores.ALDRETE.item("spo2").text_for(2) == "Above 92 % on room air"
    assert scores.PADSS.item("vital_signs").text_for(0) == "BP or pulse more than 40 % from pre-dose"
    for scale in (scores.ALDRETE, scores.PADSS):
        assert all(item.points == (2, 1, 0) for item in scale.items)


def test_a_discharge_score_with_an_item_missing_is_refused():
    with pytest.raises(ValidationError, match="“SpO2” is not answered"):
        scores.ALDRETE.total({"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2})


@pytest.mark.parametrize("kind, scale", [("aldrete", scores.ALDRETE), ("padss", scores.PADSS)])
def test_protocol_names_its_discharge_score(kind, scale):
    assert scores.discharge_scale(kind) is scale


@pytest.mark.parametrize("baseline, now, points", [
    (120, 120, 2), (120, 140, 2), (120, 100, 2),  # within ±20
    (120, 141, 1), (120, 170, 1), (120, 70, 1),  # ±20–50
    (120, 171, 0), (120, 69, 0),  # beyond ±50
    (None, 120, None), (120, None, None),
])
def test_aldrete_circulation_suggested_from_bp_against_pre_dose(baseline, now, points):
    assert scores.aldrete_circulation(baseline, now) == points


@pytest.mark.parametrize("baseline, now, points", [
    ((120, 70), (144, 84), 2),  # exactly 20 % on both
    ((120, 70), (145, 70), 1),  # just over 20 % systolic
    ((120, 70), (120, 98), 1),  # exactly 40 % pulse
    ((120, 70), (120, 99), 0),  # just over 40 % pulse
    ((120, 70), (96, 56), 2),  # 20 % below
    ((120, None), (120, 70), None),
])
def test_padss_vital_signs_suggested_from_bp_and_pulse(baseline, now, points):
    assert scores.padss_vital_signs(baseline, now) == points
