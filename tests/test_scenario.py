"""ketamon.core.scenario walks sessions through the operations, so what it builds
is what a nurse's charting builds: audited, checked, and seen by the alert rules."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ketamon.core import lifecycle, ops, scenario
from ketamon.core.chart import load_chart
from ketamon.core.errors import ValidationError
from ketamon.core.models import Alert, AuditEntry


def test_a_device_session_is_charted_set_by_set_and_audited(store, nurse, clock):
    start = clock.now()
    sid = scenario.device_session(store, nurse, hours=30 / 3600, hz=1, nibp_every_s=10)
    chart = load_chart(store, sid)
    assert len(chart.vitals) == 30 and {v.source for v in chart.vitals} == {"device"}
    assert sum(v.systolic is not None for v in chart.vitals) == 3  # a NIBP every 10 s
    assert clock.now() == start + timedelta(seconds=30)  # the clock is left at the end of the data
    with store.read() as db:
        audited = db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.session_id == sid, AuditEntry.entity == "vital_signs"))
    assert audited == 30


def test_a_dosed_device_session_is_live(store, nurse, clock):
    sid = scenario.device_session(store, nurse, hours=5 / 3600, protocol_id="esketamine-56", dosed=True)
    chart = load_chart(store, sid)
    assert chart.session.state in lifecycle.CHARTABLE and chart.session.state not in ("planned", "pre_dose")
    assert any(d.kind == "nasal_device" for d in chart.doses)


def test_the_overdue_session_falls_overdue_when_it_says(store, nurse, clock):
    sid, overdue_at = scenario.overdue_session(store, nurse, overdue_in_s=5)
    assert clock.now() == overdue_at - timedelta(seconds=5)  # the store's clock is put back

    def overdue():
        with store.read() as db:
            return list(db.scalars(select(Alert.condition_key).where(
                Alert.session_id == sid, Alert.cleared_at.is_(None), Alert.condition_key.contains("overdue"))))

    clock.set(overdue_at - timedelta(seconds=1))
    ops.tick(store)
    assert overdue() == []
    clock.set(overdue_at + timedelta(seconds=1))
    ops.tick(store)
    assert len(overdue()) == 1


def test_the_rules_apply_to_a_scenario_too(store, nurse, clock):
    sid = scenario.new_session(store, nurse, scenario.new_patient(store, nurse), lot_number="LOT-1")
    with pytest.raises(ValidationError):  # no dose before the pre-dose checks
        ops.record_dose(store, nurse, sid, "nasal_device")
    scenario.ready_for_dose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
