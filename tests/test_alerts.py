"""The alert rules at and around their boundaries, through the charting
operations a nurse uses: what is raised, at which priority, and that a persisting
condition raises once and re-arms after it clears. Numbers are the defaults in
resources/alarms/defaults.toml and the protocol ranges (clinical-reference.md 2–7)."""
from datetime import timedelta

import pytest

from ketamon.core import alert_views, alerts, ops
from ketamon.core.chart import load_chart
from ketamon.core.protocols import ProtocolRegistry, default_registry, parse_protocol
from ketamon.core.store import Store


def active(store, sid) -> dict[str, tuple[str, str]]:
    """key -> (priority, rule) of the alerts the nurse sees now."""
    return {a.key: (a.priority, a.rule) for a in alert_views.session_alerts(store, sid) if a.active}


def all_rows(store, sid):
    return alert_views.session_alerts(store, sid)


@pytest.fixture
def iv(store, infusion_session):
    """An IV session before dosing (no pre-dose gate): the range rules alone."""
    return infusion_session


def vitals(store, nurse, sid, **values):
    return ops.record_vitals(store, nurse, sid, **values)


# ---------------------------------------------------------------- ranges


RANGE_CASES = [
    # systolic: abnormal 90–160 (medium), critical 80–180 (high)
    (dict(systolic=160, diastolic=80), {}),
    (dict(systolic=161, diastolic=80), {"bp_high": ("medium", "range_abnormal")}),
    (dict(systolic=180, diastolic=80), {"bp_high": ("medium", "range_abnormal")}),
    (dict(systolic=181, diastolic=80), {"bp_high": ("high", "range_critical")}),
    (dict(systolic=90, diastolic=60), {}),
    (dict(systolic=89, diastolic=60), {"bp_low": ("medium", "range_abnormal")}),
    (dict(systolic=80, diastolic=60), {"bp_low": ("medium", "range_abnormal")}),
    (dict(systolic=79, diastolic=60), {"bp_low": ("high", "range_critical")}),
    # diastolic: abnormal 50–100, critical 40–110
    (dict(systolic=140, diastolic=100), {}),
    (dict(systolic=140, diastolic=101), {"bp_high": ("medium", "range_abnormal")}),
    (dict(systolic=150, diastolic=111), {"bp_high": ("high", "range_critical")}),
    (dict(systolic=100, diastolic=49), {"bp_low": ("medium", "range_abnormal")}),
    # heart rate: abnormal 50–110, critical 40–130
    (dict(heart_rate=110), {}),
    (dict(heart_rate=111), {"hr_high": ("medium", "range_abnormal")}),
    (dict(heart_rate=130), {"hr_high": ("medium", "range_abnormal")}),
    (dict(heart_rate=131), {"hr_high": ("high", "range_critical")}),
    (dict(heart_rate=50), {}),
    (dict(heart_rate=49), {"hr_low": ("medium", "range_abnormal")}),
    (dict(heart_rate=40), {"hr_low": ("medium", "range_abnormal")}),
    (dict(heart_rate=39), {"hr_low": ("high", "range_critical")}),
    # SpO2: abnormal ≥95, critical ≥92; ≤91 is respiratory depression (high)
    (dict(spo2=95), {}),
    (dict(spo2=94), {"breathing": ("medium", "range_abnormal")}),
    (dict(spo2=92), {"breathing": ("medium", "range_abnormal")}),
    (dict(spo2=91), {"breathing": ("high", "respiratory_depression")}),
    # respiratory rate: abnormal 12–24, critical 9–30; ≤8 is respiratory depression
    (dict(resp_rate=12), {}),
    (dict(resp_rate=11), {"breathing": ("medium", "range_abnormal")}),
    (dict(resp_rate=9), {"breathing": ("medium", "range_abnormal")}),
    (dict(resp_rate=8), {"breathing": ("high", "respiratory_depression")}),
    (dict(resp_rate=24), {}),
    (dict(resp_rate=25), {"rr_high": ("medium", "range_abnormal")}),
    (dict(resp_rate=31), {"rr_high": ("high", "range_critical")}),
    # temperature: abnormal 36.0–38.0 at low priority, critical 35.0–39.5
    (dict(temperature=38.0), {}),
    (dict(temperature=38.1), {"temp_high": ("low", "range_abnormal")}),
    (dict(temperature=39.5), {"temp_high": ("low", "range_abnormal")}),
    (dict(temperature=39.6), {"temp_high": ("high", "range_critical")}),
    (dict(temperature=35.9), {"temp_low": ("low", "range_abnormal")}),
    (dict(temperature=34.9), {"temp_low": ("high", "range_critical")}),
]


