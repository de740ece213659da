"""What the screens read about alerts: a session's alerts, the physician's review
queue, an alert with what happened around it, the limits in force, the next set
due for the sessions list, and what the speaker should do now.

Read-only; the rules that raise and clear alerts are in ketamon.core.alerts.
Each function asks a fixed number of set-based queries however many sessions or
alerts there are (the clinic database holds years of them): never loop a query
over rows here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session as DbSession

from ketamon.core import schedule
from ketamon.core.alarm_sound import sound_config, sound_enabled  # noqa: F401  (screens read both here)
from ketamon.core.alerts import _vitals, closed_as_void, doses_in_force, due_facts, limit_changes  # noqa: F401  (screens read closed_as_void here)
from ketamon.core.device_sets import Verdict, verdicts_where
from ketamon.core.in_force import artefact_set_clause, current_rows
from ketamon.core.lifecycle import LIVE, NOTHING_DUE
from ketamon.core.models import Alert, DeviceValidation, DoseEvent, Patient, Session, SideEffect, User, VitalSigns
from ketamon.core.rules import PRIORITY_LABEL, PRIORITY_MARK, PRIORITY_RANK, EffectiveLimits, LimitChange, effective_limits

if TYPE_CHECKING:
    from ketamon.core.store import Store




@dataclass(frozen=True)
class AlertView:
    """An alert as a screen shows it (plain values, no database session needed)."""

    id: int
    session_id: int | None
    category: str
    key: str
    rule: str | None
    priority: str
    message: str
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    silenced_until: datetime | None
    escalated_at: datetime | None
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_comment: str | None
    patient_name: str = ""
    mrn: str = ""
    protocol_name: str = ""
    session_state: str = ""

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    @property
    def mark(self) -> str:
        return PRIORITY_MARK[self.priority]

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABEL[self.priority]

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and now < self.silenced_until

    def sounds(self, now: datetime) -> bool:
        return self.active and self.priority in ("high", "medium") and not self.silenced(now)

    def state_text(self, now: datetime) -> str:
        if not self.active:
            return "cleared"
        if self.silenced(now):
            return "acknowledged, audio paused"
        if self.acknowledged_at is not None:
            return "acknowledged"
        return "ACTIVE"


def _view(a: Alert, users: dict[int, str], s: Session | None = None, patient: Patient | None = None,
          protocol_name: str = "") -> AlertView:
    return AlertView(a.id, a.session_id, a.category, a.condition_key, a.rule, a.priority, a.message, a.raised_at,
                     a.cleared_at, a.acknowledged_at, users.get(a.acknowledged_by_id), a.silenced_until,
                     a.escalated_at, a.reviewed_at, users.get(a.reviewed_by_id), a.review_comment,
                     patient.display_name if patient else "", patient.mrn if patient else "", protocol_name,
                     s.state if s else "")


class _Named(SimpleNamespace):
    """A patient or session as plain columns (no ORM object per row: the queue has
    hundreds); `display_name` is the Patient model's own rule."""

    def __init__(self, family_name=None, given_name=None, mrn=None, state=None):
        super().__init__(family_name=family_name, given_name=given_name, mrn=mrn, state=state)

    display_name = Patient.display_name


def _user_names(db: DbSession) -> dict[int, str]:
    return dict(db.execute(select(User.id, User.display_name)).all())


def order_key(a: AlertView):
    """Active first, then by priority (high first), then newest first."""
    return (not a.active, -PRIORITY_RANK[a.priority], -a.raised_at.timestamp())


#: order_key in SQL: active first, then high before low, then newest first
URGENCY_ORDER = (
    Alert.cleared_at.is_not(None),
    case(PRIORITY_RANK, value=Alert.priority, else_=-1).desc(),
    Alert.raised_at.desc(),
    Alert.id.desc(),
)


def session_alerts(store: "Store", session_id: int) -> list[AlertView]:
    """Every alert of a session, active ones first by priority."""
    with store.read() as db:
        return _session_alerts_in(db, session_id)


def _session_alerts_in(db: DbSession, session_id: int) -> list[AlertView]:
    users = _user_names(db)
    rows = [_view(a, users) for a in db.scalars(select(Alert).where(Alert.session_id == session_id))]
    return sorted(rows, key=order_key)


@dataclass(frozen=True)
class SessionAlertParts:
    """What a chart's alert parts show: the session's alerts (as `session_alerts`),
    its limits (as `session_limits`) and whether the clinic's alarm tones are on."""

    rows: list[AlertView]
    limits: EffectiveLimits
    sound_on: bool


