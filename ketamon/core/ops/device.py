"""Device operations: the bedside monitor's data routed to the right session, or
nowhere; sessions placed at chairs; monitors bound to chairs; the nurse's
verdict on a device set; the feed's technical alerts.

`receive_device_message(store, raw)` is the headless receiver every listener
calls: one HL7 v2 message in, the bytes of its acknowledgement out, whatever it
was sent (garbage included). The message is stored by the operation
`store_device_message` in one transaction, through the same validation as a
typed set (`record_vitals` with `source="device"`: hard limits, the protocol's
absolute range; an impossible value is kept out as an artefact and the valid
ones stored). The right patient or nothing: a message is routed by its chair
(PV1-3, else a monitor id registered to a chair); a patient identifier (PID-3)
that is not the MRN of the session at that chair stores nothing. Every refusal
is answered with its reason and raises a technical alert, kept apart from the
patient's alerts; the next message stored from that chair resolves it. A broken
monitor refused every second must not flood the audit trail (86 400 rows a day):
the first refusal from a sender for a reason is audited at once, the repeats are
counted (`RefusalLog`) and audited as one row per REFUSAL_AUDIT_SECONDS with
their count, and the alert's text keeps the count ("Messages from CHAIR3
refused: 57 since 10:02 — …").

Both listeners (`ketamon feed listen`, the app's listener process) listen
through `feed_listener()`: messages that arrive together (16 monitors at the same
instant) are stored several at a time (group commit, `BatchWriter`), each in an
operation and a savepoint of its own, all with one commit (`ops.base.one_commit`),
so a burst costs a few fsyncs, not sixteen, and never waits in SQLite's busy
handler behind itself; a message that comes alone is stored at once. Each
acknowledgement is sent only after that commit; if the commit fails, every
message of the batch is answered "not stored, send it again".
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, func, select

from ketamon.core import alerts, inputs, lifecycle, settings
from ketamon.core.clock import as_utc
from ketamon.core.errors import KetamonError, NotFound, ValidationError
from ketamon.core.feed import ack, pcd01
from ketamon.core.feed.mllp import Listener
from ketamon.core.models import Alert, DeviceValidation, Monitor, Session, VitalSigns
from ketamon.core.ops.alerting import report_technical_problem, technical_problem_resolved
from ketamon.core.ops.base import (
    Changes,
    Op,
    _validation_detail,
    local_hm,
    one_commit,
    operation,
    record_refusal,
    safe_error_text,
    user_label,
)
from ketamon.core.ops.charting import _device_artefacts, chair_name, free_chair, record_vitals
from ketamon.core.permissions import SYSTEM, Actor, Permission
from ketamon.core.store import Store

log = logging.getLogger(__name__)

#: the technical alert keys of one chair's feed ("tech:" is added by the alert ops)
SILENT, REFUSED, CONNECTION = "feed:silent:", "feed:refused:", "feed:connection:"
#: the app's listener process could not start, or died (session-less)
LISTENER = "feed:listener"
#: what a message is answered when the database could not store it: the monitor sends it again
NOT_STORED = "ketamon could not store the message now; send it again."


@dataclass
class Stored:
    """What one message left in the record: the sets stored and the values refused."""

    header: pcd01.Header
    session_id: int
    chair: str
    vital_signs_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0


# ---------------------------------------------------------------- receiving


def receive_device_message(store: Store, raw: bytes, *, actor: Actor = SYSTEM) -> bytes:
    """Store one monitor message and return its acknowledgement (never raises):
    accepted (AA/CA), accepted with values refused (AE/CE, the reasons in MSA-3
    and ERR), or refused whole (AR/CR) with its reason, plus a technical alert."""
    return _receive(store, raw, actor)[0]


def _control_id(now: datetime) -> str:
    return f"K{now:%Y%m%d%H%M%S%f}"[:20]


def _receive(store: Store, raw: bytes, actor: Actor) -> tuple[bytes, Changes | pcd01.Refused | None]:
    """The acknowledgement, and what the stored message changed (or why it was refused)."""
    now = store.clock.now()
    control = _control_id(now)
    token = _COUNTING.set(True)  # the refusal is audited here, its repeats counted (RefusalLog)
    try:
        changes = store_device_message(store, actor, raw)
        stored: Stored = changes.result
    except pcd01.Refused as exc:
        refusals.note(store, actor, exc)
        return ack.build(exc.header, ack.REJECT, [(exc.error_code, str(exc))], now, control), exc
    except KetamonError as exc:  # a time no entry may have, a signed session, the acting account's rights
        header = _header_of(raw)
        _raise_alert(store, REFUSED + "unrouted", f"Monitor message refused: {exc}", None)
        return ack.build(header, ack.REJECT, [(pcd01.UNKNOWN_KEY, str(exc))], now, control), None
    except Exception as exc:  # the database unreachable…: the sender keeps the message and sends it again
        log.error("device message not stored: %s", safe_error_text(exc))
        return ack.build(_header_of(raw), ack.REJECT, [(pcd01.INTERNAL_ERROR, NOT_STORED)], now, control), None
    finally:
        _COUNTING.reset(token)
    refusals.forget(store, stored.chair)  # data flows from that chair again
    outcome = ack.ERROR if stored.problems else ack.ACCEPT
    reasons = [(pcd01.DATA_TYPE_ERROR, p) for p in stored.problems]
    return ack.build(stored.header, outcome, reasons, now, control), changes


class FeedService:
    """What a listener (`ketamon feed listen`, the app's own) calls: each message
    stored as `actor` (a service account, or the system), each connection's chair
    remembered so a broken connection names it, the silence watch on the tick.
    Called from the listener's worker threads; `on_stored(changes)` (the app's
    screens) is called there too."""

    def __init__(self, store: Store, actor: Actor = SYSTEM,
                 on_stored: Callable[[Changes], None] | None = None):
        self.store, self.actor, self.on_stored = store, actor, on_stored
        self._chairs: dict[str, str] = {}
        #: chairs whose monitor was refused for want of a session there (see _still_empty)
        self._empty: set[str] = set()
        self._lock = threading.Lock()

    def handle(self, raw: bytes, peer: str) -> bytes:
        if self._empty and (quiet := self._still_empty(raw)) is not None:
            return quiet
        reply, outcome = _receive(self.store, raw, self.actor)
        if isinstance(outcome, EmptyChair):
            with self._lock:
                self._empty.add(outcome.chair)
        elif isinstance(outcome, Changes):
            with self._lock:
                self._chairs[peer] = outcome.result.chair
                self._empty.discard(outcome.result.chair)
            if self.on_stored is not None and outcome:
                self.on_stored(outcome)
        return reply

    def _still_empty(self, raw: bytes) -> bytes | None:
        """A monitor left on at a chair without a session sends every second: while
        there is still no session there and its technical alert is still up, the
        same refusal is answered without a new audit row and alert each second.
        None: the message goes through the operation (a session is there now, the
        alert was resolved, or it is for another chair)."""
        try:
            message = pcd01.parse(raw)
        except pcd01.Refused:
            return None
        chair = chair_name(message.chair)
        if chair not in self._empty:
            return None
        with self.store.read() as db:
            alert_up = db.scalar(select(Alert.id).where(Alert.condition_key == "tech:" + REFUSED + chair,
                                                        Alert.cleared_at.is_(None)).limit(1)) is not None
            if not alert_up or session_at_chair(db, chair) is not None:
                with self._lock:
                    self._empty.discard(chair)
                return None
        now = self.store.clock.now()
        refused = EmptyChair(_no_session(chair), message.header, pcd01.UNKNOWN_KEY, chair=chair)
        refusals.note(self.store, self.actor, refused, alert_known_up=True)
        return ack.build(message.header, ack.REJECT, [(pcd01.UNKNOWN_KEY, _no_session(chair))], now,
                         _control_id(now))

    def lost(self, peer: str) -> None:
        """A connection broke mid-message: a technical alert naming its chair when known."""
        with self._lock:
            chair = self._chairs.pop(peer, None)
        where = f"the monitor at {chair}" if chair else f"a monitor ({peer})"
        _raise_alert(self.store, CONNECTION + (chair or peer), f"Connection from {where} lost mid-message.", None)

    def tick(self) -> None:
        try:
            check_device_feeds(self.store, self.actor)
        except KetamonError as exc:
            log.warning("device feed watch refused: %s", exc)
        refusals.flush(self.store, self.actor)


# ---------------------------------------------------------------- listening: a burst, one commit


#: at most this many messages share one commit: the first of a batch waits for
#: the last, so a bigger batch saves fsyncs but delays its first answers
BATCH = 4
#: the listener's threads: each connection's message waits in one for its answer
#: (a monitor sends its next message only after the answer to the last)
WAITING_THREADS = 64


class BatchWriter:
    """`handle(raw, peer)` for the listener's threads (group commit). The thread
    that finds nobody storing stores what is waiting, its own message first in
    line (up to `batch` messages, in arrival order) in one transaction, answers
    them after the commit, and wakes the others: a message that comes alone is
    stored at once by its own thread, a burst waits at most one batch."""

    def __init__(self, store: Store, service: FeedService, *, batch: int = BATCH):
        self.store, self.service, self.batch = store, service, batch
        self._turn = threading.Condition()
        self._waiting: list[list] = []  # [raw, peer, reply or None], in arrival order
        self._storing = False

    def handle(self, raw: bytes, peer: str) -> bytes:
        mine = [raw, peer, None]
        with self._turn:
            self._waiting.append(mine)
            while mine[2] is None:
                if self._storing:
                    self._turn.wait()
                    continue
                self._storing = True
                batch, self._waiting = self._waiting[:self.batch], self._waiting[self.batch:]
                replies: list[bytes] = []
                self._turn.release()
                try:
                    replies = self.store_batch([(r, p) for r, p, _reply in batch])
                finally:
                    self._turn.acquire()
                    self._storing = False
                    for item, reply in zip(batch, replies or [not_stored(r, self.store) for r, _p, _x in batch]):
                        item[2] = reply
                    self._turn.notify_all()
        return mine[2]

    def store_batch(self, messages: list[tuple[bytes, str]]) -> list[bytes]:
        """Each message's acknowledgement, all after one commit (or all "not stored")."""
        try:
            with one_commit(self.store):
                return [self.service.handle(raw, peer) for raw, peer in messages]
        except Exception as exc:  # the commit (or the database) failed: nothing of the batch is stored
            log.error("device messages not stored: %s", safe_error_text(exc))
            return [not_stored(raw, self.store) for raw, _peer in messages]