@pytest.mark.parametrize("values, expected", RANGE_CASES)
def test_range_tiers_raise_their_priority(store, nurse, iv, values, expected):
    vitals(store, nurse, iv, **values)
    assert active(store, iv) == expected


def test_the_message_names_the_value_and_the_limit(store, nurse, iv):
    vitals(store, nurse, iv, systolic=186, diastolic=92)
    (a,) = all_rows(store, iv)
    assert a.message == "BP 186/92: systolic 186 above the critical limit 180"
    assert a.mark == "***" and a.category == "patient"
    vitals(store, nurse, iv, spo2=93)
    assert "SpO2 93% below the abnormal limit 95" in [x.message for x in all_rows(store, iv)]


def test_a_persisting_condition_is_raised_once_and_rearms_after_it_clears(store, nurse, iv, clock):
    for sbp in (165, 170, 168):
        vitals(store, nurse, iv, systolic=sbp, diastolic=85)
        clock.advance(minutes=1)
    vitals(store, nurse, iv, heart_rate=80)  # a set without BP says nothing about BP
    assert [(a.key, a.active) for a in all_rows(store, iv)] == [("bp_high", True)]
    clock.advance(minutes=1)
    vitals(store, nurse, iv, systolic=150, diastolic=85)
    (cleared,) = all_rows(store, iv)
    assert not cleared.active and cleared.cleared_at == clock.now()  # cleared, still in the record
    clock.advance(minutes=1)
    vitals(store, nurse, iv, systolic=166, diastolic=85)
    rows = all_rows(store, iv)
    assert [(a.key, a.active) for a in rows] == [("bp_high", True), ("bp_high", False)]


def test_worse_raises_the_same_alert_and_milder_keeps_it_until_back_in_range(store, nurse, iv, clock):
    vitals(store, nurse, iv, systolic=165, diastolic=85)
    clock.advance(minutes=1)
    vitals(store, nurse, iv, systolic=185, diastolic=85)
    (a,) = all_rows(store, iv)
    assert (a.priority, a.rule, a.escalated_at) == ("high", "range_critical", clock.now())
    assert "185" in a.message
    clock.advance(minutes=1)
    vitals(store, nurse, iv, systolic=170, diastolic=85)  # milder, still high: no new alert, no downgrade
    (a,) = all_rows(store, iv)
    assert a.active and a.priority == "high"


def test_a_correction_back_in_range_clears_the_alert(store, nurse, iv):
    vid = vitals(store, nurse, iv, systolic=210, diastolic=90).result
    assert active(store, iv) == {"bp_high": ("high", "bp_single")}
    ops.record_vitals(store, nurse, iv, systolic=120, diastolic=90, supersedes_id=vid,
                      correction_reason="typed 210 for 120")
    assert active(store, iv) == {}
    assert len(all_rows(store, iv)) == 1


# ---------------------------------------------------------------- BP rules


@pytest.fixture
def dosed(store, nurse, esketamine_session, ready_for_dose, clock):
    """An esketamine session dosed 2 devices from a baseline of 110/70."""
    ready_for_dose(esketamine_session, baseline=False)
    vitals(store, nurse, esketamine_session, systolic=110, diastolic=70, heart_rate=70, spo2=98, resp_rate=14)
    clock.advance(minutes=1)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=1)
    return esketamine_session


@pytest.mark.parametrize("bp, expected", [
    ((140, 90), {}),  # +30/+20: not more than
    ((141, 90), {"bp_high": ("medium", "rise_over_baseline")}),
    ((140, 91), {"bp_high": ("medium", "rise_over_baseline")}),
    ((161, 91), {"bp_high": ("medium", "range_abnormal")}),  # also abnormal: the stronger finding shows
])
def test_rise_over_the_predose_baseline(store, nurse, dosed, bp, expected):
    vitals(store, nurse, dosed, systolic=bp[0], diastolic=bp[1])
    assert active(store, dosed) == expected
    if expected:
        (a,) = [x for x in all_rows(store, dosed) if x.active]
        if a.rule == "rise_over_baseline":
            assert a.message == f"BP {bp[0]}/{bp[1]} is +{bp[0] - 110}/+{bp[1] - 70} mmHg from the pre-dose 110/70"


