"""Both listeners store messages that arrive together with one commit
(ketamon.core.ops.device.BatchWriter, ops.base.one_commit): each message keeps
its own answer and its own fate (a refused one stores nothing and the others are
kept), no answer is sent before the commit, a batch that cannot be committed is
answered "send it again" and leaves nothing behind, and the audit trail still
proves every row."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ketamon.core import audit, ops
from ketamon.core.models import Alert, VitalSigns
from ketamon.core.ops.base import one_commit
from ketamon.core.ops.device import NOT_STORED, BatchWriter, FeedService
from tests.conftest import T0, add_user
from tests.feed_corpus import FULL_SET, message, msa


@pytest.fixture
def feed_store(any_store):
    """SQLite and PostgreSQL: the app's listener process stores into either."""
    return any_store


@pytest.fixture
def chairs(feed_store) -> dict[str, int]:
    """Two sessions, at CHAIR3 (MRN-1) and CHAIR4 (MRN-2)."""
    nurse = add_user(feed_store, "nurse", "nurse", "Sam Carter RN")
    out = {}
    for chair, mrn in (("CHAIR3", "MRN-1"), ("CHAIR4", "MRN-2")):
        pid = ops.create_patient(feed_store, nurse, mrn=mrn, family_name="Ng", given_name=chair,
                                 birth_date=date(1980, 1, 2), sex="female", weight_kg=60).result
        out[chair] = ops.create_session(feed_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5",
                                        chair=chair).result
    return out


def device_sets(feed_store, session_id: int) -> list[VitalSigns]:
    with feed_store.read() as db:
        return list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == session_id)
                               .order_by(VitalSigns.id)))


@pytest.fixture
def writer(feed_store):
    return BatchWriter(feed_store, FeedService(feed_store), batch=8)


def at(seconds: int):
    return T0 - timedelta(seconds=seconds)


def test_each_message_of_a_batch_gets_its_own_answer_and_fate(feed_store, chairs, writer):
    artefact = [r if not r[0].startswith("147842") else (r[0], "400", r[2]) for r in FULL_SET]
    replies = writer.store_batch([
        (message(chair="CHAIR3", patient="MRN-1", control_id="A", obx_time=at(3)), "p1"),
        (message(chair="CHAIR4", patient="MRN-1", control_id="B", obx_time=at(3)), "p2"),  # not MRN-2: refused
        (message(artefact, chair="CHAIR4", patient="MRN-2", control_id="C", obx_time=at(2)), "p2"),
        (message(chair="CHAIR3", patient="MRN-1", control_id="D", obx_time=at(1)), "p1"),
    ])
    assert [msa(r)[1:3] for r in replies] == [["CA", "A"], ["CR", "B"], ["CE", "C"], ["CA", "D"]]
    assert [v.measured_at for v in device_sets(feed_store, chairs["CHAIR3"])] == [at(3), at(1)]
    # the refused message stored nothing; of the artefact's message, the other values were kept
    [kept] = device_sets(feed_store, chairs["CHAIR4"])
    assert (kept.heart_rate, kept.systolic) == (None, 128)
    with feed_store.read() as db:
        assert db.scalars(select(Alert).where(Alert.category == "technical")).first() is not None
        result = audit.verify(db)
    assert result.ok, result.problem


def test_no_answer_before_the_commit(feed_store, chairs, writer):
    seen_before_commit = []
    real = writer.service.handle

    def handle(raw, peer):
        reply = real(raw, peer)
        seen_before_commit.append(len(device_sets(feed_store, chairs["CHAIR3"])))  # another connection's view
        return reply

    writer.service.handle = handle
    reply = writer.handle(message(chair="CHAIR3", patient="MRN-1", control_id="A", obx_time=at(1)), "p1")
    assert seen_before_commit == [0]  # stored, not yet committed, while the answer was being made
    assert msa(reply)[1] == "CA" and len(device_sets(feed_store, chairs["CHAIR3"])) == 1  # answered: committed


def test_a_batch_that_cannot_be_committed_is_answered_send_again_and_leaves_nothing(feed_store, chairs, writer):
    real = writer.service.handle
    calls = []

    def handle(raw, peer):
        calls.append(raw)
        if len(calls) == 2:
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        return real(raw, peer)

    writer.service.handle = handle
    replies = writer.store_batch([
        (message(chair="CHAIR3", patient="MRN-1", control_id="A", obx_time=at(2)), "p1"),
        (message(chair="CHAIR4", patient="MRN-2", control_id="B", obx_time=at(2)), "p2"),
    ])
    assert [msa(r)[1:4] for r in replies] == [["CR", "A", NOT_STORED], ["CR", "B", NOT_STORED]]
    assert device_sets(feed_store, chairs["CHAIR3"]) == [] and device_sets(feed_store, chairs["CHAIR4"]) == []


def test_monitors_sending_at_once_each_get_their_own_answer(feed_store, chairs, writer):
    replies: dict[str, bytes] = {}
    go = threading.Barrier(8)

    def monitor(n: int) -> None:
        chair, mrn = ("CHAIR3", "MRN-1") if n % 2 else ("CHAIR4", "MRN-2")
        raw = message(chair=chair, patient=mrn, control_id=f"M{n}", obx_time=at(10 + n))
        go.wait()
        replies[f"M{n}"] = writer.handle(raw, f"p{n}")

    threads = [threading.Thread(target=monitor, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert {cid: msa(r)[1:3] for cid, r in replies.items()} == {f"M{n}": ["CA", f"M{n}"] for n in range(8)}
    assert len(device_sets(feed_store, chairs["CHAIR3"])) == len(device_sets(feed_store, chairs["CHAIR4"])) == 4
    with feed_store.read() as db:
        assert audit.verify(db).ok


def test_one_commit_blocks_do_not_nest(feed_store):
    with one_commit(feed_store):
        with pytest.raises(RuntimeError):
            with one_commit(feed_store):
                pass