def not_stored(raw: bytes, store: Store) -> bytes:
    """The refusal a message gets when its batch could not be committed."""
    now = store.clock.now()
    return ack.build(_header_of(raw), ack.REJECT, [(pcd01.INTERNAL_ERROR, NOT_STORED)], now, _control_id(now))


def feed_listener(service: FeedService, host: str, port: int, *, batch: int = BATCH) -> Listener:
    """The MLLP listener every ketamon listener runs (`ketamon feed listen`, the
    app's listener process): `service` answers each message, messages that arrive
    together are stored with one commit (`BatchWriter`). Not yet started."""
    writer = BatchWriter(service.store, service, batch=batch)
    return Listener(writer.handle, host, port, on_lost=service.lost, tick=service.tick, workers=WAITING_THREADS)


def _header_of(raw: bytes) -> pcd01.Header | None:
    try:
        return pcd01.parse(raw).header
    except pcd01.Refused as exc:
        return exc.header


def _raise_alert(store: Store, key: str, message: str, session_id: int | None, *,
                 replace_message: bool = False) -> Changes | None:
    """A technical alert raised by the feed itself (the system); a failure to raise
    it is logged, never allowed to stop the acknowledgement."""
    try:
        return report_technical_problem(store, SYSTEM, key, message[:1000], session_id=session_id,
                                        replace_message=replace_message)
    except Exception as exc:
        log.error("technical alert %s not raised: %s", key, safe_error_text(exc))
        return None