def session_alert_parts(store: "Store", session_id: int) -> SessionAlertParts:
    """The chart's alert parts in one read: one transaction instead of three (each
    is two round trips more to a clinic's PostgreSQL server when a chart opens)."""
    with store.read() as db:
        return SessionAlertParts(_session_alerts_in(db, session_id), _session_limits_in(db, store, session_id),
                                 sound_enabled(db)[0])


def _queue_where(q, *, unreviewed_only: bool, open_only: bool, priority: str | None, session_id: int | None,
                 since: datetime | None):
    """The review queue's filters, one place for its rows and its count."""
    if unreviewed_only:
        q = q.where(Alert.reviewed_at.is_(None))
    if open_only:
        q = q.where(Alert.cleared_at.is_(None))
    if priority:
        q = q.where(Alert.priority == priority)
    if session_id is not None:
        q = q.where(Alert.session_id == session_id)
    if since is not None:
        q = q.where(Alert.raised_at >= since)
    return q


def review_queue(store: "Store", *, unreviewed_only: bool = True, open_only: bool = False,
                 priority: str | None = None, session_id: int | None = None, since: datetime | None = None,
                 limit: int = 500, offset: int = 0) -> list[AlertView]:
    """One page of the physician's queue across all sessions, most urgent first:
    open (still active) before cleared, high before low, newest first. `offset`
    pages on (`count_review_queue` says how many there are): nothing is hidden."""
    filters = dict(unreviewed_only=unreviewed_only, open_only=open_only, priority=priority, session_id=session_id,
                   since=since)
    # the alert's columns, not ORM objects: up to 500 rows, and building an Alert
    # (identity map, state) per row was most of the queue's time
    q = _queue_where(select(*Alert.__table__.columns, Session.protocol_id, Session.protocol_version, Session.state,
                            Patient.family_name, Patient.given_name, Patient.mrn)
                     .outerjoin(Session, Session.id == Alert.session_id)
                     .outerjoin(Patient, Patient.id == Session.patient_id), **filters)
    # Most urgent first *before* the cut, so an old high alert is never hidden
    # behind `limit` newer low ones. One statement per band of the order (open,
    # then cleared by priority, high first), each walking an index newest first
    # and stopping at what is left of offset + limit: a fixed number of statements
    # that do not sort the clinic's whole history.
    bands = [q.where(Alert.cleared_at.is_(None)).order_by(*URGENCY_ORDER)]
    if not open_only:
        cleared = q.where(Alert.cleared_at.is_not(None))
        for p in sorted(PRIORITY_RANK, key=PRIORITY_RANK.get, reverse=True):
            if priority in (None, p):
                bands.append(cleared.where(Alert.priority == p).order_by(Alert.raised_at.desc(), Alert.id.desc()))
    wanted = max(0, offset) + limit
    rows: list[AlertView] = []
    with store.read() as db:
        users = _user_names(db)
        for band in bands:
            if len(rows) >= wanted:
                break
            for r in db.execute(band.limit(wanted - len(rows))):
                name = store.protocols.get(r.protocol_id, r.protocol_version).name if r.protocol_id else ""
                patient = _Named(r.family_name, r.given_name, r.mrn) if r.family_name is not None else None
                rows.append(_view(r, users, _Named(state=r.state) if r.state else None, patient, name))
    return sorted(rows, key=order_key)[max(0, offset):]


def count_review_queue(store: "Store", *, unreviewed_only: bool = True, open_only: bool = False,
                       priority: str | None = None, session_id: int | None = None,
                       since: datetime | None = None) -> int:
    """How many alerts the queue holds with these filters (its pages say "of N")."""
    q = _queue_where(select(func.count()).select_from(Alert), unreviewed_only=unreviewed_only,
                     open_only=open_only, priority=priority, session_id=session_id, since=since)
    with store.read() as db:
        return db.scalar(q) or 0


@dataclass(frozen=True)
class ArtefactReading:
    """A device set a nurse marked artefact, shown beside an alert's readings but
    never as one in force (the value was not the patient's)."""

    vitals: VitalSigns
    verdict: Verdict


@dataclass(frozen=True)
class AlertContext:
    """An alert with what was happening around it, for the physician's review."""

    alert: AlertView
    vitals: list[VitalSigns]  # in force, around the alert, by measured time
    side_effects: list[SideEffect]
    doses: list[DoseEvent]
    source: VitalSigns | SideEffect | None
    window: tuple[datetime, datetime]
    #: device sets marked artefact around the alert, and the alert's own set if it
    #: is one wherever it was measured: out of `vitals` (in_force), but the
    #: physician reviewing an alert closed as artefact must see what raised it
    artefacts: list[ArtefactReading] = field(default_factory=list)


