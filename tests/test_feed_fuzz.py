"""Generated input for the device feed: random bytes and random OBX values never
crash the receiver, always get an acknowledgement, and never put a value
outside the hard limits into the record. Plus the receive test on PostgreSQL."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from ketamon.core import hard_limits, ops
from ketamon.core.feed import mdc
from ketamon.core.feed.mllp import Decoder, frame
from ketamon.core.models import VitalSigns
from tests.feed_corpus import message, msa

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
ACK_CODES = {"AA", "AE", "AR", "CA", "CE", "CR"}

codes = st.sampled_from(sorted(mdc.MEASUREMENTS) + ["150020", "999999", "", "150021^X"])
units = st.sampled_from(sorted(mdc.UNITS) + ["", "mg", "degF", "264864^MDC_DIM_BEAT_PER_MIN^MDC"])
values = st.one_of(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.integers(-10**6, 10**6).map(str))


def stored_within_limits(store) -> None:
    with store.read() as db:
        for v in db.scalars(select(VitalSigns)):
            for name, limit in hard_limits.VITALS.items():
                value = getattr(v, name)
                assert value is None or limit.contains(value), (name, value)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=600), st.builds(lambda head, tail: head + tail,
                                                         st.sampled_from([b"MSH|^~\\&|", b"MSH|", message()]),
                                                         st.binary(max_size=200))))
def test_random_bytes_always_get_an_acknowledgement(store, nurse, infusion_session, raw):
    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    ack = ops.receive_device_message(store, raw)
    assert msa(ack)[1] in ACK_CODES
    stored_within_limits(store)


@FUZZ
@given(rows=st.lists(st.tuples(codes, values, units), min_size=1, max_size=8))
def test_random_obx_values_are_stored_within_limits_or_refused_in_words(store, nurse, infusion_session, rows):
    ops.place_session(store, nurse, infusion_session, "CHAIR3")
    obx = [(f"{code}^NAME^MDC", value.replace("|", "").replace("\r", "").replace("^", ""), unit)
           for code, value, unit in rows]
    ack = ops.receive_device_message(store, message(obx))
    code, _, text = msa(ack)[1:4]
    assert code in ACK_CODES
    assert code != "CE" or text  # an error always says why
    stored_within_limits(store)


@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_the_decoder_never_fails_on_any_stream(data, cuts):
    stream = frame(data) + data + frame(b"end")
    d, out, last = Decoder(max_bytes=200), [], 0
    for cut in sorted(cuts) + [len(stream)]:
        out += d.feed(stream[last:cut])
        last = max(last, cut)
    assert out and out[-1] == b"end"


def test_receive_on_postgresql(pg_store):
    from datetime import date

    from tests.conftest import add_user

    nurse = add_user(pg_store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(pg_store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    sid = ops.create_session(pg_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", chair="CHAIR3").result
    assert msa(ops.receive_device_message(pg_store, message()))[1] == "CA"
    assert msa(ops.receive_device_message(pg_store, message(patient="MRN-2", control_id="2")))[1] == "CR"
    assert msa(ops.receive_device_message(pg_store, b"\x00garbage"))[1] == "AR"
    with pg_store.read() as db:
        [v] = db.scalars(select(VitalSigns).where(VitalSigns.session_id == sid))
    assert (v.source, v.systolic, v.spo2) == ("device", 128, 97)


def test_the_same_message_from_two_workstations_at_once_is_stored_once_on_postgresql(pg_store):
    import threading
    from datetime import date

    from tests.conftest import add_user

    nurse = add_user(pg_store, "nurse", "nurse", "Sam Carter RN")
    pid = ops.create_patient(pg_store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    sid = ops.create_session(pg_store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", chair="CHAIR3").result
    acks: list[bytes] = []
    start = threading.Barrier(2)

    def receive() -> None:
        start.wait()
        acks.append(ops.receive_device_message(pg_store, message()))

    threads = [threading.Thread(target=receive) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(msa(a)[1] for a in acks) == ["CA", "CA"]
    with pg_store.read() as db:
        assert len(list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == sid)))) == 1