def report_feed_problem(store: Store, key: str, message: str) -> Changes | None:
    """For the listener: a connection problem as a session-less technical alert
    (what changed, for the screens; None when it could not be raised)."""
    return _raise_alert(store, key, message, None)


def listener_back(store: Store) -> Changes | None:
    """The app's listener process listens (again): its technical alert is resolved
    by the feed itself. None when it could not be (logged)."""
    try:
        return technical_problem_resolved(store, SYSTEM, LISTENER, session_id=None)
    except Exception as exc:
        log.error("technical alert %s not resolved: %s", LISTENER, safe_error_text(exc))
        return None


# ---------------------------------------------------------------- refusals, counted


#: a sender refused again and again for one reason: one audit row per this many
#: seconds, with the count since the last row (the first refusal is audited at once)
REFUSAL_AUDIT_SECONDS = 60
#: set while a listener (`_receive`) stores a message: the refusal is audited by
#: RefusalLog, not by the operation gate
_COUNTING: ContextVar[bool] = ContextVar("ketamon_feed_counting", default=False)


@dataclass
class _Burst:
    """One sender's refusals for one reason since the first of them."""

    where: str
    reason: str
    detail: str
    alert_key: str
    session_id: int | None
    since: datetime
    audited_at: datetime
    last_at: datetime
    count: int = 1
    #: refusals not yet in an audit row
    unaudited: int = 0


