"""Read models for the screens and reports: one query pass per refresh, plain
objects out. Screens never query the database themselves."""
from __future__ import annotations

import threading
import time
from bisect import bisect_left, insort, insort_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter
from weakref import WeakKeyDictionary

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from ketamon.core import dosing, scores
from ketamon.core.device_sets import artefacts_of, verdicts_in
from ketamon.core.in_force import artefact_ids, current, split
from ketamon.core.lifecycle import IN_PROGRESS, STATE_LABELS
from ketamon.core.models import (
    SIDE_EFFECT_KINDS,
    Alert,
    Assessment,
    DoseEvent,
    Note,
    Patient,
    Session,
    SideEffect,
    User,
    VitalSigns,
)
from ketamon.core.news2 import News2, score_vitals
from ketamon.core.protocols import Protocol
from ketamon.core.store import Store
from ketamon.core.stored_vitals import StoredVitalSigns, gc_paused, vitals_chunks, vitals_rows


class LogLine:
    """One line of the event log: every entry, corrections included. Never changed
    once made. (Slots, and a vital-sign set's text made only when first read: a
    12-hour 1 Hz session has 43 200 sets, and the log shows a screenful.)"""

    __slots__ = ("at", "entered_at", "who", "kind", "_text", "entity", "entity_id", "superseded", "correction",
                 "late", "reason", "retracted", "device", "artefact", "_row", "_score")

    def __init__(self, at: datetime, entered_at: datetime, who: str, kind: str, text: str, entity: str,
                 entity_id: int, superseded: bool = False, correction: bool = False, late: bool = False,
                 reason: str | None = None, retracted: bool = False, device: bool = False, artefact: bool = False):
        self.at = at  # when it happened (measured/observed)
        self.entered_at = entered_at
        self.who = who
        self.kind = kind  # vitals | dose | side_effect | note | assessment | state
        self._text = text
        self.entity = entity
        self.entity_id = entity_id
        self.superseded = superseded
        self.correction = correction
        self.late = late
        #: the correction's reason (None for an original entry)
        self.reason = reason
        #: True for an "entered in error" line (it retracts the entry it supersedes)
        self.retracted = retracted
        #: True for a vital-sign set that came from a monitor (source "device")
        self.device = device
        #: True for a device set a nurse marked artefact: listed, but out of every clinical figure
        self.artefact = artefact
        self._row = self._score = None

    @classmethod
    def of_vitals(cls, v, who: str, score: News2 | None, superseded: bool, artefact: bool = False) -> LogLine:
        """A vital-sign set's line (`v` a stored row or a model object); its text is
        made when first read."""
        line = cls(v.measured_at, v.entered_at, who, "vitals", None, "vital_signs", v.id, superseded,
                   v.supersedes_id is not None, v.late, v.correction_reason, v.retracted, v.source == "device",
                   artefact)
        line._row, line._score = v, score
        return line

    @property
    def text(self) -> str:
        text = self._text
        if text is None:
            score = self._score
            text = self._text = "Entered in error" if self.retracted else \
                describe_vitals(self._row) + (f" · {score.text()}" if score else "")
        return text

    def _key(self) -> tuple:
        what = (self._text,) if self._row is None else (id(self._row), self._score)
        return (self.at, self.entered_at, self.who, self.kind, self.entity, self.entity_id, self.superseded,
                self.correction, self.late, self.reason, self.retracted, self.device, self.artefact, *what)

    def __eq__(self, other) -> bool:
        return isinstance(other, LogLine) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.entity, self.entity_id, self.at, self.entered_at))

    def __repr__(self) -> str:
        return f"LogLine({self.at!r}, {self.kind!r}, {self.text!r}, {self.entity}#{self.entity_id})"

    @property
    def routine_device_reading(self) -> bool:
        """A device reading nobody touched: the event log may fold these away (a
        corrected, correcting, retracted or artefact one is always shown)."""
        return self.device and not (self.superseded or self.correction or self.retracted or self.artefact)