def test_rise_in_percent_when_the_protocol_asks_for_it(sqlite_url, clock, actors):
    base = default_registry().get("iv-ketamine-0.5")
    data = {"id": "iv-pct", "version": 1, "name": "IV percent", "drug": "ketamine", "route": "iv",
            "dose": {"rule": "per_kg", "mg_per_kg": 0.5, "infusion_minutes": 40},
            "schedule": {"during_infusion_every": 10},
            "ranges": {k: {"absolute": [r.absolute.low, r.absolute.high]} for k, r in base.ranges.items()},
            "rules": {"rise_over_baseline": {"systolic_percent": 20, "systolic_mmhg": 1000,
                                             "diastolic_mmhg": 1000}}}
    store = Store(sqlite_url, clock=clock, run_migrations=False,
                  protocols=ProtocolRegistry([parse_protocol(data)]))
    nurse = actors["nurse"]
    from datetime import date
    pid = ops.create_patient(store, nurse, mrn="P", family_name="P", given_name="P", birth_date=date(1980, 1, 1),
                             sex="male", weight_kg=80).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-pct").result
    ops.record_predose_checklist(store, nurse, sid, consent=True, fasting=True, contraindications_reviewed=True,
                                 medications_reviewed=True)
    ops.record_phq9(store, nurse, sid, {str(i): 0 for i in range(1, 10)})
    vitals(store, nurse, sid, systolic=100, diastolic=60, heart_rate=70, spo2=98, resp_rate=14)
    ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=60)
    clock.advance(minutes=5)
    vitals(store, nurse, sid, systolic=120, diastolic=60)  # +20 %: not more than
    assert active(store, sid) == {}
    vitals(store, nurse, sid, systolic=121, diastolic=60)
    assert active(store, sid) == {"bp_high": ("medium", "rise_over_baseline")}
    store.dispose()


@pytest.mark.parametrize("bp, rule", [
    ((200, 100), "range_critical"),
    ((201, 100), "bp_single"),
    ((150, 120), "range_critical"),
    ((150, 121), "bp_single"),
])
def test_above_200_120_on_any_single_reading(store, nurse, dosed, bp, rule):
    vitals(store, nurse, dosed, systolic=bp[0], diastolic=bp[1])
    assert active(store, dosed) == {"bp_high": ("high", rule)}


def test_above_180_110_on_two_readings_five_minutes_apart(store, nurse, dosed, clock):
    vitals(store, nurse, dosed, systolic=185, diastolic=100)
    clock.advance(minutes=4, seconds=59)
    vitals(store, nurse, dosed, systolic=186, diastolic=100)
    assert active(store, dosed) == {"bp_high": ("high", "range_critical")}
    clock.advance(seconds=1)  # 5:00 after the first
    vitals(store, nurse, dosed, systolic=182, diastolic=100)
    (a,) = [x for x in all_rows(store, dosed) if x.active]
    assert (a.rule, a.priority) == ("bp_sustained", "high")
    # the rise over the pre-dose baseline stays in the text (issue 9)
    assert a.message == "BP above 180/110 for 5 min or more (now 182/100); +72/+30 mmHg from the pre-dose 110/70"
    assert len(all_rows(store, dosed)) == 1  # the same alert, made worse


def test_a_reading_back_at_or_below_180_110_restarts_the_five_minutes(store, nurse, dosed, clock):
    """Sustained means no reading in between back in range: 185, 170, 185 is not."""
    start = clock.now()
    for minute, sbp in ((0, 185), (3, 170), (6, 185), (9, 188)):
        clock.set(start + timedelta(minutes=minute))
        vitals(store, nurse, dosed, systolic=sbp, diastolic=100)
        assert active(store, dosed)["bp_high"][1] == "range_critical"
    clock.set(start + timedelta(minutes=11))  # 5 min after the 185 at minute 6
    vitals(store, nurse, dosed, systolic=184, diastolic=100)
    assert active(store, dosed)["bp_high"] == ("high", "bp_sustained")


def test_sustained_bp_alerts_even_where_the_patients_limits_allow_the_value(store, nurse, iv, clock, actors,
                                                                           patient_id):
    doctor = actors["physician"]
    ops.set_patient_limits(store, doctor, patient_id, "systolic", "critical", low=80, high=200,
                           reason="known hypertensive")
    ops.set_patient_limits(store, doctor, patient_id, "systolic", "abnormal", low=90, high=190,
                           reason="known hypertensive")
    vitals(store, nurse, iv, systolic=185, diastolic=80)  # mean 115: in range too
    assert active(store, iv) == {}
    clock.advance(minutes=5)
    vitals(store, nurse, iv, systolic=185, diastolic=80)
    assert active(store, iv) == {"bp_high": ("high", "bp_sustained")}