def alert_context(store: "Store", alert_id: int, minutes: float = 30) -> AlertContext:
    with store.read() as db:
        a = db.get(Alert, alert_id)
        if a is None:
            raise KeyError(alert_id)
        s = db.get(Session, a.session_id) if a.session_id else None
        p = db.get(Patient, s.patient_id) if s else None
        name = store.protocols.get(s.protocol_id, s.protocol_version).name if s else ""
        view = _view(a, _user_names(db), s, p, name)
        start = a.raised_at - timedelta(minutes=minutes)
        end = (a.cleared_at or a.raised_at) + timedelta(minutes=minutes)
        vitals, ses, doses, source, artefacts = [], [], [], None, []
        if s is not None:
            vitals = _vitals(db, s.id, VitalSigns.measured_at >= start, VitalSigns.measured_at <= end,
                             newest_first=False, limit=None)
            artefacts = _artefact_readings(db, s.id, start, end,
                                           a.source_id if a.source_kind == "vital_signs" else None)
            ses = [e for e in current_rows(db, SideEffect, s.id, SideEffect.observed_at) if start <= e.observed_at <= end]
            doses = current_rows(db, DoseEvent, s.id, DoseEvent.at)
        if a.source_kind == "vital_signs" and a.source_id:
            source = db.get(VitalSigns, a.source_id)
        elif a.source_kind == "side_effect" and a.source_id:
            source = db.get(SideEffect, a.source_id)
    return AlertContext(view, vitals, ses, doses, source, (start, end), artefacts)


def _artefact_readings(db: DbSession, session_id: int, start: datetime, end: datetime,
                       source_id: int | None) -> list[ArtefactReading]:
    """The session's sets marked artefact measured in the window, and the set
    `source_id` if it is one (two queries), by measured time."""
    where = and_(VitalSigns.measured_at >= start, VitalSigns.measured_at <= end)
    if source_id:
        where = or_(where, VitalSigns.id == source_id)
    sets = list(db.scalars(select(VitalSigns).where(VitalSigns.session_id == session_id, artefact_set_clause(), where)
                           .order_by(VitalSigns.measured_at, VitalSigns.id)))
    if not sets:
        return []
    verdicts = verdicts_where(db, DeviceValidation.vital_signs_id.in_([v.id for v in sets]))
    return [ArtefactReading(v, verdicts[v.id]) for v in sets]


def session_limits(store: "Store", session_id: int) -> EffectiveLimits:
    """The limits in force for a session (protocol ranges + the patient's overrides),
    e.g. for the plot's limit bands."""
    with store.read() as db:
        return _session_limits_in(db, store, session_id)


def _session_limits_in(db: DbSession, store: "Store", session_id: int) -> EffectiveLimits:
    s = db.get(Session, session_id)
    protocol = store.protocols.get(s.protocol_id, s.protocol_version)
    return effective_limits(protocol, limit_changes(db, s.patient_id))


def patient_limit_history(store: "Store", patient_id: int) -> list[LimitChange]:
    with store.read() as db:
        return limit_changes(db, patient_id)


def next_due_for_sessions(store: "Store", session_ids: Iterable[int], now: datetime | None = None
                          ) -> dict[int, schedule.DueItem | None]:
    """The next set due for each session, without loading charts (the sessions list
    asks for every row): the dose events and the newest BP set are enough. Three
    statements however many sessions."""
    now = now or store.clock.now()
    ids = list(dict.fromkeys(session_ids))
    out: dict[int, schedule.DueItem | None] = {}
    if not ids:
        return out
    with store.read() as db:
        sessions = db.execute(select(Session.id, Session.protocol_id, Session.protocol_version, Session.state)
                              .where(Session.id.in_(ids))).all()
        doses = doses_in_force(db, [s.id for s in sessions])
        last_bp, close = due_facts(db, store, [s.id for s in sessions if s.state not in NOTHING_DUE])
    for sid, protocol_id, version, state in sessions:
        protocol = store.protocols.get(protocol_id, version)
        items = schedule.due_items(protocol, state, doses[sid], last_bp.get(sid), now, close.get(sid))
        out[sid] = items[0] if items else None
    return out


@dataclass(frozen=True)
class ChairAlert:
    """One active alert as the sessions list and the other-chairs strip show it."""

    alert_id: int
    priority: str
    message: str
    acknowledged: bool

    @property
    def mark(self) -> str:
        return PRIORITY_MARK[self.priority]

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.priority]


