"""The listener over a real loopback socket (issue 11, point 4): MLLP framing,
many messages on one persistent connection, several monitors at once, garbage
and dropped connections survived, the simulator and the listener against each
other."""
from __future__ import annotations

import socket
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.feed import simulator
from ketamon.core.feed.mllp import START, Decoder, Listener, frame
from ketamon.core.models import Alert, VitalSigns
from ketamon.core.ops.device import FeedService
from tests.conftest import T0
from tests.feed_corpus import message, msa


@pytest.fixture
def chairs(store, nurse, patient_id) -> dict[str, int]:
    """Two sessions, at CHAIR3 (MRN-1) and CHAIR4 (MRN-2)."""
    other = ops.create_patient(store, nurse, mrn="MRN-2", family_name="Okafor", given_name="Daniel",
                               birth_date=date(1977, 9, 2), sex="male", weight_kg=82).result
    return {chair: ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5",
                                      chair=chair).result
            for chair, pid in (("CHAIR3", patient_id), ("CHAIR4", other))}


@pytest.fixture
def listening(store):
    service = FeedService(store)
    reported = threading.Event()

    def lost(peer: str) -> None:
        service.lost(peer)
        reported.set()

    listener = Listener(service.handle, "127.0.0.1", 0, on_lost=lost).start()
    listener.lost_reported = reported
    yield listener
    listener.stop()


def connect(listener: Listener) -> socket.socket:
    return socket.create_connection(("127.0.0.1", listener.port), timeout=20)


def read_acks(sock: socket.socket, n: int) -> list[bytes]:
    decoder, acks = Decoder(), []
    while len(acks) < n:
        data = sock.recv(65536)
        assert data, "the listener closed the connection"
        acks += decoder.feed(data)
    return acks


def device_sets(store, session_id: int) -> list[VitalSigns]:
    with store.read() as db:
        return list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == session_id,
                                                        VitalSigns.source == "device")))


def numbered(i: int, patient: str = "MRN-1", chair: str = "CHAIR3") -> bytes:
    at = T0 - timedelta(seconds=60 - i)
    return message(patient=patient, chair=chair, obr_time=at, sent=at, control_id=f"M{i}")


def test_the_decoder_frames_messages_whatever_the_reads_cut():
    stream = b"noise" + frame(b"one") + frame(b"two") + b"\r\n" + frame(b"three")
    for cut in range(1, len(stream)):
        d = Decoder()
        assert d.feed(stream[:cut]) + d.feed(stream[cut:]) == [b"one", b"two", b"three"]


def test_a_frame_longer_than_the_bound_is_cut_and_the_next_one_is_whole():
    d = Decoder(max_bytes=100)
    out = d.feed(frame(b"x" * 10_000) + frame(b"after"))
    assert [len(out[0]), out[1]] == [101, b"after"]


def test_a_round_trip_over_loopback_stores_and_acknowledges(store, chairs, listening):
    with connect(listening) as sock:
        sock.sendall(frame(numbered(1)))
        [ack] = read_acks(sock, 1)
    assert msa(ack)[:3] == ["MSA", "CA", "M1"]
    assert [v.heart_rate for v in device_sets(store, chairs["CHAIR3"])] == [74]


def test_back_to_back_messages_on_one_connection_are_each_answered_in_order(store, chairs, listening):
    with connect(listening) as sock:
        sock.sendall(b"".join(frame(numbered(i)) for i in range(20)))  # one write, twenty messages
        acks = read_acks(sock, 20)
        sock.sendall(frame(numbered(20)))  # the connection stays open
        acks += read_acks(sock, 1)
    assert [msa(a)[2] for a in acks] == [f"M{i}" for i in range(21)]
    assert {msa(a)[1] for a in acks} == {"CA"}
    assert len(device_sets(store, chairs["CHAIR3"])) == 21


