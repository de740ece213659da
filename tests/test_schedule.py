"""What is due when, from the protocol's schedule and the dose events
(clinical-reference.md section 2): esketamine BP before dosing and 40 minutes after
the first device; IV ketamine every 10 minutes during the infusion and every 15
after. Pure functions, then the same through the chart the nurse sees."""
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from ketamon.core import ops
from ketamon.core.chart import load_chart
from ketamon.core.protocols import default_registry
from ketamon.core.schedule import due_items, due_text, next_due, next_due_item, short_due_text

from tests.conftest import T0

ESK = default_registry().get("esketamine-56")
IV = default_registry().get("iv-ketamine-0.5")
M = lambda n: timedelta(minutes=n)  # noqa: E731


@dataclass
class Dose:
    kind: str
    at: datetime
    amount_mg: float | None = None
    rate_mg_per_h: float | None = None
    device_number: int | None = None


def labels(items):
    return [(i.label, i.due_at) for i in items]


def test_esketamine_before_dosing_a_baseline_is_due_without_a_clock_time():
    items = due_items(ESK, "pre_dose", [], None, T0)
    assert labels(items) == [("Before dosing", None)]
    assert not items[0].is_overdue(T0 + M(600))  # no time, never an alarm before dosing
    assert due_text(items[0], T0) == "Vitals due: before dosing"
    assert short_due_text(items[0], T0) == "before dose"


def test_esketamine_40_minutes_after_the_first_device():
    first = T0 + M(10)
    doses = [Dose("nasal_device", first, 28, device_number=1), Dose("nasal_device", first + M(5), 28,
                                                                      device_number=2)]
    baseline = T0
    item = due_items(ESK, "monitoring", doses, baseline, first + M(20))[0]
    assert (item.label, item.due_at, item.overdue_at) == ("40 min after first device", first + M(40),
                                                          first + M(42))  # grace 2 min
    assert due_text(item, first + M(20)) == "Vitals due in 20 min 00 s — 40 min after first device"
    assert due_text(item, first + M(41)) == "Vitals due now — 40 min after first device"
    assert not item.is_overdue(first + M(42) - timedelta(seconds=1))
    assert item.is_overdue(first + M(42))
    assert due_text(item, first + M(47)) == "Vitals OVERDUE 7 min — 40 min after first device"
    assert short_due_text(item, first + M(47)) == "overdue 7 min"


@pytest.mark.parametrize("bp_minute, met", [(34, False), (35, True), (40, True), (58, True)])
def test_a_set_from_five_minutes_early_onwards_meets_the_40_minute_check(bp_minute, met):
    first = T0
    doses = [Dose("nasal_device", first, 28, device_number=1), Dose("nasal_device", first + M(5), 28,
                                                                      device_number=2)]
    items = due_items(ESK, "monitoring", doses, first + M(bp_minute), first + M(60))
    keys = [i.key for i in items]
    assert ("first_dose+40" in keys) is (not met)
    # before discharge: 120 min from the first device, shown but never an alarm
    discharge = [i for i in items if i.key == "before_discharge"][0]
    assert discharge.due_at == first + M(120) and discharge.overdue_at is None


def test_dosed_without_a_baseline_the_next_set_is_overdue_at_once():
    doses = [Dose("nasal_device", T0, 28, device_number=1)]
    item = due_items(ESK, "dosing", doses, None, T0 + M(3))[0]
    assert item.key == "before_dose" and item.is_overdue(T0 + M(3))


def test_infusion_every_10_minutes_during_then_every_15_for_an_hour():
    start = T0 + M(5)
    doses = [Dose("infusion_start", start, rate_mg_per_h=45)]
    # no set since the start: due 10 minutes after it
    assert labels(due_items(IV, "dosing", doses, T0, start + M(3))) == [
        ("Every 10 min during the infusion", start + M(10))]
    # rolling: 10 minutes after the last set
    assert due_items(IV, "dosing", doses, start + M(12), start + M(15))[0].due_at == start + M(22)
    stop = start + M(40)
    doses.append(Dose("infusion_stop", stop))
    after = due_items(IV, "monitoring", doses, stop - M(2), stop + M(1))
    assert labels(after)[0] == ("Every 15 min after dosing", stop + M(15))
    # the after-dose interval runs for 60 minutes; then only "before discharge" remains
    last = due_items(IV, "monitoring", doses, stop + M(50), stop + M(55))
    assert [i.key for i in last] == ["before_discharge"]


def test_nothing_is_due_once_the_session_has_ended():
    doses = [Dose("nasal_device", T0, 28, device_number=1)]
    for state in ("discharged", "signed", "cancelled", "stopped"):
        assert due_items(ESK, state, doses, None, T0 + M(60)) == []
    assert due_text(None, T0) == "No vitals due"


def test_the_chart_shows_the_next_set_due_with_its_countdown(store, nurse, esketamine_session, clock,
                                                            ready_for_dose):
    ready_for_dose(esketamine_session)
    assert next_due(load_chart(store, esketamine_session)) is None  # baseline done, not dosed: nothing due
    clock.advance(minutes=2)
    first = clock.now()
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=12)
    chart = load_chart(store, esketamine_session)
    assert next_due(chart) == ("40 min after first device", first + M(40))
    assert due_text(next_due_item(chart), chart.now) == "Vitals due in 28 min 00 s — 40 min after first device"
    clock.advance(minutes=25)  # 37 min after the first device: inside the early window
    ops.record_vitals(store, nurse, esketamine_session, systolic=132, diastolic=84, heart_rate=76)
    chart = load_chart(store, esketamine_session)
    assert next_due(chart) == ("Before discharge", first + M(120))
