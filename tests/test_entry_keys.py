"""Entry keys (issue 12, point 4): an entry sent again with the key it was first sent
with is stored once and answered as saved. A workstation sends an entry again when
the connection dropped during its commit: it cannot know whether the commit went
through, and the nurse must neither lose the entry nor chart it twice."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ketamon.core import ops, scenario
from ketamon.core.errors import ValidationError
from ketamon.core.live import is_unreachable
from ketamon.core.models import AuditEntry, DoseEvent, Note, SideEffect, VitalSigns
from ketamon.core.store import Store
from tests.conftest import add_user
from tests.live_helpers import Relay


def setting_up(store: Store) -> dict:
    """A nurse and an esketamine session ready for its first device."""
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    doctor = add_user(store, "doctor", "physician", "Dr Priya Shah")
    patient = ops.create_patient(store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                                 birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    sid = ops.create_session(store, nurse, patient_id=patient, protocol_id="esketamine-56", lot_number="LOT-1",
                             physician_id=doctor.user_id).result
    scenario.ready_for_dose(store, nurse, sid)
    return {"nurse": nurse, "session": sid}


def count(store: Store, model) -> int:
    with store.transaction() as db:
        return db.scalar(select(func.count()).select_from(model))


#: (operation, its arguments after the session, the table its entry goes to)
ENTRIES = [
    (ops.record_vitals, (), {"systolic": 128, "diastolic": 82}, VitalSigns),
    (ops.record_dose, ("nasal_device",), {}, DoseEvent),
    (ops.record_side_effect, ("nausea",), {"score": 3}, SideEffect),
    (ops.add_note, ("Patient calm",), {}, Note),
]


@pytest.mark.parametrize("operation,args,kwargs,model", ENTRIES, ids=[e[0].__name__ for e in ENTRIES])
def test_an_entry_sent_twice_with_its_key_is_stored_once_and_answered_as_saved(any_store, operation, args,
                                                                              kwargs, model):
    c = setting_up(any_store)
    key = str(uuid.uuid4())
    rows, audited = count(any_store, model), count(any_store, AuditEntry)
    first = operation(any_store, c["nurse"], c["session"], *args, entry_key=key, **kwargs)
    audited_once = count(any_store, AuditEntry)
    again = operation(any_store, c["nurse"], c["session"], *args, entry_key=key, **kwargs)
    assert count(any_store, model) == rows + 1
    assert again.result == first.result
    assert again.message == first.message  # the screen shows it saved, as the first time
    assert again.sessions == {c["session"]}
    assert audited_once > audited and count(any_store, AuditEntry) == audited_once  # nothing new to audit
    # a new key is a new entry (here a second note, a second nausea score, …), upper case the same key
    if model is not DoseEvent:
        operation(any_store, c["nurse"], c["session"], *args, entry_key=key.upper(), **kwargs)
        assert count(any_store, model) == rows + 1
        operation(any_store, c["nurse"], c["session"], *args, entry_key=str(uuid.uuid4()), **kwargs)
        assert count(any_store, model) == rows + 2


def test_a_key_is_never_another_entrys(store):
    c = setting_up(store)
    key = str(uuid.uuid4())
    ops.add_note(store, c["nurse"], c["session"], "Patient calm", entry_key=key)
    with pytest.raises(ValidationError, match="belongs to another entry"):
        ops.record_vitals(store, c["nurse"], c["session"], systolic=120, diastolic=80, entry_key=key)
    assert count(store, VitalSigns) == 1  # the baseline only


@pytest.mark.parametrize("bad", ["", "not-a-uuid", 42, "0b9f5c3e11114e2a9d1c000000000001"])
def test_an_entry_key_that_is_not_a_uuid_is_refused_in_words(store, bad):
    c = setting_up(store)
    with pytest.raises(ValidationError) as refused:
        ops.add_note(store, c["nurse"], c["session"], "Patient calm", entry_key=bad)
    assert refused.value.field == "entry_key"
    assert "Entry key" in str(refused.value) and "UUID" in str(refused.value)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(picks=st.lists(st.integers(0, 3), min_size=1, max_size=8))
def test_whatever_is_sent_again_each_key_is_one_note(tmp_path_factory, picks):
    from tests.conftest import FakeClock, T0

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('keys')}/k.db", clock=FakeClock(T0))
    try:
        c = setting_up(store)
        keys = [str(uuid.UUID(int=i + 1)) for i in range(4)]
        ids = {}
        for i in picks:
            ids.setdefault(i, set()).add(
                ops.add_note(store, c["nurse"], c["session"], f"note {i}", entry_key=keys[i]).result)
        assert count(store, Note) == len(set(picks))
        assert all(len(v) == 1 for v in ids.values())  # every send of one key answered with the one entry
    finally:
        store.dispose()


class CommitCutRelay(Relay):
    """A relay that, once armed, cuts the network right after it passed to the server
    the COMMIT of a transaction that stored an entry key (an entry sent with its key):
    the server commits, the workstation never hears so. Deterministic: the server's
    answer to that COMMIT is dropped, whatever the threads' timing, and other
    connections' commits (background reads, the live listener) do not trip it."""

    armed = False
    #: what a keyed entry's transaction sends (ketamon.core.models.EntryKey)
    MARK = b"INSERT INTO entry_keys"

    def __init__(self, *args, **kwargs):
        self._silent: set = set()  # server sockets whose answers are dropped
        super().__init__(*args, **kwargs)

    def _pump(self, src, dst) -> None:
        try:
            to_server = dst.getpeername()[1] == self.target[1]
            keyed = False
            while data := src.recv(65536):
                if src in self._silent:
                    break  # the answer to the cut COMMIT never reaches the workstation
                keyed = keyed or (to_server and self.MARK in data)
                commit = to_server and b"COMMIT" in data
                cut = commit and keyed and self.armed
                if cut:
                    self.armed = False
                    self._silent.add(dst)
                dst.sendall(data)
                if cut:
                    self.cut()
                if commit or b"ROLLBACK" in data:
                    keyed = False
        except OSError:
            pass
        self._close(src, dst)


@pytest.mark.postgres
def test_the_connection_dropped_during_the_commit_then_the_same_entry_sent_again_is_one_set(
        pg_store, pg_database, clock):
    c = setting_up(pg_store)
    relay = CommitCutRelay()
    chair = Store(relay.url(pg_database), clock=clock, run_migrations=False)
    key = str(uuid.uuid4())
    try:
        ops.add_note(chair, c["nurse"], c["session"], "warm-up")  # the chair's pool is connected
        relay.armed = True
        with pytest.raises(OperationalError) as lost:
            ops.record_vitals(chair, c["nurse"], c["session"], systolic=128, diastolic=82, entry_key=key)
        assert is_unreachable(lost.value)  # the GUI says "not saved; retrying"
        assert count(pg_store, VitalSigns) == 2  # yet the server did commit it (baseline + this one)
        relay.restore()
        again = ops.record_vitals(chair, c["nurse"], c["session"], systolic=128, diastolic=82, entry_key=key)
        assert again.message.startswith("Vital signs saved")
        assert count(pg_store, VitalSigns) == 2  # sent again: still one set
    finally:
        relay.close()
        chair.dispose()
