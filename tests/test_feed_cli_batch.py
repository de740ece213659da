"""`ketamon feed listen` stores monitor messages that arrive together as the app's
own listener does (ops.device.feed_listener): with one commit, each monitor
answered only after it (a refused one with its reason), and a burst whose commit
fails is answered "send it again" with nothing stored. Driven over a real
socket, signed in as a service account, as clinic IT runs it."""
from __future__ import annotations

import socket
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from ketamon.cli import main
from ketamon.core import ops
from ketamon.core.feed.mllp import Decoder, frame
from ketamon.core.models import VitalSigns
from ketamon.core.ops import device
from ketamon.core.ops.device import NOT_STORED, BatchWriter
from ketamon.core.store import Store
from record_helpers import TEST_PASSWORD
from tests.conftest import add_user
from tests.feed_corpus import message, msa

#: how long a test waits for the listener before it fails (never reached when it works)
PATIENCE = 30


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clinic(request) -> Store:
    """Sessions at CHAIR3 (MRN-1) and CHAIR4 (MRN-2) and the account `feed`
    (service), on the system clock: monitors send real times."""
    url = request.getfixturevalue("sqlite_url") if request.param == "sqlite" else \
        request.getfixturevalue("pg_store").url
    store = Store(url, run_migrations=False)
    nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
    add_user(store, "feed", "service", "Monitor feed")
    for chair, mrn in (("CHAIR3", "MRN-1"), ("CHAIR4", "MRN-2")):
        pid = ops.create_patient(store, nurse, mrn=mrn, family_name="Ng", given_name=chair,
                                 birth_date=date(1980, 1, 2), sex="female", weight_kg=60).result
        ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-ketamine-0.5", chair=chair)
    yield store
    store.dispose()


class Turn(threading.Condition):
    """The writer's turn, counting the messages that wait for it."""

    def __init__(self):
        super().__init__()
        self.waits = threading.Semaphore(0)

    def wait(self, timeout=None):
        self.waits.release()
        return super().wait(timeout)


class CommandLine:
    """`ketamon feed listen` in a thread of the test. The first message it stores
    waits at a gate, so that a burst arrives while it is stored, as when monitors
    send at the same instant; the listener's store counts its commits."""

    def __init__(self, monkeypatch, url: str, password_file: str):
        self.batches: list[int] = []  # the number of messages of each batch stored, in order
        self.commits: list[int] = []  # each commit of the listener's store: the size of the batch it ended
        self.fail_commit = 0  # this commit (1: the first after the listener started) fails
        self.storing_first, self.gate, self.ready = threading.Event(), threading.Event(), threading.Event()
        self.turn = Turn()
        self.listener = None
        cli = self

        class GatedWriter(BatchWriter):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._turn = cli.turn

            def store_batch(self, messages):
                cli.batches.append(len(messages))
                if len(cli.batches) == 1:
                    cli.storing_first.set()
                    assert cli.gate.wait(PATIENCE)
                return super().store_batch(messages)

        def feed_listener(service, host, port, **kwargs):
            listener = self.listener = real(service, host, port, **kwargs)
            listener.tick_seconds = 3600  # the silence watch commits on its own: not during these tests
            event.listen(service.store.engine, "commit", self._committed)
            start = listener.start

            def started():
                start()
                self.ready.set()
                return listener

            listener.start = started
            return listener

        real = device.feed_listener
        monkeypatch.setattr(device, "BatchWriter", GatedWriter)
        monkeypatch.setattr(device, "feed_listener", feed_listener)
        self.status: list[int] = []
        self.thread = threading.Thread(target=lambda: self.status.append(main([
            "--db", url, "feed", "listen", "--host", "127.0.0.1", "--port", "0", "--user", "feed",
            "--password-file", password_file])), daemon=True)

    def _committed(self, _connection) -> None:
        self.commits.append(self.batches[-1] if self.batches else 0)
        if len(self.commits) == self.fail_commit:
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    def __enter__(self) -> CommandLine:
        self.thread.start()
        assert self.ready.wait(PATIENCE), "ketamon feed listen did not listen through ops.device.feed_listener"
        return self

    def __exit__(self, *exc) -> None:
        self.gate.set()
        self.listener.stop()
        self.thread.join(PATIENCE)
        assert self.status == [0]

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.listener.port), timeout=PATIENCE)

    def burst(self, first: bytes, rest: list[bytes]) -> list[socket.socket]:
        """`first` from one monitor, and while it is stored, `rest` from one more
        monitor each: returns their connections once every one of them waits."""
        conns = [self.connect() for _ in range(1 + len(rest))]
        conns[0].sendall(frame(first))
        assert self.storing_first.wait(PATIENCE)
        for conn, raw in zip(conns[1:], rest):
            conn.sendall(frame(raw))
        for _ in rest:
            assert self.turn.waits.acquire(timeout=PATIENCE)
        self.gate.set()
        return conns