def test_heart_rate_above_120_for_five_minutes(store, nurse, dosed, clock):
    start = clock.now()
    for second in range(0, 300, 30):  # a reading every 30 s
        clock.set(start + timedelta(seconds=second))
        vitals(store, nurse, dosed, heart_rate=121, source="device")
    assert active(store, dosed) == {"hr_high": ("medium", "range_abnormal")}
    clock.set(start + timedelta(seconds=300))
    vitals(store, nurse, dosed, heart_rate=122, source="device")
    assert active(store, dosed) == {"hr_high": ("high", "hr_sustained")}
    clock.advance(seconds=30)
    vitals(store, nurse, dosed, heart_rate=120, source="device")  # at the limit is not above it
    assert active(store, dosed) == {"hr_high": ("high", "hr_sustained")}  # 120 is still abnormal (>110)
    clock.advance(seconds=30)
    vitals(store, nurse, dosed, heart_rate=100, source="device")
    assert active(store, dosed) == {}


def test_heart_rate_at_120_is_not_sustained_tachycardia(store, nurse, dosed, clock):
    for _ in range(12):
        vitals(store, nurse, dosed, heart_rate=120, source="device")
        clock.advance(seconds=30)
    (a,) = [x for x in all_rows(store, dosed) if x.active]
    assert (a.key, a.rule) == ("hr_high", "range_abnormal")
    # not sustained tachycardia; but nobody acknowledged the medium alert for 5 min: it escalated
    assert a.priority == "high" and a.escalated_at is not None


# ---------------------------------------------------------------- side effects


@pytest.mark.parametrize("score, expected", [
    (3, {}),
    (2, {"sedation": ("high", "moaas_2")}),
    (1, {"sedation": ("high", "moaas_1")}),
    (0, {"sedation": ("high", "moaas_0")}),
])
def test_sedation_moaas_2_or_less_is_high(store, nurse, iv, score, expected):
    ops.record_side_effect(store, nurse, iv, "sedation", score=score)
    assert active(store, iv) == expected


def test_sedation_worsening_to_0_gives_the_most_urgent_message_then_clears(store, nurse, iv, clock):
    ops.record_side_effect(store, nurse, iv, "sedation", score=2)
    clock.advance(minutes=2)
    ops.record_side_effect(store, nurse, iv, "sedation", score=0)
    (a,) = all_rows(store, iv)
    assert a.message == ("Unresponsive: MOAA/S 0, no response to a painful squeeze. Check airway and breathing.")
    assert a.escalated_at == clock.now()
    clock.advance(minutes=5)
    ops.record_side_effect(store, nurse, iv, "sedation", score=4)
    assert active(store, iv) == {} and len(all_rows(store, iv)) == 1


@pytest.mark.parametrize("kwargs, expected", [
    (dict(score=3), {}),
    (dict(score=4), {"dissociation": ("medium", "dissociation")}),
    (dict(items={"1": 3, "2": 3, "6": 3, "7": 3, "15": 3, "22": 2}), {}),  # CADSS-6 17
    (dict(items={"1": 3, "2": 3, "6": 3, "7": 3, "15": 3, "22": 3}), {"dissociation": ("medium", "dissociation")}),
])
def test_severe_dissociation(store, nurse, iv, kwargs, expected):
    ops.record_side_effect(store, nurse, iv, "dissociation", **kwargs)
    assert active(store, iv) == expected


@pytest.mark.parametrize("score, expected", [(6, {}), (7, {"nausea": ("low", "nausea")}),
                                             (10, {"nausea": ("low", "nausea")})])
def test_nausea_7_or_more(store, nurse, iv, score, expected):
    ops.record_side_effect(store, nurse, iv, "nausea", score=score)
    assert active(store, iv) == expected


def test_vomiting_latches_until_acknowledged_and_a_new_episode_alerts_again(store, nurse, iv, clock):
    ops.record_side_effect(store, nurse, iv, "vomiting")
    assert active(store, iv) == {"vomiting": ("medium", "vomiting")}
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, iv, "vomiting")  # while the first is unacknowledged: same alert
    vitals(store, nurse, iv, heart_rate=80)
    assert len(all_rows(store, iv)) == 1
    ops.acknowledge_alert(store, nurse, session_id=iv)
    assert active(store, iv) == {}
    vitals(store, nurse, iv, heart_rate=82)  # re-evaluation does not bring the old episode back
    assert active(store, iv) == {}
    clock.advance(minutes=10)
    ops.record_side_effect(store, nurse, iv, "vomiting")
    assert active(store, iv) == {"vomiting": ("medium", "vomiting")} and len(all_rows(store, iv)) == 2