@dataclass
class Chart:
    session: Session
    patient: Patient
    protocol: Protocol
    now: datetime
    #: in force, by measured time: stored rows (StoredVitalSigns: the model's column
    #: names, read-only), not model objects
    vitals: list[VitalSigns]
    doses: list[DoseEvent]
    side_effects: list[SideEffect]
    notes: list[Note]
    assessments: list[Assessment]
    alerts: list[Alert]
    #: `log` (below), or a function that makes it when first asked: the event log
    #: folded needs no line for a routine device reading
    _log: list[LogLine] | Callable[[], list[LogLine]]
    users: dict[int, User] = field(default_factory=dict)
    #: `log` without the routine device readings (what the event log shows folded)
    log_without_device_readings: list[LogLine] = field(default_factory=list)
    #: how many routine device readings `log` has beyond `log_without_device_readings`
    device_readings: int = 0
    #: NEWS2 of every complete set in force, by VitalSigns id, with the temperature
    #: carried over as the session's protocol says (rules.news2_carry_minutes). The
    #: screen, the printout and the exports read it here; never score again.
    news2: dict[int, News2] = field(default_factory=dict)
    #: the device sets marked artefact (not superseded), by id: out of `vitals` and
    #: every figure, kept here so the event log can still act on them (validate again)
    artefact_sets: dict[int, VitalSigns] = field(default_factory=dict)
    #: the nurse's verdict in force on each device set ({set id: Verdict}), read with the sets
    verdicts: dict = field(default_factory=dict)

    @property
    def log(self) -> list[LogLine]:
        """Every line of the event log, corrections included, by time."""
        log = self._log
        if callable(log):
            log = self._log = log()
        return log

    @property
    def first_dose_at(self) -> datetime | None:
        return dosing.first_dose_at(self.doses)

    @property
    def elapsed(self) -> timedelta | None:
        """Time since the first dose (the clock the nurse watches)."""
        start = self.first_dose_at
        return (self.now - start) if start else None

    @property
    def infusion(self) -> dosing.InfusionStatus:
        return dosing.infusion_status(self.doses, self.now)

    @property
    def given_mg(self) -> float:
        return dosing.total_given_mg(self.doses, self.now)

    @property
    def devices_given(self) -> int:
        return len(dosing.nasal_devices_given(self.doses))

    @property
    def rest_remaining(self) -> timedelta:
        return dosing.rest_remaining(self.doses, self.protocol.dose.rest_minutes, self.now)

    @property
    def baseline(self) -> VitalSigns | None:
        """The last BP set measured before the first dose."""
        first = self.first_dose_at
        pre = [v for v in self.vitals if v.systolic is not None and (first is None or v.measured_at <= first)]
        return pre[-1] if pre else None

    def who(self, user_id: int | None) -> str:
        u = self.users.get(user_id) if user_id else None
        return u.display_name if u else "—"


# ---------------------------------------------------------------- vital signs kept between loads
#
# A 12-hour session with 1 Hz device data has 43 200 vital-sign sets; reading and
# describing all of them after every saved entry took seconds. Clinical entries are
# append-only (a correction is a new row), so the sets read once stay true: each load
# reads only the rows it has not seen. What depends on *other* rows (superseded or
# not, NEWS2 with a temperature carried from an earlier set) is recomputed for the
# rows a new one can affect.

#: ids re-read below the newest one seen. PostgreSQL hands out ids when a row is
#: inserted, not when it commits, so a set saved at another workstation can appear
#: after sets with higher ids; the whole session is re-checked every FULL_RECHECK_S.
RECHECK_IDS = 500
FULL_RECHECK_S = 120.0
#: a batch this big is merged by rebuilding everything (cheaper than one by one)
REBUILD_ABOVE = 2000
#: sessions whose vital signs are kept, per store (the least recently loaded is dropped;
#: a 12-hour 1 Hz session takes about 60 MB, a 2-hour manual one next to nothing)
CACHED_SESSIONS = 4


#: a set's place in time order: (measured_at, entered_at, id)
_vkey = attrgetter("measured_at", "entered_at", "id")


def _lkey(line: LogLine) -> tuple:
    return (line.at, line.entered_at, line.entity_id)


def _time_key(line: LogLine) -> tuple:
    return (line.at, line.entered_at)


def score_news2(in_force: list, carry_minutes: float) -> dict[int, News2]:
    """NEWS2 of every complete set in force ({set id: score}), the temperature
    carried from an earlier set within `carry_minutes` (the session's protocol,
    rules.news2_carry_minutes). The one scoring of a session's sets: the chart's
    cache, the printed report and the exports all call it. `in_force`: sets (or
    plain rows with the same attribute names) ordered by measured time."""
    out: dict[int, News2] = {}
    carry = timedelta(minutes=carry_minutes)
    last_temp = None
    for v in in_force:
        measured_at, temperature = v.measured_at, v.temperature
        if v.consciousness is not None and v.resp_rate is not None and v.systolic is not None:
            earlier = None
            if temperature is None and last_temp is not None and measured_at - last_temp[0] <= carry:
                earlier = last_temp[1]
            score = score_vitals(v, earlier)
            if isinstance(score, News2):
                out[v.id] = score
        if temperature is not None:
            last_temp = (measured_at, temperature)
    return out