def answer(conn: socket.socket) -> bytes:
    decoder = Decoder()
    while True:
        data = conn.recv(65536)
        assert data, "the listener closed the connection without answering"
        if replies := decoder.feed(data):
            conn.close()
            return replies[0]


@pytest.fixture
def password_file(tmp_path) -> str:
    secret = tmp_path / "feed-password"
    secret.write_text(TEST_PASSWORD + "\n")
    secret.chmod(0o600)
    return str(secret)


#: when each message's values were measured, by its control id (MSH-10)
MEASURED: dict[str, datetime] = {}


def monitor(chair: str, mrn: str, control_id: str, seconds_ago: int) -> bytes:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    MEASURED[control_id] = now - timedelta(seconds=seconds_ago)
    return message(chair=chair, patient=mrn, control_id=control_id, sent=now, obr_time=now,
                   obx_time=MEASURED[control_id])


def stored(store: Store, *control_ids: str) -> list[str]:
    """Which of these messages' sets another connection sees (committed)."""
    with store.read() as db:
        times = set(db.scalars(select(VitalSigns.measured_at)))
    return [c for c in control_ids if MEASURED[c] in times]


def test_a_burst_is_stored_with_one_commit_and_each_monitor_answered_after_it(clinic, monkeypatch,
                                                                               password_file):
    with CommandLine(monkeypatch, clinic.url, password_file) as cli:
        conns = cli.burst(monitor("CHAIR3", "MRN-1", "A", 5), [
            monitor("CHAIR4", "MRN-2", "B", 4),
            monitor("CHAIR3", "MRN-1", "C", 3),
            monitor("CHAIR4", "MRN-1", "D", 2),  # MRN-1 is not the patient at CHAIR4: refused
        ])
        replies = {}
        for conn in conns:
            reply = answer(conn)
            code, control_id = msa(reply)[1:3]
            replies[control_id] = reply
            assert stored(clinic, control_id) == ([control_id] if code == "CA" else [])  # answered: committed
        assert cli.commits == [1, 3]  # the first alone, the three that came while it was stored together
    assert {c: msa(r)[1] for c, r in replies.items()} == {"A": "CA", "B": "CA", "C": "CA", "D": "CR"}
    assert "sent data for another patient" in msa(replies["D"])[3]  # the refusal says why
    assert stored(clinic, "A", "B", "C", "D") == ["A", "B", "C"]


def test_a_burst_whose_commit_fails_is_answered_send_again_and_leaves_nothing(clinic, monkeypatch,
                                                                             password_file):
    with CommandLine(monkeypatch, clinic.url, password_file) as cli:
        cli.fail_commit = 2  # the burst's
        burst = [monitor("CHAIR4", "MRN-2", "B", 4), monitor("CHAIR3", "MRN-1", "C", 3),
                 monitor("CHAIR4", "MRN-2", "E", 2)]
        replies = [answer(conn) for conn in cli.burst(monitor("CHAIR3", "MRN-1", "A", 5), burst)]
        assert [msa(r)[1:4] for r in replies[1:]] == [["CR", "B", NOT_STORED], ["CR", "C", NOT_STORED],
                                                       ["CR", "E", NOT_STORED]]
        assert msa(replies[0])[1] == "CA" and cli.commits == [1, 3]
        assert stored(clinic, "A", "B", "C", "E") == ["A"]
        # the monitor sends it again, and now it is stored
        conn = cli.connect()
        conn.sendall(frame(burst[0]))
        assert msa(answer(conn))[1:3] == ["CA", "B"]
    assert stored(clinic, "A", "B", "C", "E") == ["A", "B"]