class RefusalLog:
    """The refusals of each store's listener, by (sender, reason): what to audit
    and what the technical alert says. In memory: each listener process counts
    its own (a second workstation's listener writes its own rows)."""

    def __init__(self, seconds: float = REFUSAL_AUDIT_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._stores: WeakKeyDictionary[Store, dict[tuple[str, str], _Burst]] = WeakKeyDictionary()

    def note(self, store: Store, actor: Actor, refused: pcd01.Refused, *, alert_known_up: bool = False) -> None:
        """One more refusal: audited and alerted at once when it is the first (or
        its alert was resolved meanwhile), else counted, and audited with the
        count once the interval has passed since the last row."""
        now = store.clock.now()
        where = refused.chair or _sender(refused.header)
        reason = str(refused)
        alert_key = REFUSED + (refused.chair or "unrouted")
        key = (where, reason)
        with self._lock:
            seen = self._stores.setdefault(store, {}).get(key)
        # resolved by someone meanwhile (or never raised): a new burst, audited at once
        over = seen is not None and not alert_known_up and not _alert_up(store, alert_key)
        with self._lock:  # one worker thread starts a burst, the others count in it
            bursts = self._stores.setdefault(store, {})
            burst = bursts.get(key)
            first = burst is None or (over and burst is seen)
            if first:
                burst = bursts[key] = _Burst(where, reason, _validation_detail(refused), alert_key,
                                             refused.session_id, now, now, now)
            else:
                burst.count += 1
                burst.unaudited += 1
                burst.last_at = now
                due = self._take_due(burst, now)
        if first:
            self._audit(store, actor, burst, 1)
            _raise_alert(store, alert_key, self.alert_text(burst), refused.session_id)
            return
        if due:
            self._audit(store, actor, burst, due)
            _raise_alert(store, alert_key, self.alert_text(burst), burst.session_id, replace_message=True)

    def flush(self, store: Store, actor: Actor) -> None:
        """The listener's tick: counts whose interval has passed are audited even
        when the sender fell silent; bursts quiet for an interval are forgotten
        (the next refusal is audited at once)."""
        now = store.clock.now()
        due_rows = []
        with self._lock:
            bursts = self._stores.get(store, {})
            for key, burst in list(bursts.items()):
                due = self._take_due(burst, now)
                if due:
                    due_rows.append((burst, due))
                elif not burst.unaudited and now - burst.last_at >= timedelta(seconds=self.seconds):
                    del bursts[key]
        for burst, due in due_rows:
            self._audit(store, actor, burst, due)
            _raise_alert(store, burst.alert_key, self.alert_text(burst), burst.session_id, replace_message=True)

    def forget(self, store: Store, chair: str) -> None:
        """Data stored from the chair: its refusals are over (its alert is resolved)."""
        with self._lock:
            bursts = self._stores.get(store)
            if bursts:
                for key in [k for k, b in bursts.items() if b.where == chair]:
                    del bursts[key]

    def _take_due(self, burst: _Burst, now: datetime) -> int:
        """The count to audit now (0: not yet), under the lock."""
        if burst.unaudited and now - burst.audited_at >= timedelta(seconds=self.seconds):
            due, burst.unaudited, burst.audited_at = burst.unaudited, 0, now
            return due
        return 0

    @staticmethod
    def alert_text(burst: _Burst) -> str:
        return (f"Messages from {burst.where} refused: {burst.count} since {local_hm(burst.since)} — "
                f"{burst.reason}")

    @staticmethod
    def _audit(store: Store, actor: Actor, burst: _Burst, count: int) -> None:
        text = burst.detail if count == 1 and burst.count == 1 else (
            f"{burst.detail} — refused {count} time{'s' if count > 1 else ''} since the last entry "
            f"({burst.count} since {local_hm(burst.since)}, {burst.where})")
        try:
            record_refusal(store, actor, "store_device_message", text, burst.session_id)
        except Exception as exc:  # never allowed to stop the acknowledgement
            log.error("refusal not audited: %s", safe_error_text(exc))


#: the listeners' refusals (one log per process; by store)
refusals = RefusalLog()


def _sender(header: pcd01.Header | None) -> str:
    """Who sent a message no chair could be read from: its MSH-3, else unknown."""
    name = (header.sending_app.split("^")[0].strip() if header is not None else "")[:40]
    return name or "an unknown sender"


def _alert_up(store: Store, alert_key: str) -> bool:
    try:
        with store.read() as db:
            return db.scalar(select(Alert.id).where(Alert.condition_key == "tech:" + alert_key,
                                                    Alert.cleared_at.is_(None)).limit(1)) is not None
    except Exception:
        return True  # the database away: keep counting


@operation(Permission.RECEIVE_DEVICE_DATA, system=True)
def store_device_message(op: Op, raw: bytes) -> Stored:
    """Route one message to the session at its chair and store its values as
    device vital-sign sets (one per observation time). Raises pcd01.Refused
    (nothing stored) for a message that cannot be used or routed (audited by the
    operation gate, or, from a listener, by RefusalLog)."""
    inputs.DeviceMessageInput.check(op, locals())
    try:
        return _store_message(op, raw)
    except pcd01.Refused as exc:
        exc.audited_by_caller = _COUNTING.get()
        raise


def _store_message(op: Op, raw: bytes) -> Stored:
    message = pcd01.parse(raw)
    chair = _chair_of(op, message)
    s = _session_at(op, chair, message.header)
    if message.patient_ids and s.patient.mrn not in message.patient_ids:
        raise pcd01.Refused(f"The monitor at {chair} sent data for another patient (PID-3 is not the MRN of "
                            "the session there); nothing was stored.", message.header, pcd01.UNKNOWN_KEY,
                            chair=chair, session_id=s.id)
    out = Stored(message.header, s.id, chair, problems=[p.text for p in message.problems])
    pending = "Artefact: " + "; ".join(out.problems) if out.problems else None  # kept with the first set
    for at, values in _by_time(op, message):
        if _store_set(op, s, at, values, out, pending):
            pending = None
    if out.problems:
        op.audit("device_artefact", entity="session", entity_id=s.id, session_id=s.id,
                 detail="; ".join(out.problems)[:2000])
    _resolve_feed_alerts(op, s)
    op.changes.message = (f"{chair}: {len(out.vital_signs_ids)} device set(s) stored"
                          + (f", {len(out.problems)} value(s) refused" if out.problems else ""))
    return out


def _chair_of(op: Op, message: pcd01.DeviceMessage) -> str:
    """PV1-3, else the chair a monitor id of the message is registered to."""
    if message.chair:
        return chair_name(message.chair)
    for monitor_id in message.monitor_ids:
        chair = op.db.scalar(select(Monitor.chair).where(Monitor.monitor_id == monitor_id)
                             .order_by(Monitor.id.desc()).limit(1))
        if chair:
            return chair
    ids = ", ".join(message.monitor_ids) or "no id"
    raise pcd01.Refused(f"The message names no chair (PV1-3) and its monitor ({ids}) is not registered to a "
                        "chair; nothing was stored.", message.header, pcd01.UNKNOWN_KEY)


# The statements a 1 Hz monitor runs every second, built once: building a
# statement anew and computing its cache key costs SQLAlchemy more Python than the
# query costs SQLite.
_AT_CHAIR = (select(Session).where(Session.chair == bindparam("chair"), Session.state.in_(lifecycle.LIVE))
             .order_by(Session.id.desc()).limit(1))
_SAME_TIME = select(VitalSigns).where(VitalSigns.session_id == bindparam("session_id"),
                                      VitalSigns.measured_at == bindparam("at"), VitalSigns.source == "device")
_ACTIVE_KEYS = select(Alert.condition_key).where(Alert.cleared_at.is_(None),
                                                 Alert.condition_key.in_(bindparam("keys", expanding=True))
                                                 ).distinct()


def session_at_chair(db, chair: str) -> Session | None:
    """The session in progress at a chair (newest first, should two ever be)."""
    return db.scalar(_AT_CHAIR, {"chair": chair})


def _session_at(op: Op, chair: str, header: pcd01.Header) -> Session:
    """The session at the chair, locked for this transaction (two workstations'
    listeners storing the same message at once: the second sees the first's set)."""
    s = session_at_chair(op.db, chair)
    if s is None:
        raise EmptyChair(_no_session(chair), header, pcd01.UNKNOWN_KEY, chair=chair)
    return op.session(s.id)


class EmptyChair(pcd01.Refused):
    """Monitor data for a chair no session sits at."""


def _no_session(chair: str) -> str:
    return f"Monitor data for {chair} but no session there; nothing was stored."


def _by_time(op: Op, message: pcd01.DeviceMessage) -> list[tuple[datetime, dict]]:
    """The readings grouped by observation time (UTC, whole seconds), oldest first:
    one vital-sign set each (the newest NIBP sent beside 1 Hz numerics keeps its own time)."""
    groups: dict[datetime, dict] = {}
    for r in message.readings:
        at = as_utc(r.at).replace(microsecond=0) if r.at is not None else op.now.replace(microsecond=0)
        groups.setdefault(at, {})[r.field] = r.value
    return sorted(groups.items())


def _store_set(op: Op, s: Session, at: datetime, values: dict, out: Stored, comment: str | None) -> bool:
    """One device set through record_vitals (the typed path's validation); True
    when stored. A set already stored at that time (a message sent again, the same
    NIBP beside the next numerics) is not stored twice; a set with nothing valid,
    or a time no entry may have, is refused alone and said in `out.problems`."""
    same_time = op.db.scalars(_SAME_TIME, {"session_id": s.id, "at": at})
    if any(all(getattr(v, name) == value for name, value in values.items()) for v in same_time):
        out.duplicates += 1
        return False
    full = dict.fromkeys(("systolic", "diastolic", "mean_arterial", "heart_rate", "spo2", "resp_rate",
                          "temperature")) | values
    try:
        taken_out = _device_artefacts(op.protocol(s), full)  # what record_vitals will keep out, for the ACK
        out.vital_signs_ids.append(record_vitals.body(op, s.id, measured_at=at, source="device",
                                                      comment=comment, **values))
    except ValidationError as exc:
        out.problems.append(str(exc).replace(" Nothing was saved.", ""))
        return False
    out.problems.extend(taken_out)
    return True


def _resolve_feed_alerts(op: Op, s: Session) -> None:
    """Data arrived from the chair: its feed's technical alerts (silent, refused,
    connection lost) are resolved, by the feed itself."""
    keys = ["tech:" + k + s.chair for k in (SILENT, REFUSED, CONNECTION)]
    active = op.db.scalars(_ACTIVE_KEYS, {"keys": keys})
    for key in list(active):
        technical_problem_resolved.body(op, key.removeprefix("tech:"), session_id=s.id)
        technical_problem_resolved.body(op, key.removeprefix("tech:"), session_id=None)


@operation(Permission.RECEIVE_DEVICE_DATA, system=True)
def check_device_feeds(op: Op) -> int:
    """The silence watch (the listener runs it every few seconds): a monitor that
    fed a session in progress and has sent nothing for the clinic's
    `feed_silence_seconds` raises a technical alert. Returns how many are silent."""
    inputs.CheckFeedsInput.check(op, locals())
    seconds = settings.clinic_value(op.db, "feed_silence_seconds")
    newest = (select(VitalSigns.session_id, func.max(VitalSigns.entered_at))
              .join(Session, Session.id == VitalSigns.session_id)
              .where(VitalSigns.source == "device", Session.chair.is_not(None), Session.state.in_(lifecycle.LIVE))
              .group_by(VitalSigns.session_id))
    silent = 0
    for session_id, last in op.db.execute(newest).all():
        if op.now - as_utc(last) >= timedelta(seconds=seconds):
            chair = op.db.get(Session, session_id).chair
            report_technical_problem.body(op, SILENT + chair, f"No data from the monitor at {chair} for "
                                          f"{seconds} s or more: probe off, cable out or monitor off?",
                                          priority="medium", session_id=session_id)
            silent += 1
    return silent


# ---------------------------------------------------------------- chairs and monitors


@operation(Permission.REGISTER)
def place_session(op: Op, session_id: int, chair: str | None) -> str | None:
    """Place a session at a chair, move it to another, or (None) take it off its
    chair. Refused while another session in progress sits at that chair."""
    inputs.PlaceSessionInput.check(op, locals())
    s = op.session(session_id)
    if s.state not in lifecycle.LIVE:
        raise ValidationError(f"This session is {lifecycle.STATE_LABELS[s.state].lower()}; it no longer sits "
                              "at a chair.", "state", s.state)
    new = free_chair(op, chair, s.id)
    if new == s.chair:
        op.changes.message = f"The session is already at {new}" if new else "The session is at no chair"
        return new
    before, s.chair = s.chair, new
    op.audit("move", entity="session", entity_id=s.id, session_id=s.id, before={"chair": before},
             after={"chair": new})
    op.changes.mark(session_details=True, session_id=s.id)
    op.changes.message = (f"Session moved from {before} to {new}" if before and new else
                          f"Session placed at {new}" if new else f"Session taken off {before}")
    return new


@operation(Permission.MANAGE_SETTINGS)
def register_monitor(op: Op, monitor_id: str, chair: str) -> int:
    """Bind a monitor (its id in MSH-3 or OBX-18) to a chair, for monitors that
    do not send the chair themselves. The newest binding of a monitor is in force."""
    inputs.RegisterMonitorInput.check(op, locals())
    row = Monitor(monitor_id=monitor_id.strip(), chair=chair_name(chair), registered_at=op.now,
                  registered_by_id=op.actor.user_id)
    op.db.add(row)
    op.db.flush()
    op.audit("register", entity="monitor", entity_id=row.id, after={"monitor_id": row.monitor_id,
                                                                    "chair": row.chair})
    op.changes.mark(settings=True)
    op.changes.message = f"Monitor {row.monitor_id} bound to {row.chair}"
    return row.id


# ---------------------------------------------------------------- the nurse's verdict


def _device_set(op: Op, vital_signs_id: int) -> VitalSigns:
    v = op.db.get(VitalSigns, vital_signs_id)
    if v is None or v.source != "device":
        raise NotFound(f"There is no device vital-sign set {vital_signs_id}.")
    op.session(v.session_id)  # locked; refused when the record is signed
    return v


def _verdict(op: Op, v: VitalSigns, verdict: str, reason: str | None) -> int:
    """Record a verdict unless the same one is already in force (then say whose)."""
    newest = op.db.scalar(select(DeviceValidation).where(DeviceValidation.vital_signs_id == v.id)
                          .order_by(DeviceValidation.id.desc()).limit(1))
    when = local_hm(v.measured_at)
    if newest is not None and newest.verdict == verdict and newest.reason == reason:
        op.changes.message = (f"The {when} device set was already {verdict} by {user_label(op.db, newest.by_id)} "
                              f"at {local_hm(newest.at)}")
        return newest.id
    row = DeviceValidation(vital_signs_id=v.id, session_id=v.session_id, verdict=verdict, reason=reason,
                           at=op.now, by_id=op.actor.user_id)
    op.db.add(row)
    op.db.flush()
    op.audit("validate" if verdict == "validated" else "artefact", entity="vital_signs", entity_id=v.id,
             session_id=v.session_id, before={"verdict": newest.verdict} if newest else None,
             after={"verdict": verdict}, detail=reason)
    op.changes.mark(vitals=True, session_id=v.session_id)
    was_artefact = newest is not None and newest.verdict == "artefact"
    closed = 0
    if verdict == "artefact" or was_artefact:
        # in force or not changed: the alerts, NEWS2 and every figure follow (in_force)
        closed = alerts.after_device_verdict(op, op.session(v.session_id), v.id, verdict == "artefact",
                                             user_label(op.db, op.actor.user_id), reason)
        op.changes.mark(alerts=True, session_id=v.session_id)
    op.changes.message = (f"Device set {when} validated" + (": back in the figures" if was_artefact else "")
                          if verdict == "validated" else
                          f"Device set {when} marked artefact: {reason}"
                          + (f"; {closed} alert{'s' if closed > 1 else ''} closed" if closed else ""))
    return row.id


@operation(Permission.CHART)
def validate_device_set(op: Op, vital_signs_id: int) -> int:
    """The nurse confirms a device set as the patient's values (who and when kept)."""
    inputs.DeviceSetInput.check(op, locals())
    return _verdict(op, _device_set(op, vital_signs_id), "validated", None)


@operation(Permission.CHART)
def mark_device_artefact(op: Op, vital_signs_id: int, reason: str) -> int:
    """The nurse marks a device set as an artefact (a cuff reading while the
    patient moved, a probe off), with the reason; the set stays in the record."""
    inputs.DeviceArtefactInput.check(op, locals())
    return _verdict(op, _device_set(op, vital_signs_id), "artefact", reason.strip())


# ---------------------------------------------------------------- the technical alerts list


@dataclass(frozen=True)
class TechnicalAlert:
    """One active technical alert as the Technical alerts page lists it."""

    alert_id: int
    key: str
    session_id: int | None
    where: str
    message: str
    raised_at: datetime
    acknowledged: str


def technical_alerts(store: Store) -> list[TechnicalAlert]:
    """Every active technical alert, session-less ones included, newest first."""
    with store.read() as db:
        rows = db.scalars(select(Alert).where(Alert.cleared_at.is_(None), Alert.category == "technical")
                          .order_by(Alert.raised_at.desc(), Alert.id.desc()))
        out = []
        for a in rows:
            s = db.get(Session, a.session_id) if a.session_id is not None else None
            key = a.condition_key.removeprefix("tech:")
            chair = key.rsplit(":", 1)[-1] if key.startswith("feed:") and not key.endswith(":unrouted") else None
            where = (f"{s.chair or 'no chair'} · {s.patient.display_name}" if s is not None else
                     f"{chair} · no session" if chair else "No session")
            acked = "" if a.acknowledged_at is None else \
                f"{user_label(db, a.acknowledged_by_id)} {local_hm(a.acknowledged_at)}"
            out.append(TechnicalAlert(a.id, key, a.session_id, where, a.message,
                                      a.raised_at, acked))
        return out