@dataclass(frozen=True)
class ChairState:
    """What the sessions list shows of a chair besides who sits there: the next set
    due, the highest active alert, and the most urgent one nobody has acknowledged
    yet (the strip above another chair's chart)."""

    session_id: int
    due: schedule.DueItem | None = None
    highest: ChairAlert | None = None
    unacknowledged: ChairAlert | None = None
    active_count: int = 0

    def overdue(self, now: datetime) -> bool:
        return self.due is not None and self.due.is_overdue(now)

    def urgency(self, now: datetime) -> tuple[int, int]:
        """Larger is more urgent: the highest alert's priority, then overdue vitals."""
        return (self.highest.rank if self.highest else -1, int(self.overdue(now)))


def _alert_rank(a: ChairAlert) -> tuple[int, int]:
    return (a.rank, a.alert_id)  # high before low, then the newer


def chair_states(store: "Store", session_ids: Iterable[int], now: datetime | None = None
                 ) -> dict[int, ChairState]:
    """Every listed chair's next set due and active alerts, for the sessions list:
    `next_due_for_sessions` and one statement for the alerts of all sessions. Runs
    off the GUI thread (the list polls it every few seconds and after each alert
    notice)."""
    now = now or store.clock.now()
    ids = list(dict.fromkeys(session_ids))
    due = next_due_for_sessions(store, ids, now)
    by_session: dict[int, list[ChairAlert]] = {sid: [] for sid in ids}
    if ids:
        with store.read() as db:
            for r in db.execute(select(Alert.id, Alert.session_id, Alert.priority, Alert.message,
                                       Alert.acknowledged_at)
                                .where(Alert.session_id.in_(ids), Alert.cleared_at.is_(None))):
                if r.priority in PRIORITY_RANK:
                    by_session[r.session_id].append(ChairAlert(r.id, r.priority, r.message,
                                                               r.acknowledged_at is not None))
    out = {}
    for sid in ids:
        active = by_session[sid]
        waiting = [a for a in active if not a.acknowledged]
        out[sid] = ChairState(sid, due.get(sid), max(active, key=_alert_rank, default=None),
                              max(waiting, key=_alert_rank, default=None), len(active))
    return out


@dataclass(frozen=True)
class AlarmStatus:
    """What the speaker and the status line should do now.

    `tone` is the priority to sound (high/medium) or None. `audio` is the state the
    screen must show: "" (normal), "Audio paused m:ss" (acknowledged), "Audio off"
    (the clinic switched tones off)."""

    tone: str | None
    audio: str
    sound_enabled: bool
    active: list[AlertView] = field(default_factory=list)

    @property
    def highest(self) -> AlertView | None:
        return self.active[0] if self.active else None

    def counts(self) -> dict[str, int]:
        out = {p: 0 for p in PRIORITY_RANK}
        for a in self.active:
            out[a.priority] += 1
        return out


def alarm_status(store: "Store", now: datetime | None = None, session_ids: Iterable[int] | None = None
                 ) -> AlarmStatus:
    """Active alerts of live sessions (optionally only `session_ids`) and the tone
    they call for. Read-only and cheap: the GUI polls it every second."""
    now = now or store.clock.now()
    q = (select(Alert, Session, Patient).outerjoin(Session, Session.id == Alert.session_id)
         .outerjoin(Patient, Patient.id == Session.patient_id)
         .where(Alert.cleared_at.is_(None), or_(Alert.session_id.is_(None), Session.state.in_(LIVE))))
    if session_ids is not None:
        q = q.where(Alert.session_id.in_(list(session_ids)))
    with store.read() as db:
        users = _user_names(db)
        enabled, _row = sound_enabled(db)
        active = sorted((_view(a, users, s, p) for a, s, p in db.execute(q)), key=order_key)
    sounding = [a for a in active if a.sounds(now)]
    tone = max((a.priority for a in sounding), key=PRIORITY_RANK.get, default=None)
    paused = [a for a in active if a.priority in ("high", "medium") and a.silenced(now)]
    if not enabled:
        audio = "Audio off"
    elif tone is None and paused:
        left = min(a.silenced_until for a in paused) - now
        audio = f"Audio paused {schedule.countdown(left)}"
    else:
        audio = ""
    return AlarmStatus(tone if enabled else None, audio, enabled, active)


def count_active(store: "Store", session_id: int) -> int:
    with store.read() as db:
        return db.scalar(select(func.count()).select_from(Alert).where(
            Alert.session_id == session_id, Alert.cleared_at.is_(None))) or 0


