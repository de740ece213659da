"""A broken monitor refused every second does not flood the audit trail (issue
11): the first refusal is audited at once, the repeats are counted and audited as
one row a minute with their count, the technical alert keeps the count, and every
acknowledgement still says the reason. The clock is the operations' (FakeClock):
no sleeps. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.models import Alert, AuditEntry
from ketamon.core.ops.device import REFUSAL_AUDIT_SECONDS, FeedService
from tests.conftest import T0, add_user
from tests.feed_corpus import message, msa


@pytest.fixture
def at_chair(any_store) -> int:
    nurse = add_user(any_store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(any_store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61).result
    sid = ops.create_session(any_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5").result
    ops.place_session(any_store, nurse, sid, "chair3")
    return sid


def refused_rows(store) -> list[str]:
    with store.read() as db:
        return list(db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "refused")
                               .order_by(AuditEntry.id)))


def alert_text(store, key: str) -> str:
    with store.read() as db:
        return db.scalar(select(Alert.message).where(Alert.condition_key == key, Alert.cleared_at.is_(None)))


def test_a_monitor_refused_every_second_writes_one_audit_row_a_minute_with_the_count(any_store, at_chair, clock):
    assert REFUSAL_AUDIT_SECONDS == 60
    service = FeedService(any_store)
    wrong_patient = lambda i: message(patient="MRN-999", control_id=f"W{i}")  # noqa: E731
    for i in range(150):  # 2.5 minutes at 1 Hz
        ack = service.handle(wrong_patient(i), "10.0.0.7:5000")
        assert msa(ack)[1] == "CR" and "another patient" in msa(ack)[3]  # every ACK says why
        clock.advance(seconds=1)
    rows = refused_rows(any_store)
    assert len(rows) == 3  # the first at once, then one a minute (not 150)
    assert "another patient" in rows[0] and "since the last entry" not in rows[0]
    assert rows[1].endswith("— refused 60 times since the last entry (61 since 09:00, CHAIR3)")
    assert rows[2].endswith("— refused 60 times since the last entry (121 since 09:00, CHAIR3)")
    assert all("MRN-999" not in r for r in rows)
    assert alert_text(any_store, "tech:feed:refused:CHAIR3").startswith(
        "Messages from CHAIR3 refused: 121 since 09:00 — The monitor at CHAIR3 sent data for another patient")

    # the monitor falls silent: the listener's tick writes what was counted since
    clock.advance(seconds=REFUSAL_AUDIT_SECONDS)
    service.tick()
    rows = refused_rows(any_store)
    assert len(rows) == 4 and rows[3].endswith("— refused 29 times since the last entry (150 since 09:00, CHAIR3)")
    assert alert_text(any_store, "tech:feed:refused:CHAIR3").startswith("Messages from CHAIR3 refused: 150 since")
    service.tick()
    assert len(refused_rows(any_store)) == 4  # nothing more to say

    # data from that chair again: the alert resolved; a later refusal is audited at once
    assert msa(service.handle(message(control_id="OK"), "10.0.0.7:5000"))[1] == "CA"
    assert alert_text(any_store, "tech:feed:refused:CHAIR3") is None
    service.handle(wrong_patient(999), "10.0.0.7:5000")
    assert len(refused_rows(any_store)) == 5
    assert alert_text(any_store, "tech:feed:refused:CHAIR3").startswith("Messages from CHAIR3 refused: 1 since")


def test_each_sender_and_reason_is_counted_apart(any_store, at_chair, clock):
    for i in range(70):
        assert msa(ops.receive_device_message(any_store, b"garbage"))[1] == "AR"
        assert msa(ops.receive_device_message(any_store, message(obr=False, control_id=f"N{i}")))[1] == "CR"
        clock.advance(seconds=1)
    rows = refused_rows(any_store)
    assert len(rows) == 4  # two senders × (the first, one a minute later)
    assert sum("not an HL7" in r for r in rows) == 2 and sum("without an OBR" in r for r in rows) == 2
    assert alert_text(any_store, "tech:feed:refused:unrouted").startswith(
        "Messages from an unknown sender refused: 61 since 09:00 — This is not an HL7 v2 message")
    assert alert_text(any_store, "tech:feed:refused:CHAIR3").startswith("Messages from CHAIR3 refused: 61 since")


def test_a_resolved_alert_is_raised_again_and_audited_at_once(any_store, at_chair, clock):
    nurse = add_user(any_store, "nurse2", "nurse", "Kim Lee RN")
    for i in range(3):
        ops.receive_device_message(any_store, message(obr=False, control_id=f"N{i}"))
        clock.advance(seconds=1)
    assert len(refused_rows(any_store)) == 1
    ops.technical_problem_resolved(any_store, nurse, "feed:refused:CHAIR3")  # a nurse checked the monitor
    ops.receive_device_message(any_store, message(obr=False, control_id="N9"))
    assert len(refused_rows(any_store)) == 2
    assert alert_text(any_store, "tech:feed:refused:CHAIR3").startswith("Messages from CHAIR3 refused: 1 since")


def test_a_direct_call_of_the_operation_is_still_audited_each_time(any_store, at_chair):
    from ketamon.core.feed.pcd01 import Refused
    from ketamon.core.permissions import SYSTEM

    for _ in range(3):
        with pytest.raises(Refused):
            ops.store_device_message(any_store, SYSTEM, message(obr=False))
    assert len(refused_rows(any_store)) == 3