def test_two_monitors_at_once_each_feed_their_own_session(store, chairs, listening):
    def monitor(chair: str, patient: str, results: list) -> None:
        with connect(listening) as sock:
            for i in range(10):
                sock.sendall(frame(numbered(i, patient, chair)))
                results += read_acks(sock, 1)

    results = {"CHAIR3": [], "CHAIR4": []}
    threads = [threading.Thread(target=monitor, args=("CHAIR3", "MRN-1", results["CHAIR3"])),
               threading.Thread(target=monitor, args=("CHAIR4", "MRN-2", results["CHAIR4"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(msa(a)[1] == "CA" for acks in results.values() for a in acks)
    assert len(device_sets(store, chairs["CHAIR3"])) == len(device_sets(store, chairs["CHAIR4"])) == 10


def test_garbage_and_a_dropped_connection_do_not_bring_the_listener_down(store, chairs, listening):
    with connect(listening) as sock:
        sock.sendall(frame(b"\x00garbage\xff"))
        [ack] = read_acks(sock, 1)
        assert msa(ack)[1] == "AR"
    with connect(listening) as sock:  # dropped halfway through a message
        sock.sendall(START + numbered(1)[:40])
    with connect(listening) as sock:
        sock.sendall(frame(numbered(2)))
        assert msa(read_acks(sock, 1)[0])[1] == "CA"

    assert listening.lost_reported.wait(timeout=30)  # reported from a worker thread
    with store.read() as db:
        alert = db.scalar(select(Alert).where(Alert.condition_key.like("tech:feed:connection:%")))
    assert alert.session_id is None and "lost mid-message" in alert.message


def test_the_simulator_feeds_the_listener(store, chairs, listening):
    said: list[str] = []
    acked = simulator.run(("127.0.0.1", listening.port), chair="CHAIR3", patient="MRN-1", rate=50, count=5,
                          nibp_every=5, now=lambda: T0, say=said.append)
    assert acked == 5 and said[0].startswith("message 1: CA")
    sets = device_sets(store, chairs["CHAIR3"])
    assert sets and sets[0].systolic == 128 and all(v.spo2 == 97 for v in sets)


def test_a_port_in_use_is_said_when_starting(store, listening):
    with pytest.raises(OSError):
        Listener(lambda raw, peer: b"", "127.0.0.1", listening.port).start()


def test_the_simulators_scenarios_do_what_they_say():
    steady, high, low, off = (simulator.Scenario(name, nibp_every=60) for name in simulator.SCENARIOS)
    assert steady.values(0)["systolic"] == 128 and "systolic" not in steady.values(1)
    assert high.values(600)["systolic"] == 148  # 2 mmHg a minute
    assert low.values(0)["spo2"] >= 97 and low.values(300)["spo2"] <= 85
    assert "spo2" in off.values(29) and "spo2" not in off.values(30) and "heart_rate" in off.values(59)
    assert off.values(60) is None  # the cable is out: nothing is sent


def test_a_probe_off_monitor_goes_silent_and_raises_a_technical_alert(store, clock, chairs, listening):
    from ketamon.core.permissions import SYSTEM

    said: list[str] = []
    simulator.run(("127.0.0.1", listening.port), chair="CHAIR3", patient="MRN-1", scenario="probe-off", rate=100,
                  count=61, now=clock.now, say=said.append)
    assert ops.check_device_feeds(store, SYSTEM).result == 0
    clock.advance(seconds=31)
    assert ops.check_device_feeds(store, SYSTEM).result == 1
    with store.read() as db:
        alert = db.scalar(select(Alert).where(Alert.condition_key == "tech:feed:silent:CHAIR3"))
    assert alert.session_id == chairs["CHAIR3"] and "probe off" in alert.message


def test_a_monitor_left_on_at_an_empty_chair_is_refused_without_an_audit_row_a_second(store, nurse, patient_id):
    from ketamon.core.models import AuditEntry

    service = FeedService(store)

    def refused_rows() -> int:
        with store.read() as db:
            return len(list(db.scalars(select(AuditEntry.id).where(AuditEntry.action == "refused"))))

    acks = [service.handle(numbered(i), "10.0.0.7:5000") for i in range(5)]
    assert [msa(a)[1] for a in acks] == ["CR"] * 5 and all("no session there" in msa(a)[3] for a in acks)
    assert refused_rows() == 1
    ops.technical_problem_resolved(store, nurse, "feed:refused:CHAIR3")  # a nurse resolved it: raised again
    assert msa(service.handle(numbered(5), "10.0.0.7:5000"))[1] == "CR" and refused_rows() == 2
    with store.read() as db:
        assert db.scalar(select(Alert.message).where(Alert.cleared_at.is_(None))).startswith(
            "Messages from CHAIR3 refused: 1 since 09:00 — Monitor data for CHAIR3")
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                             chair="CHAIR3").result
    assert msa(service.handle(numbered(6), "10.0.0.7:5000"))[1] == "CA"
    with store.read() as db:
        assert db.scalar(select(VitalSigns.session_id).where(VitalSigns.source == "device")) == sid
        assert db.scalar(select(Alert).where(Alert.cleared_at.is_(None))) is None  # the feed's alert resolved