class _SessionVitals:
    """One session's vital-sign sets as read so far, with what the chart derives
    from them. Every method runs under `lock` (the export runs on a worker thread).
    The sets are stored rows (StoredVitalSigns), never changed after they are read;
    lists handed out are copies. A set's event-log line is made only when it is
    shown: the routine device readings' lines (`lines`) when first asked for."""

    def __init__(self, carry_minutes: float):
        self.lock = threading.Lock()
        self.carry_minutes = carry_minutes
        self.carry = timedelta(minutes=carry_minutes)
        self.rows: dict[int, StoredVitalSigns] = {}
        #: every set read, by (measured_at, entered_at, id)
        self.ordered: list[StoredVitalSigns] = []
        self.last_id = 0
        self.checked_all_at = time.monotonic()
        self.superseded: set[int] = set()
        #: ids of the device sets whose verdict in force is "artefact" (out of force)
        self.artefacts: set[int] = set()
        #: in force, by (measured_at, entered_at, id)
        self.in_force: list[StoredVitalSigns] = []
        #: the in-force sets that have a temperature (for NEWS2 carry-over)
        self.with_temp: list[StoredVitalSigns] = []
        self.news2: dict[int, News2] = {}
        #: the lines of the sets that are not routine device readings, by (at, entered_at, id)
        self.shown: list[LogLine] = []
        #: every set's line, by (at, entered_at, id); None until first asked for (lines_as_of)
        self.lines: list[LogLine] | None = None
        #: the lines made so far, by set id (those in `shown`, and all once `lines` is made)
        self.line_of: dict[int, LogLine] = {}
        self.names: dict[int, str] = {}
        #: moves whenever what is kept changes (a chart's lines made later must match its load)
        self.version = 0

    # ------------------------------------------------------------ reading

    def read_new(self, db: DbSession, session_id: int) -> list[StoredVitalSigns]:
        """The session's sets not read before (all of them the first time), as stored rows."""
        if db.new and db.autoflush:
            db.flush()  # what a query of the model would flush first: an operation's own new sets
        table = VitalSigns.__table__
        conn = db.connection()
        by_session = table.c.session_id == session_id
        if not self.rows:
            self.checked_all_at = time.monotonic()
            # in measured order from the (session_id, measured_at) index; sorted by
            # (measured_at, entered_at, id) in _rebuild, which costs little on sorted rows
            # (an ORDER BY on all three made SQLite sort 43 200 rows in a temporary B-tree)
            query = select(table).where(by_session).order_by(table.c.measured_at)
            with gc_paused():
                return [v for part in vitals_chunks(conn, query, 10_000) for v in part]
        # ids only, by a statement built once: this runs on every refresh
        if time.monotonic() - self.checked_all_at > FULL_RECHECK_S:
            self.checked_all_at = time.monotonic()
            above = 0
        else:
            above = self.last_id - RECHECK_IDS
        known = self.rows
        missing = [i for i in conn.execute(_SET_IDS, {"session_id": session_id, "above": above}).scalars()
                   if i not in known]
        if not missing:
            return []
        if len(missing) > 500:
            q = select(table).where(by_session, table.c.id >= min(missing))
            return [v for v in vitals_rows(conn, q) if v.id not in known]
        return list(vitals_rows(conn, select(table).where(table.c.id.in_(missing))))

    def peek(self, db: DbSession, session_id: int) -> list[StoredVitalSigns]:
        """The sets in force as `db` sees them, without changing what is kept: for
        an operation's own transaction, whose rows may still roll back. Cheap when
        nothing was saved since the last load_chart (the usual case: the screen
        loads the chart after every change)."""
        checked_all_at = self.checked_all_at
        new = self.read_new(db, session_id)
        self.checked_all_at = checked_all_at  # a peek is not a full re-check
        artefacts = artefact_ids(db, session_id)
        if not new and artefacts == self.artefacts:
            return list(self.in_force)
        rows = dict(self.rows)
        rows.update((v.id, v) for v in new)
        return [v for v in current(sorted(rows.values(), key=_vkey)) if v.id not in artefacts]

    # ------------------------------------------------------------ merging

    def add(self, new: list[StoredVitalSigns], names: dict[int, str]) -> None:
        names_changed = any(names.get(uid) != name for uid, name in self.names.items())
        self.names = names
        if names_changed or len(new) > REBUILD_ABOVE or not self.rows:
            for v in new:
                self.rows[v.id] = v
            self.last_id = max(self.rows, default=0)
            self._rebuild()
            return
        touched: set[int] = set()
        changed_at: list[datetime] = []
        for v in sorted(new, key=lambda r: r.id):
            if v.id in self.rows:
                continue
            self.rows[v.id] = v
            insort(self.ordered, v, key=_vkey)
            self.last_id = max(self.last_id, v.id)
            touched.add(v.id)
            if v.supersedes_id is not None:
                self.superseded.add(v.supersedes_id)
                old = self.rows.get(v.supersedes_id)
                if old is not None:
                    touched.add(old.id)
                    if self._drop_in_force(old):
                        changed_at.append(old.measured_at)
            if not v.retracted and v.id not in self.superseded and v.id not in self.artefacts:
                insort(self.in_force, v, key=_vkey)
                if v.temperature is not None:
                    insort(self.with_temp, v, key=_vkey)
                changed_at.append(v.measured_at)
        if not touched:
            return
        self.version += 1
        touched |= self._rescore(changed_at)
        for vid in sorted(touched):
            if not self._relabel(self.rows[vid]):
                self._rebuild()  # never expected; a full rebuild is always right
                return

    # ------------------------------------------------------------ the nurse's verdicts

    def set_artefacts(self, artefacts: set[int]) -> None:
        """Take the sets newly marked artefact out of force, put back those
        validated again, and score and label again what that changes. Call before
        `add` (which keeps a new set with an artefact verdict out of force)."""
        if artefacts == self.artefacts:
            return
        changed = artefacts ^ self.artefacts
        self.artefacts = set(artefacts)
        if not self.rows:
            return
        self.version += 1
        touched: set[int] = set()
        changed_at: list[datetime] = []
        for vid in changed:
            v = self.rows.get(vid)
            if v is None:
                continue  # not read yet: `add` sees the verdict
            touched.add(vid)
            if vid in artefacts:
                if self._drop_in_force(v):
                    changed_at.append(v.measured_at)
            elif not v.retracted and vid not in self.superseded:
                insort(self.in_force, v, key=_vkey)
                if v.temperature is not None:
                    insort(self.with_temp, v, key=_vkey)
                changed_at.append(v.measured_at)
        touched |= self._rescore(changed_at)
        for vid in sorted(touched):
            if not self._relabel(self.rows[vid]):
                self._rebuild()
                return

    def artefact_sets(self) -> dict[int, StoredVitalSigns]:
        """The sets out of force only for their artefact verdict, by id."""
        return {vid: v for vid in self.artefacts if (v := self.rows.get(vid)) is not None
                and not v.retracted and vid not in self.superseded}

    def _drop_in_force(self, v: StoredVitalSigns) -> bool:
        self.news2.pop(v.id, None)
        removed = False
        for lst in (self.in_force, self.with_temp):
            i = bisect_left(lst, _vkey(v), key=_vkey)
            if i < len(lst) and lst[i] is v:
                del lst[i]
                removed = True
        return removed

    def _rescore(self, times: list[datetime]) -> set[int]:
        """NEWS2 again for the in-force sets a change at `times` can affect: those
        measured from then to a carry-over window later. Returns the ids whose score changed."""
        changed: set[int] = set()
        windows: list[list[datetime]] = []
        for t in sorted(times):
            if windows and t <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], t + self.carry)
            else:
                windows.append([t, t + self.carry])
        for start, end in windows:
            j = bisect_left(self.with_temp, (start,), key=_vkey) - 1
            last_temp = (self.with_temp[j].measured_at, self.with_temp[j].temperature) if j >= 0 else None
            i = bisect_left(self.in_force, (start,), key=_vkey)
            while i < len(self.in_force) and self.in_force[i].measured_at <= end:
                v = self.in_force[i]
                measured_at, temperature = v.measured_at, v.temperature
                score = self._score(v, temperature, measured_at, last_temp)
                if self.news2.get(v.id) != score:
                    if score is None:
                        del self.news2[v.id]
                    else:
                        self.news2[v.id] = score
                    changed.add(v.id)
                if temperature is not None:
                    last_temp = (measured_at, temperature)
                i += 1
        return changed

    def _score(self, v: StoredVitalSigns, temperature, measured_at, last_temp) -> News2 | None:
        """NEWS2 of one set as news2.score_series scores it (None: not a complete set)."""
        if v.consciousness is None or v.resp_rate is None or v.systolic is None:
            return None  # most device sets: no NEWS2 without these (cheap check first)
        earlier = None
        if temperature is None and last_temp is not None and measured_at - last_temp[0] <= self.carry:
            earlier = last_temp[1]
        result = score_vitals(v, earlier)
        return result if isinstance(result, News2) else None

    def _line(self, v: StoredVitalSigns) -> LogLine:
        return LogLine.of_vitals(v, self.names.get(v.entered_by_id, "—"), self.news2.get(v.id),
                                 v.id in self.superseded, v.id in self.artefacts)

    def _relabel(self, v: StoredVitalSigns) -> bool:
        """Put the set's log line, as it reads now, in place (False: it was not where expected)."""
        line = self._line(v)
        old = self.line_of.get(v.id)
        if old == line:
            return True
        now_shown = not line.routine_device_reading
        if self.lines is None and old is None and not now_shown:
            return True  # a routine device reading: no line until the lines are asked for
        if self.lines is not None or now_shown:
            self.line_of[v.id] = line
        else:
            del self.line_of[v.id]
        for lst, was, now in ((self.lines, old is not None, True),
                              (self.shown, old is not None and not old.routine_device_reading, now_shown)):
            if lst is None:
                continue
            if was:
                i = bisect_left(lst, _lkey(old), key=_lkey)
                if i >= len(lst) or lst[i] is not old:
                    return False
                if now:
                    lst[i] = line
                else:
                    del lst[i]
            elif now:
                insort(lst, line, key=_lkey)
        return True

    def _rebuild(self) -> None:
        self.version += 1
        rows = self.ordered = sorted(self.rows.values(), key=_vkey)
        self.in_force, self.superseded = split(rows)
        if self.artefacts:
            self.in_force = [v for v in self.in_force if v.id not in self.artefacts]
        self.with_temp = [v for v in self.in_force if v.temperature is not None]
        self.news2 = score_news2(self.in_force, self.carry_minutes)
        superseded, artefacts = self.superseded, self.artefacts
        # LogLine.routine_device_reading without making the line (43 200 sets, a screenful shown)
        self.shown = [self._line(v) for v in rows if not (v.source == "device" and v.supersedes_id is None
                                                          and not v.retracted and v.id not in superseded
                                                          and v.id not in artefacts)]
        self.line_of = {line.entity_id: line for line in self.shown}
        self.lines = None

    def logs(self, others: list[LogLine], news2: dict[int, News2], names: dict[int, str]):
        """(the folded log, the whole log or the function that makes it, how many
        routine device readings the whole log has beyond the folded one), with the
        other entries' lines `others` merged in; `news2` as copied for the chart.
        The routine device readings' lines are made only if the whole log is asked
        for, as of now (a list copy of the sets, not 43 200 lines). Under `lock`."""
        shown = _merge(self.shown, others)
        device_readings = len(self.rows) - len(self.shown)
        if not device_readings:
            return shown, shown, 0
        if self.lines is not None:
            return shown, _merge(self.lines, others), device_readings
        as_of = (self.version, list(self.ordered), set(self.superseded), news2, names, frozenset(self.artefacts))

        def log() -> list[LogLine]:
            with self.lock:
                return _merge(self.lines_as_of(*as_of), others)

        return shown, log, device_readings

    def lines_as_of(self, version: int, ordered: list, superseded: set[int], news2: dict[int, News2],
                    names: dict[int, str], artefacts: frozenset[int] = frozenset()) -> list[LogLine]:
        """Every set's line as a load saw them (`version` and what it copied). Made
        once and then kept up to date, if nothing changed since that load;
        otherwise made for that load alone."""
        if version == self.version:
            if self.lines is None:
                line_of = self.line_of
                self.lines = [line_of.get(v.id) or self._line(v) for v in self.ordered]
                self.line_of = {line.entity_id: line for line in self.lines}
            return self.lines
        return [LogLine.of_vitals(v, names.get(v.entered_by_id, "—"), news2.get(v.id), v.id in superseded,
                                  v.id in artefacts) for v in ordered]