def test_observed_respiratory_depression_is_high(store, nurse, iv):
    ops.record_side_effect(store, nurse, iv, "respiratory_depression", text="shallow breathing")
    (a,) = all_rows(store, iv)
    assert (a.priority, a.key) == ("high", "resp_depression")
    assert a.message.startswith("Respiratory depression observed. Check airway and breathing. (shallow breathing)")


# ---------------------------------------------------------------- NEWS2 through the chart


def test_news2_triggers_from_a_complete_set(store, nurse, iv, clock):
    full = dict(systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=16, on_oxygen=False,
                consciousness="A", temperature=36.8)
    vitals(store, nurse, iv, **full)
    assert active(store, iv) == {}
    clock.advance(minutes=5)
    vitals(store, nurse, iv, **{**full, "consciousness": "V"})  # single 3
    assert active(store, iv) == {"news2": ("low", "news2_single_three")}
    clock.advance(minutes=5)
    # 3 (voice) + 2 (oxygen): 5
    vitals(store, nurse, iv, **{**full, "consciousness": "V", "on_oxygen": True})
    assert active(store, iv) == {"news2": ("medium", "news2_urgent")}
    clock.advance(minutes=5)
    # + pulse 115 (2) = 7; the pulse is also above its abnormal limit
    vitals(store, nurse, iv, **{**full, "consciousness": "V", "on_oxygen": True, "heart_rate": 115})
    assert active(store, iv)["news2"] == ("high", "news2_emergency")
    assert len([a for a in all_rows(store, iv) if a.key == "news2"]) == 1
    clock.advance(minutes=5)
    vitals(store, nurse, iv, **full)
    assert active(store, iv) == {}


def test_news2_uses_a_temperature_from_the_last_hour(store, nurse, iv, clock):
    vitals(store, nurse, iv, temperature=36.8)
    clock.advance(minutes=30)
    vitals(store, nurse, iv, systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=16, on_oxygen=True,
           consciousness="V")
    (a,) = all_rows(store, iv)
    assert a.message.startswith("NEWS2 5 (temperature from earlier set)")
    # shown beside the set in the chart's event log; the temperature-only set has no score
    lines = [line.text for line in load_chart(store, iv).log if line.kind == "vitals"]
    assert lines == ["T 36.8°C",
                     "BP 120/80 (93), HR 70, SpO2 98% on O2, RR 16, ACVPU V · NEWS2 5 (temperature from earlier set)"]
    clock.advance(minutes=61)
    vitals(store, nurse, iv, systolic=120, diastolic=80, heart_rate=70, spo2=98, resp_rate=16, on_oxygen=False,
           consciousness="A")  # no temperature within the hour: the rest scores 0, below every trigger
    # the urgent alert is not left sounding: it clears and says NEWS2 cannot be assessed
    assert active(store, iv)["news2"] == ("low", "news2_not_assessable")
    assert sorted((a.rule, a.active) for a in all_rows(store, iv) if a.key == "news2") == [
        ("news2_not_assessable", True), ("news2_urgent", False)]


# ---------------------------------------------------------------- late entries


def test_a_late_entry_behind_a_newer_set_is_recorded_for_review_but_not_sounded(store, nurse, iv, clock):
    clock.advance(minutes=20)
    vitals(store, nurse, iv, systolic=130, diastolic=80)
    vitals(store, nurse, iv, systolic=192, diastolic=96, measured_at=clock.now() - timedelta(minutes=10))
    (a,) = all_rows(store, iv)
    assert not a.active and a.cleared_at == a.raised_at == clock.now()
    assert a.message.startswith("Late entry (measured") and "192" in a.message


def test_a_late_bp_that_is_still_the_newest_bp_counts(store, nurse, iv, clock):
    clock.advance(minutes=20)
    vitals(store, nurse, iv, heart_rate=80, spo2=97, source="device")  # the monitor: no BP
    vitals(store, nurse, iv, systolic=192, diastolic=96, measured_at=clock.now() - timedelta(minutes=3))
    assert active(store, iv) == {"bp_high": ("high", "range_critical")}