#: the ids of a session's sets above an id (0: all), read after every saved entry
_SET_IDS = select(VitalSigns.__table__.c.id).where(VitalSigns.__table__.c.session_id == bindparam("session_id"),
                                                   VitalSigns.__table__.c.id > bindparam("above"))


class _VitalsCache:
    """`_SessionVitals` per (store, session). Keyed by the Store object itself (weakly),
    so a store that is gone takes its sets with it and a new store — a new test's,
    another database — never sees another's."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stores: WeakKeyDictionary[Store, OrderedDict[int, _SessionVitals]] = WeakKeyDictionary()

    def get(self, store: Store, session_id: int, carry_minutes: float) -> _SessionVitals:
        with self._lock:
            sessions = self._stores.get(store)
            if sessions is None:
                sessions = self._stores[store] = OrderedDict()
            entry = sessions.get(session_id)
            if entry is None or entry.carry_minutes != carry_minutes:
                entry = sessions[session_id] = _SessionVitals(carry_minutes)
            sessions.move_to_end(session_id)
            while len(sessions) > CACHED_SESSIONS:
                sessions.popitem(last=False)
            return entry

    def forget(self, store: Store | None = None, session_id: int | None = None) -> None:
        with self._lock:
            if store is None:
                self._stores.clear()
            elif session_id is None:
                self._stores.pop(store, None)
            elif store in self._stores:
                self._stores[store].pop(session_id, None)


_vitals_cache = _VitalsCache()


def forget_chart_cache(store: Store | None = None, session_id: int | None = None) -> None:
    """Drop the vital signs kept between loads (all, one store's, or one session's);
    the next load_chart reads them again in full."""
    _vitals_cache.forget(store, session_id)


def _merge(vital_lines: list[LogLine], others: list[LogLine]) -> list[LogLine]:
    """`vital_lines` (sorted) with `others` put in place: the order a stable sort by
    (at, entered_at) of vital signs, then `others` in their order, would give."""
    out = list(vital_lines)
    for line in others:
        insort_right(out, line, key=_time_key)
    return out


def load_chart(store: Store, session_id: int, now: datetime | None = None, *, fresh: bool = False,
               vitals: bool = True) -> Chart:
    """The session's chart as of now. Vital signs read before are kept (see
    _SessionVitals); `fresh=True` reads them all again. `vitals=False`: the chart
    without its vital-sign sets, for readers that read the stored sets themselves
    (the session report, exports): no ORM objects, no log lines for 43 200 sets."""
    from ketamon.core.rules import news2_carry_minutes

    now = now or store.clock.now()
    if fresh:
        _vitals_cache.forget(store, session_id)
    with store.read() as db:
        s = db.get(Session, session_id, options=[joinedload(Session.patient)])
        if s is None:
            raise KeyError(session_id)
        protocol = store.protocols.get(s.protocol_id, s.protocol_version)
        # NEWS2 beside every complete set (alerts engineer; rules in resources/alarms)
        carry = news2_carry_minutes(protocol)
        by_session = lambda m, order: list(db.scalars(select(m).where(m.session_id == session_id).order_by(order)))
        dose_all = by_session(DoseEvent, DoseEvent.at)
        se_all = by_session(SideEffect, SideEffect.observed_at)
        note_all = by_session(Note, Note.at)
        ass_all = by_session(Assessment, Assessment.at)
        alerts = list(db.scalars(select(Alert).where(Alert.session_id == session_id).order_by(Alert.raised_at)))
        users = {u.id: u for u in db.scalars(select(User))}
        names = {uid: u.display_name for uid, u in users.items()}
        cached = _vitals_cache.get(store, session_id, carry) if vitals else _SessionVitals(carry)
        with cached.lock:
            verdicts = verdicts_in(db, session_id) if vitals else {}
            if vitals:
                cached.set_artefacts(artefacts_of(verdicts))
                with gc_paused():  # the first load makes 43 200 rows (and their sort keys) at once
                    cached.add(cached.read_new(db, session_id), names)
            vitals = list(cached.in_force)
            artefact_sets = cached.artefact_sets()
            news2 = dict(cached.news2)
            doses, ds = split(dose_all)
            ses, ss = split(se_all)
            notes, ns = split(note_all)
            assessments, as_ = split(ass_all)
            name = lambda uid: names.get(uid, "—")
            others: list[LogLine] = []
            for d in dose_all:
                others.append(LogLine(d.at, d.entered_at, name(d.entered_by_id), "dose",
                                      "Entered in error" if d.retracted else describe_dose(d), "dose_event", d.id,
                                      d.id in ds, d.supersedes_id is not None, d.late, d.correction_reason,
                                      d.retracted))
            for e in se_all:
                others.append(LogLine(e.observed_at, e.entered_at, name(e.entered_by_id), "side_effect",
                                      "Entered in error" if e.retracted else describe_side_effect(e), "side_effect",
                                      e.id, e.id in ss, e.supersedes_id is not None, e.late, e.correction_reason,
                                      e.retracted))
            for n in note_all:
                others.append(LogLine(n.at, n.entered_at, name(n.entered_by_id), "note",
                                      "Entered in error" if n.retracted else f"Note: {n.text}", "note", n.id,
                                      n.id in ns, n.supersedes_id is not None, False, n.correction_reason,
                                      n.retracted))
            for a in ass_all:
                others.append(LogLine(a.at, a.entered_at, name(a.entered_by_id), "assessment",
                                      describe_assessment(a), "assessment", a.id,
                                      a.id in as_, a.supersedes_id is not None, False, a.correction_reason))
            others.sort(key=_time_key)  # stable: at one time doses, side effects, notes, assessments
            shown, log, device_readings = cached.logs(others, news2, names)
    return Chart(s, s.patient, protocol, now, vitals, doses, ses, notes, assessments, alerts, log, users,
                 log_without_device_readings=shown, device_readings=device_readings, news2=news2,
                 artefact_sets=artefact_sets, verdicts=verdicts)


#: the notice flags after which only a chart's vital signs (and its alerts) can
#: differ from the chart loaded before: limits, the clinic's settings and prints
#: or exports are not in a Chart
VITALS_ONLY_FLAGS = frozenset({"vitals", "alerts", "limits", "settings", "exports"})


def refresh_chart(store: Store, previous: Chart, changes=None, now: datetime | None = None) -> Chart:
    """The chart again after `changes` (an OpChanges; None: anything may have
    changed, as load_chart). When the notice says only vital signs (and alerts)
    changed — every 1 Hz monitor set, every Enter in the vitals row — the
    session, patient, doses, side effects, notes, assessments and users of
    `previous` are kept, the new sets are read (the kept ones, as load_chart
    keeps them), and the alerts only when flagged: one or two statements instead
    of eight. Any other flag reloads the whole chart."""
    from ketamon.core.rules import news2_carry_minutes

    if changes is None or not changes.flags <= VITALS_ONLY_FLAGS:
        return load_chart(store, previous.session.id, now)
    now = now or store.clock.now()
    session_id = previous.session.id
    names = {uid: u.display_name for uid, u in previous.users.items()}
    # what load_chart put beside the vital signs' lines; the folded log holds them all
    kept = previous.log_without_device_readings
    others = [line for line in kept if line.kind != "vitals"]
    with store.read() as db:
        alerts = list(db.scalars(select(Alert).where(Alert.session_id == session_id).order_by(Alert.raised_at))) \
            if changes.alerts else previous.alerts
        cached = _vitals_cache.get(store, session_id, news2_carry_minutes(previous.protocol))
        with cached.lock:
            new = cached.read_new(db, session_id)
            if any(v.entered_by_id not in names for v in new):
                vitals = None  # entered by someone the chart does not know yet: their name is needed
            else:
                verdicts = verdicts_in(db, session_id)  # a verdict is a vitals notice
                cached.set_artefacts(artefacts_of(verdicts))
                cached.add(new, names)
                vitals = list(cached.in_force)
                artefact_sets = cached.artefact_sets()
                news2 = dict(cached.news2)
                shown, log, device_readings = cached.logs(others, news2, names)
    if vitals is None:
        return load_chart(store, session_id, now)
    return Chart(previous.session, previous.patient, previous.protocol, now, vitals, previous.doses,
                 previous.side_effects, previous.notes, previous.assessments, alerts, log, previous.users,
                 log_without_device_readings=shown, device_readings=device_readings, news2=news2,
                 artefact_sets=artefact_sets, verdicts=verdicts)


def chart_in(db: DbSession, store: Store, session_id: int, now: datetime | None = None) -> Chart:
    """The chart as an operation's own transaction sees it (its flushed rows
    included), for the checks an operation makes (what is missing before a dose,
    discharge or signing). The vital signs come from the sets load_chart keeps,
    plus any saved since, without changing what is kept (the transaction may
    still roll back). No event log: screens use load_chart."""
    from ketamon.core.errors import NotFound
    from ketamon.core.rules import news2_carry_minutes

    now = now or store.clock.now()
    s = db.get(Session, session_id, options=[joinedload(Session.patient)])
    if s is None:
        raise NotFound(f"There is no session {session_id}.")
    protocol = store.protocols.get(s.protocol_id, s.protocol_version)
    cached = _vitals_cache.get(store, session_id, news2_carry_minutes(protocol))
    with cached.lock:
        vitals = cached.peek(db, session_id)

    def rows(model, order):
        return current(db.scalars(select(model).where(model.session_id == session_id).order_by(order, model.id)))

    return Chart(s, s.patient, protocol, now, vitals, rows(DoseEvent, DoseEvent.at),
                 rows(SideEffect, SideEffect.observed_at), rows(Note, Note.at), rows(Assessment, Assessment.at),
                 list(db.scalars(select(Alert).where(Alert.session_id == session_id)
                                 .order_by(Alert.raised_at, Alert.id))),
                 [], {u.id: u for u in db.scalars(select(User))})


def describe_vitals(v: VitalSigns) -> str:
    # each attribute read once: this runs for every set of a 12-hour 1 Hz session
    parts = []
    systolic, heart_rate, spo2, resp_rate = v.systolic, v.heart_rate, v.spo2, v.resp_rate
    temperature, consciousness, comment = v.temperature, v.consciousness, v.comment
    if systolic is not None:
        mean = v.mean_arterial
        parts.append(f"BP {systolic}/{v.diastolic}" + (f" ({mean})" if mean else ""))
    if heart_rate is not None:
        parts.append(f"HR {heart_rate}")
    if spo2 is not None:
        parts.append(f"SpO2 {spo2}%" + (" on O2" if v.on_oxygen else ""))
    if resp_rate is not None:
        parts.append(f"RR {resp_rate}")
    if temperature is not None:
        parts.append(f"T {temperature:.1f}°C")
    if consciousness:
        parts.append(f"ACVPU {consciousness}")
    text = ", ".join(parts) or "Vital signs"
    if v.source == "device":
        text += " [device]"
    if comment:
        text += f" — {comment}"
    return text


def describe_dose(d: DoseEvent) -> str:
    if d.kind == "nasal_device":
        return f"Nasal device {d.device_number} given ({d.amount_mg:g} mg, lot {d.lot_number or '—'})"
    if d.kind == "im_injection":
        return f"IM injection {d.amount_mg:g} mg" + (f" ({d.site})" if d.site else "")
    labels = {"infusion_start": "Infusion started", "infusion_rate": "Infusion rate changed",
              "infusion_pause": "Infusion paused", "infusion_resume": "Infusion resumed",
              "infusion_stop": "Infusion stopped"}
    text = labels[d.kind]
    if d.rate_mg_per_h is not None and d.kind in ("infusion_start", "infusion_rate"):
        text += f" at {d.rate_mg_per_h:g} mg/h"
    return text + (f" — {d.comment}" if d.comment else "")


#: checklist answers in the clinic's words, as the event log says them
CHECKLIST_WORDS = {
    "predose_checklist": ("Pre-dose checklist", {
        "consent": "consent confirmed", "fasting": "fasting confirmed",
        "contraindications_reviewed": "contraindications reviewed",
        "medications_reviewed": "concomitant medicines reviewed"}),
    "discharge_checklist": ("Discharge checklist", {
        "effects_resolved": "effects resolved", "escort_present": "escort present",
        "instructions_given": "written instructions given"}),
}


def describe_assessment(a: Assessment) -> str:
    """An assessment in the clinic's words ("Pre-dose checklist completed: consent
    confirmed, …"; "PHQ-9 15, moderately severe"), never its internal kind and count."""
    items = a.items or {}
    if a.kind in CHECKLIST_WORDS:
        title, words = CHECKLIST_WORDS[a.kind]
        done = [w for k, w in words.items() if items.get(k)]
        open_ = [w for k, w in words.items() if not items.get(k)]
        text = f"{title} {'completed' if not open_ else 'saved'}: " + (", ".join(done) or "nothing confirmed yet")
        text += f"; not yet: {', '.join(open_)}" if open_ and done else ""
    elif a.kind == "phq9":
        total = int(a.total or 0)
        text = f"PHQ-9 {total}, {scores.phq9_band(total)}"
        if scores.phq9_needs_followup(items):
            text += f"; item 9 (self-harm) answered {items.get(scores.PHQ9_SELF_HARM_ITEM)}"
    elif a.kind == "phq9_followup":
        text = "PHQ-9 item 9 follow-up"
    elif a.kind == "predose_decision":
        text = "Pre-dose decision: " + ("proceed with dosing" if items.get("proceed") else "do not dose")
    elif a.kind in ("aldrete", "padss"):
        scale = scores.discharge_scale(a.kind)
        text = f"{scale.name} {a.total:g}/{scale.maximum}"
    else:
        text = a.kind.replace("_", " ").capitalize() + (f" {a.total:g}" if a.total is not None else "")
    return text + (f" — {a.comment}" if a.comment else "")


def describe_side_effect(e: SideEffect) -> str:
    text = SIDE_EFFECT_KINDS.get(e.kind, e.kind)
    if e.kind == "sedation" and e.score is not None:
        text = f"Sedation: MOAA/S {e.score:g}"
    elif e.score is not None:
        text += f" {e.score:g}" + {"NRS-0-10": "/10", "severity-0-4": "/4", "CADSS-6": "/24 (CADSS-6)"}.get(
            e.scale or "", "")
    if e.text:
        text += f": {e.text}"
    return text


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    patient_name: str
    mrn: str
    protocol_name: str
    route: str
    state: str
    state_label: str
    scheduled_at: datetime
    first_dose_at: datetime | None
    elapsed: timedelta | None
    #: the chair the session sits at (its monitor's data comes here), None: no chair
    chair: str | None = None


def of_the_day(day: date):
    """WHERE clause: the sessions of a local calendar day's list — those scheduled on
    it, and those of the day before still in progress: a session begun before
    midnight stays on the list (and its chair watched) until it ends. The sessions
    list and the central station both list so."""
    start = datetime.combine(day, datetime.min.time()).astimezone()
    return or_(and_(Session.scheduled_at >= start, Session.scheduled_at < start + timedelta(days=1)),
               and_(Session.scheduled_at >= start - timedelta(days=1), Session.scheduled_at < start,
                    Session.state.in_(sorted(IN_PROGRESS))))


def sessions_on(store: Store, day: date | None = None, now: datetime | None = None) -> list[SessionRow]:
    """The sessions of a local calendar day's list (default today: `of_the_day`)."""
    now = now or store.clock.now()
    day = day or now.astimezone().date()
    with store.read() as db:
        sessions = list(db.scalars(select(Session).options(joinedload(Session.patient))
                                   .where(of_the_day(day)).order_by(Session.scheduled_at)))
        ids = [s.id for s in sessions]
        firsts: dict[int, datetime] = {}
        if ids:
            for d in db.scalars(select(DoseEvent).where(DoseEvent.session_id.in_(ids))):
                if d.kind in ("nasal_device", "im_injection", "infusion_start") and not d.retracted:
                    firsts[d.session_id] = min(firsts.get(d.session_id, d.at), d.at)
    rows = []
    for s in sessions:
        first = firsts.get(s.id)
        rows.append(SessionRow(s.id, s.patient.display_name, s.patient.mrn,
                               store.protocols.get(s.protocol_id, s.protocol_version).name, s.route, s.state,
                               STATE_LABELS[s.state], s.scheduled_at, first, (now - first) if first else None,
                               s.chair))
    return rows


@dataclass(frozen=True)
class PatientChoice:
    """A patient as the new-session dialog lists them."""

    patient_id: int
    display_name: str
    mrn: str
    birth_date: date
    weight_kg: float | None


def list_patients(store: Store) -> list[PatientChoice]:
    with store.read() as db:
        rows = db.scalars(select(Patient).order_by(Patient.family_name, Patient.given_name))
        return [PatientChoice(p.id, p.display_name, p.mrn, p.birth_date, p.weight_kg) for p in rows]


def list_users(store: Store, role: str | None = None, active_only: bool = True) -> list[User]:
    """Users (e.g. the supervising physicians a session may name), by display name."""
    with store.read() as db:
        q = select(User).order_by(User.display_name)
        if role is not None:
            q = q.where(User.role == role)
        if active_only:
            q = q.where(User.active.is_(True))
        return list(db.scalars(q))
