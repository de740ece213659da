"""The alert engine: protocol rules, per-patient limits, NEWS2, side effects,
overdue vitals, and the bedside-monitor behaviour of the alerts they raise.

How it works (and what must not change):
- `evaluate(op, session)` runs inside every charting operation's transaction, so an
  alert is stored atomically with the entry that caused it. It must stay cheap: a
  device feeds one set a second. It never loads the session's history; it reads the
  newest set in force and asks the database small, indexed questions ("is there a
  reading in the last 5 minutes at or below 120?").
- Rules produce *findings*: for each condition key, a Condition that holds, or None
  ("checked: does not hold"). A key that is not in the findings was not checked
  (e.g. the newest set has no BP) and its alert is left as it is.
- One active alert per key per session. A persisting condition never raises again;
  it re-arms only after it clears. Related rules share a key (every "BP too high"
  rule is `bp_high`), and a worse finding raises the active alert's priority in
  place (and sounds again) instead of adding a second alert for the same problem.
  A milder finding leaves the alert as it is until the problem clears altogether.
- An alert never outlives the reading it quotes: when that reading is corrected
  the open alert takes the corrected finding's text and priority (no new sound:
  "update"); when it is marked entered in error the alert is closed as such
  (ENTERED_IN_ERROR, out of the review queue: nobody reviews a reading that
  never was), and a condition still holding on the other readings raises anew.
  A device set a nurse marks artefact is treated the same (DEVICE_ARTEFACT,
  `after_device_verdict`); validated again, it counts again.
- Events (vomiting, observed respiratory depression) latch: their alert stays until
  someone acknowledges it. Everything else clears when its condition clears; the
  row stays in the record (cleared_at) for review.
- `plan(...)` only reads; `apply(...)` writes. The overdue timer (`tick` in
  ops.alerting) plans first and opens a write transaction only when something
  changes, so an idle clinic does not write every few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session as DbSession

from ketamon.core import dosing, formats, news2, schedule
from ketamon.core.audit import snapshot
from ketamon.core.errors import ValidationError
from ketamon.core.in_force import current, current_rows, in_force_clause
from ketamon.core.lifecycle import ENDED
from ketamon.core.models import (
    Alert,
    Assessment,
    DoseEvent,
    LimitOverride,
    Session,
    SideEffect,
    User,
    VitalSigns,
)
from ketamon.core.protocols import Protocol, _fmt
from ketamon.core.rules import (
    PRIORITY_RANK,
    AlertRules,
    EffectiveLimits,
    LimitChange,
    effective_limits,
    news2_carry_minutes,
    priority_up,
    rules_for,
)

if TYPE_CHECKING:
    from ketamon.core.ops.base import Op
    from ketamon.core.store import Store


# Within one condition key, a finding replaces the active alert's message and
# priority only when it ranks higher: (priority, severity below).
RULE_SEVERITY = {
    "rise_over_baseline": 1, "range_abnormal": 2, "range_critical": 3, "bp_sustained": 4, "bp_single": 5,
    "hr_sustained": 4, "respiratory_depression": 5,
    "news2_not_assessable": 0, "news2_single_three": 1, "news2_urgent": 2, "news2_emergency": 3,
}
#: range alerts share one key per problem; BP parameters share one
RANGE_KEY = {
    ("systolic", "high"): "bp_high", ("diastolic", "high"): "bp_high", ("mean_arterial", "high"): "bp_high",
    ("systolic", "low"): "bp_low", ("diastolic", "low"): "bp_low", ("mean_arterial", "low"): "bp_low",
    ("heart_rate", "high"): "hr_high", ("heart_rate", "low"): "hr_low",
    ("spo2", "low"): "breathing", ("resp_rate", "low"): "breathing",
    ("spo2", "high"): "spo2_high", ("resp_rate", "high"): "rr_high",
    ("temperature", "high"): "temp_high", ("temperature", "low"): "temp_low",
}
MOAAS_TEXT = {
    5: "responds readily to name", 4: "lethargic response to name", 3: "responds only to loud or repeated name",
    2: "responds only to mild prodding or shaking", 1: "responds only to a painful trapezius squeeze",
    0: "no response to a painful squeeze",
}
#: how an alert closed because the reading it quotes was entered in error says so,
#: in the review queue and on paper
ENTERED_IN_ERROR = "Closed: reading entered in error"
#: how an alert closed because the device set it quotes was marked an artefact says
#: so (the queue and the printout add by whom and when, as for ENTERED_IN_ERROR)
DEVICE_ARTEFACT = "Closed: device set marked artefact"
#: the closures of an alert whose reading no longer counts (settled, nobody reviews them)
VOID_CLOSURES = (ENTERED_IN_ERROR, DEVICE_ARTEFACT)


def closed_as_void(review_comment: str | None) -> bool:
    """The alert was closed because its reading was entered in error or marked artefact."""
    return review_comment in VOID_CLOSURES
#: the entries an alert may quote (Alert.source_kind)
SOURCE_MODELS = {"vital_signs": VitalSigns, "side_effect": SideEffect, "dose_event": DoseEvent}

#: event alerts: they stay until acknowledged (raise_event raises the last two)
LATCHING = {"vomiting", "resp_depression", "protocol_deviation", "first_session_dose"}


def severity(rule: str | None) -> int:
    if rule and rule.startswith("moaas_"):
        return 10 - int(rule.removeprefix("moaas_"))  # MOAA/S 0 is the worst
    return RULE_SEVERITY.get(rule or "", 0)


def _local(when: datetime) -> str:
    return formats.clock_time(when)


@dataclass(frozen=True)
class Condition:
    key: str
    rule: str
    priority: str
    message: str
    category: str = "patient"
    source_kind: str | None = None
    source_id: int | None = None

    @property
    def rank(self) -> tuple[int, int]:
        return PRIORITY_RANK[self.priority], severity(self.rule)


def alert_rank(a: Alert) -> tuple[int, int]:
    return PRIORITY_RANK[a.priority], severity(a.rule)


# ---------------------------------------------------------------- reading the record


#: built once: a fresh alias per query cost SQLAlchemy ~1.5 ms of Python to adapt,
#: three times per evaluation (a 1 Hz monitor evaluates every second)
_VITALS_IN_FORCE = in_force_clause(VitalSigns)


def _vitals_query(session_id, *where, newest_first: bool = True, limit: int | None = 1):
    q = select(VitalSigns).where(VitalSigns.session_id == session_id, _VITALS_IN_FORCE, *where)
    order = (VitalSigns.measured_at.desc(), VitalSigns.id.desc()) if newest_first else (VitalSigns.measured_at,)
    q = q.order_by(*order)
    return q.limit(limit) if limit else q


def _vitals(db: DbSession, session_id: int, *where, newest_first: bool = True, limit: int | None = 1):
    return list(db.scalars(_vitals_query(session_id, *where, newest_first=newest_first, limit=limit)))


#: the statements read on every evaluation (each saved entry, each 1 Hz set), built
#: once: SQLAlchemy then finds their SQL by the cache key kept on each, instead of
#: building and keying new ones every time
_SESSION_ID = bindparam("session_id")
_NEWEST_SET = _vitals_query(_SESSION_ID)
_ACTIVE_ALERTS = select(Alert).where(Alert.session_id == _SESSION_ID, Alert.cleared_at.is_(None))
_LIMIT_CHANGES = select(LimitOverride, User.display_name).outerjoin(User, User.id == LimitOverride.set_by_id) \
    .where(LimitOverride.patient_id == bindparam("patient_id")).order_by(LimitOverride.id)


def _newest(db: DbSession, session_id: int, *where) -> VitalSigns | None:
    if not where:
        return db.scalar(_NEWEST_SET, {"session_id": session_id})
    rows = _vitals(db, session_id, *where)
    return rows[0] if rows else None


def due_facts(db: DbSession, store: "Store", session_ids: list[int]
              ) -> tuple[dict[int, datetime], dict[int, datetime]]:
    """For several sessions at once, what their due times need besides the doses:
    (when the newest BP set was measured, since when close monitoring is called
    for: schedule.close_monitoring_since). One statement however many sessions
    (the sessions list and the alert tick run this over every live session): each
    fact is a correlated "newest row" answered from the session's indexes."""
    if not session_ids:
        return {}, {}
    from types import SimpleNamespace

    v, e = VitalSigns, SideEffect

    def newest(model, col, when, *where):
        return (select(col).where(model.session_id == Session.id, in_force_clause(model), *where)
                .order_by(when.desc(), model.id.desc()).limit(1).correlate(Session).scalar_subquery())

    spo2 = lambda col: newest(v, col, v.measured_at, v.spo2.is_not(None))  # noqa: E731
    sedation = lambda col: newest(e, col, e.observed_at, e.kind == "sedation", e.score.is_not(None))  # noqa: E731
    rows = db.execute(select(
        Session.id, Session.protocol_id, Session.protocol_version,
        newest(v, v.measured_at, v.measured_at, v.systolic.is_not(None)),
        spo2(v.measured_at), spo2(v.spo2), spo2(v.resp_rate), sedation(e.observed_at), sedation(e.score),
        newest(e, e.observed_at, e.observed_at, e.kind == "respiratory_depression"),
    ).where(Session.id.in_(session_ids)))
    last_bp, close = {}, {}
    for sid, protocol_id, version, bp_at, spo2_at, spo2_value, rr, sed_at, sed_score, depressed_at in rows:
        if bp_at is not None:
            last_bp[sid] = bp_at
        effects = []
        if sed_at is not None:
            effects.append(SimpleNamespace(kind="sedation", score=sed_score, observed_at=sed_at))
        if depressed_at is not None:
            effects.append(SimpleNamespace(kind="respiratory_depression", score=None, observed_at=depressed_at))
        newest_spo2 = None if spo2_at is None else SimpleNamespace(measured_at=spo2_at, spo2=spo2_value,
                                                                    resp_rate=rr)
        if effects or newest_spo2 is not None:
            since = schedule.close_monitoring_since(store.protocols.get(protocol_id, version), effects, newest_spo2)
            if since is not None:
                close[sid] = since
    return last_bp, close


def doses_in_force(db: DbSession, session_ids: list[int]) -> dict[int, list[DoseEvent]]:
    """Each session's dose events in force, by time (one statement for all)."""
    by_session: dict[int, list[DoseEvent]] = {sid: [] for sid in session_ids}
    if session_ids:
        q = (select(DoseEvent).where(DoseEvent.session_id.in_(session_ids))
             .order_by(DoseEvent.session_id, DoseEvent.at, DoseEvent.id))
        for d in db.scalars(q):
            by_session[d.session_id].append(d)
    return {sid: current(rows) for sid, rows in by_session.items()}


def sessions_to_evaluate(db: DbSession, store: "Store", session_ids: list[int], now: datetime) -> list[int]:
    """Of these sessions, those whose alerts time alone may have changed since
    their last evaluation: an overdue set (or one no longer overdue), an alert
    not acknowledged for the escalation time, an ended session with alerts still
    active. Every other finding depends only on entries, and every entry is
    evaluated in its own transaction. A fixed number of statements (the timer
    runs this every few seconds over all live sessions)."""
    if not session_ids:
        return []
    rows = db.execute(select(Session.id, Session.protocol_id, Session.protocol_version, Session.state,
                             Session.planned_dose_mg).where(Session.id.in_(session_ids))).all()
    sessions = [row[:4] for row in rows]
    planned = {row[0]: row[4] for row in rows}
    active: dict[int, list[Alert]] = {sid: [] for sid, *_ in sessions}
    for alert in db.scalars(select(Alert).where(Alert.session_id.in_(list(active)), Alert.cleared_at.is_(None))):
        active[alert.session_id].append(alert)
    live = [sid for sid, _p, _v, state in sessions if state not in ENDED]
    doses = doses_in_force(db, live)
    last_bp, close = due_facts(db, store, live)
    out = []
    for sid, protocol_id, version, state in sessions:
        alerts_now = active[sid]
        if state in ENDED:
            if alerts_now:
                out.append(sid)
            continue
        protocol = store.protocols.get(protocol_id, version)
        rules = rules_for(protocol)
        overdue_rule = rules.on("overdue")
        due: set[str] = set()
        if overdue_rule is not None:
            due = {f"overdue:{item.key}" for item in schedule.due_items(protocol, state, doses[sid], last_bp.get(sid),
                                                                       now, close.get(sid)) if item.is_overdue(now)}
        shown = {a.condition_key: a for a in alerts_now if a.condition_key.startswith("overdue:")}
        infusion_due = protocol.route == "iv" and infusion_condition(
            dosing.infusion_status(doses[sid], now), planned.get(sid), rules.on("infusion_complete")) is not None
        if infusion_due != any(a.condition_key == "infusion_complete" for a in alerts_now):
            out.append(sid)
            continue
        if due != set(shown) or (overdue_rule is not None and any(
                PRIORITY_RANK[overdue_rule.priority] > PRIORITY_RANK[a.priority] for a in shown.values())):
            out.append(sid)
            continue
        if any(a.acknowledged_at is None and a.priority in rules.escalate_priorities
               and now - (a.escalated_at or a.raised_at) >= rules.escalate_after for a in alerts_now):
            out.append(sid)
    return out


def limit_changes(db: DbSession, patient_id: int) -> list[LimitChange]:
    rows = db.execute(_LIMIT_CHANGES, {"patient_id": patient_id})
    return [LimitChange(o.parameter, o.tier, o.low, o.high, o.reason, o.set_at, name or "—") for o, name in rows]


def _predose_decision(db: DbSession, session_id: int) -> Assessment | None:
    rows = [a for a in current_rows(db, Assessment, session_id, Assessment.at) if a.kind == "predose_decision"]
    return rows[-1] if rows else None


@dataclass
class Context:
    """What the rules look at for one session at one moment. Small by design."""

    db: DbSession
    session: Session
    protocol: Protocol
    rules: AlertRules
    limits: EffectiveLimits
    now: datetime
    doses: list[DoseEvent]
    latest: VitalSigns | None
    side_effects: list[SideEffect]
    active: dict[str, Alert]
    first_dose_at: datetime | None
    _baseline: VitalSigns | None | bool = False

    @property
    def baseline(self) -> VitalSigns | None:
        """The last BP set measured at or before the first dose (None before dosing)."""
        if self._baseline is False:
            self._baseline = None if self.first_dose_at is None else _newest(
                self.db, self.session.id, VitalSigns.systolic.is_not(None),
                VitalSigns.measured_at <= self.first_dose_at)
        return self._baseline

    def last_spo2(self) -> VitalSigns | None:
        """The newest set with an SpO2 (the newest set itself when it has one: no query)."""
        if self.latest is not None and self.latest.spo2 is not None:
            return self.latest
        return _newest(self.db, self.session.id, VitalSigns.spo2.is_not(None))

    def last_bp_at(self) -> datetime | None:
        if self.latest is not None and self.latest.systolic is not None:
            return self.latest.measured_at
        v = _newest(self.db, self.session.id, VitalSigns.systolic.is_not(None))
        return v.measured_at if v else None


def load_context(db: DbSession, session: Session, protocol: Protocol, now: datetime) -> Context:
    doses = current_rows(db, DoseEvent, session.id, DoseEvent.at)
    active = {a.condition_key: a for a in db.scalars(_ACTIVE_ALERTS, {"session_id": session.id})}
    return Context(db, session, protocol, rules_for(protocol),
                   effective_limits(protocol, limit_changes(db, session.patient_id)), now, doses,
                   _newest(db, session.id), current_rows(db, SideEffect, session.id, SideEffect.observed_at),
                   active, dosing.first_dose_at(doses))


# ---------------------------------------------------------------- the rules


def range_conditions(v: VitalSigns, limits: EffectiveLimits) -> dict[str, Condition | None]:
    """Out-of-range findings of one set, by key; keys whose parameters the set has."""
    found: dict[str, Condition | None] = {}
    for (param, side), key in RANGE_KEY.items():
        value = getattr(v, param)
        if value is None:
            continue
        found.setdefault(key, None)
        r = limits.ranges.get(param)
        if r is None:
            continue
        tier = r.tier(value)
        if tier not in ("critical", "abnormal"):
            continue
        band = r.critical if tier == "critical" else r.abnormal
        if side == "high" and (band.high is None or value <= band.high):
            continue
        if side == "low" and (band.low is None or value >= band.low):
            continue
        limit = band.high if side == "high" else band.low
        whose = " (patient's limit)" if (param, tier) in limits.overridden else ""
        what = f"{r.label} {_fmt(value)} {r.unit}".replace(" %", "%")
        if key == "bp_high" or key == "bp_low":
            short = {"systolic": "systolic", "diastolic": "diastolic", "mean_arterial": "mean"}[param]
            what = f"BP {v.systolic}/{v.diastolic}: {short} {_fmt(value)}"
        msg = f"{what} {'above' if side == 'high' else 'below'} the {tier} limit {_fmt(limit)}{whose}"
        cond = Condition(key, f"range_{tier}", "high" if tier == "critical" else r.abnormal_priority, msg,
                         source_kind="vital_signs", source_id=v.id)
        if found[key] is None or cond.rank > found[key].rank:
            found[key] = cond
    return found


def _better(found: dict[str, Condition | None], cond: Condition) -> None:
    cur = found.get(cond.key)
    if cur is None or cond.rank > cur.rank:
        found[cond.key] = cond


def _sustained(ctx: Context, column, sql_above, above, minutes: float) -> bool:
    """True when every reading in force over the last `minutes` (up to the newest)
    is above the limit, and so is the newest reading at or before the start of that
    span: two or more readings at least `minutes` apart with none back in range.
    Two small indexed queries, whatever the length of the session."""
    latest = ctx.latest
    start = latest.measured_at - timedelta(minutes=minutes)
    sid = ctx.session.id
    back_in_range = _newest(ctx.db, sid, column.is_not(None), VitalSigns.measured_at >= start,
                            VitalSigns.measured_at <= latest.measured_at, ~sql_above)
    if back_in_range is not None:
        return False
    before = _newest(ctx.db, sid, column.is_not(None), VitalSigns.measured_at <= start)
    return before is not None and above(before)


def vitals_rules(ctx: Context) -> dict[str, Condition | None]:
    v, r = ctx.latest, ctx.rules
    if v is None:
        return {}
    found = range_conditions(v, ctx.limits)
    src = dict(source_kind="vital_signs", source_id=v.id)
    if v.systolic is not None:
        found.setdefault("bp_high", None)
        bp = f"{v.systolic}/{v.diastolic}"
        if (rule := r.on("bp_single")) and (v.systolic > rule["systolic"] or v.diastolic > rule["diastolic"]):
            _better(found, Condition("bp_high", "bp_single", rule.priority,
                                     f"BP {bp} above {rule['systolic']}/{rule['diastolic']}", **src))
        rule = r.on("bp_sustained")
        if rule and (v.systolic > rule["systolic"] or v.diastolic > rule["diastolic"]):
            active = ctx.active.get("bp_high")
            sql_above = or_(VitalSigns.systolic > rule["systolic"], VitalSigns.diastolic > rule["diastolic"])
            if (active is not None and active.rule == "bp_sustained") or _sustained(
                    ctx, VitalSigns.systolic, sql_above,
                    lambda b: b.systolic > rule["systolic"] or b.diastolic > rule["diastolic"], rule["minutes"]):
                _better(found, Condition("bp_high", "bp_sustained", rule.priority,
                                         f"BP above {rule['systolic']}/{rule['diastolic']} for "
                                         f"{_fmt(rule['minutes'])} min or more (now {bp})", **src))
        rule, base = r.on("rise_over_baseline"), ctx.baseline
        if rule and base is not None and v.measured_at > base.measured_at:
            ds, dd = v.systolic - base.systolic, v.diastolic - base.diastolic

            def over(delta: int, base_value: int, part: str) -> bool:
                mm, pct = rule.get(f"{part}_mmhg"), rule.get(f"{part}_percent")
                return (mm is not None and delta > mm) or (pct is not None and delta > base_value * pct / 100)

            if over(ds, base.systolic, "systolic") or over(dd, base.diastolic, "diastolic"):
                rise = f"{ds:+d}/{dd:+d} mmHg from the pre-dose {base.systolic}/{base.diastolic}"
                _better(found, Condition("bp_high", "rise_over_baseline", rule.priority, f"BP {bp} is {rise}",
                                         **src))
                worst = found.get("bp_high")
                if worst is not None and worst.rule != "rise_over_baseline":
                    # a range or escalation limit outranks the rise, but the rise over
                    # the patient's own baseline is what the physician weighs: keep it
                    found["bp_high"] = replace(worst, message=f"{worst.message}; {rise}")
    if v.heart_rate is not None and (rule := r.on("hr_sustained")) and v.heart_rate > rule["above"]:
        active = ctx.active.get("hr_high")
        if (active is not None and active.rule == "hr_sustained") or _sustained(
                ctx, VitalSigns.heart_rate, VitalSigns.heart_rate > rule["above"],
                lambda b: b.heart_rate > rule["above"], rule["minutes"]):
            _better(found, Condition("hr_high", "hr_sustained", rule.priority,
                                     f"Heart rate above {rule['above']} /min for {_fmt(rule['minutes'])} min "
                                     f"or more (now {v.heart_rate})", **src))
    if (rule := r.on("respiratory_depression")) and (v.resp_rate is not None or v.spo2 is not None):
        found.setdefault("breathing", None)
        why = []
        if v.resp_rate is not None and v.resp_rate <= rule["resp_rate_at_or_below"]:
            why.append(f"respiratory rate {v.resp_rate} /min")
        if v.spo2 is not None and v.spo2 <= rule["spo2_at_or_below"]:
            why.append(f"SpO2 {v.spo2}%" + (" on oxygen" if v.on_oxygen else ""))
        if why:
            _better(found, Condition("breathing", "respiratory_depression", rule.priority,
                                     "Respiratory depression: " + " and ".join(why) + ". Check airway and breathing.",
                                     **src))
    if rule := r.on("news2"):
        earlier = None
        first_try = news2.score_vitals(v)
        if isinstance(first_try, news2.Incomplete) and first_try.missing == ("temperature",):
            t = _newest(ctx.db, ctx.session.id, VitalSigns.temperature.is_not(None),
                        VitalSigns.measured_at <= v.measured_at,
                        VitalSigns.measured_at >= v.measured_at - timedelta(minutes=news2_carry_minutes(ctx.protocol)))
            earlier = t.temperature if t else None
        score = news2.partial(v, earlier)
        if score.parts:  # re-evaluated on every set, so a NEWS2 alert is never left stale
            found["news2"] = news2_condition(score, rule, v.id)
            if found["news2"] is None and score.missing:
                what = ", ".join(news2.PART_LABELS[m].lower() for m in score.missing)
                found["news2"] = Condition("news2", "news2_not_assessable",
                                           rule.get("not_assessable_priority", "low"),
                                           f"NEWS2 not assessable: {what} missing (the rest scores "
                                           f"{score.total})", source_kind="vital_signs", source_id=v.id)
    return found


def news2_condition(score: news2.News2, rule, vitals_id: int | None = None) -> Condition | None:
    src = dict(source_kind="vital_signs", source_id=vitals_id)
    if score.total >= rule["emergency_total"]:
        return Condition("news2", "news2_emergency", rule["emergency_priority"],
                         f"{score.text()}: emergency response", **src)
    if score.total >= rule["urgent_total"]:
        return Condition("news2", "news2_urgent", rule["urgent_priority"],
                         f"{score.text()}: urgent review", **src)
    if score.any_three and not score.missing:
        # a partial set raises on its aggregate only: a single parameter scoring 3
        # is already that parameter's own range alert (no second alarm for it)
        which = ", ".join(news2.PART_LABELS[p].lower() for p in score.threes)
        return Condition("news2", "news2_single_three", rule["single_three_priority"],
                         f"{score.text()}: {which} scores 3 — inform the medical team", **src)
    return None


def side_effect_rules(ctx: Context) -> dict[str, Condition | None]:
    r = ctx.rules
    latest: dict[str, SideEffect] = {}
    for e in ctx.side_effects:  # in observed order: the last one of each kind wins
        latest[e.kind] = e
    found: dict[str, Condition | None] = {}
    if rule := r.on("sedation"):
        e = latest.get("sedation")
        found["sedation"] = None
        if e is not None and e.score is not None and e.score <= rule["moaas_at_or_below"]:
            s = int(e.score)
            head = "Unresponsive" if s == 0 else "Deep sedation"
            tail = ". Check airway and breathing." if s <= 1 else ""
            found["sedation"] = Condition("sedation", f"moaas_{s}", rule.priority,
                                          f"{head}: MOAA/S {s}, {MOAAS_TEXT[s]}{tail}", source_kind="side_effect",
                                          source_id=e.id)
    if rule := r.on("dissociation"):
        e = latest.get("dissociation")
        found["dissociation"] = None
        if e is not None and e.score is not None:
            if e.scale == "CADSS-6" and e.score >= rule["cadss6_at_or_above"]:
                text = f"CADSS-6 {_fmt(e.score)}/24"
            elif e.scale != "CADSS-6" and e.score >= rule["severity_at_or_above"]:
                text = f"severity {_fmt(e.score)}/4"
            else:
                text = None
            if text:
                found["dissociation"] = Condition("dissociation", "dissociation", rule.priority,
                                                  f"Severe dissociation: {text}", source_kind="side_effect",
                                                  source_id=e.id)
    if rule := r.on("nausea"):
        e = latest.get("nausea")
        found["nausea"] = None
        if e is not None and e.score is not None and e.score >= rule["at_or_above"]:
            found["nausea"] = Condition("nausea", "nausea", rule.priority, f"Nausea {_fmt(e.score)}/10",
                                        source_kind="side_effect", source_id=e.id)
    for kind, key, rname, text in (("vomiting", "vomiting", "vomiting", "Vomiting"),
                                   ("respiratory_depression", "resp_depression", "respiratory_depression",
                                    "Respiratory depression observed. Check airway and breathing.")):
        rule = r.on(rname)
        if rule:
            e = latest.get(kind)
            found[key] = None if e is None else Condition(
                key, kind, rule.priority, text + (f" ({e.text})" if e.text else "") + f" at {_local(e.observed_at)}",
                source_kind="side_effect", source_id=e.id)
    return found


def predose_rules(ctx: Context) -> dict[str, Condition | None]:
    rule = ctx.rules.on("predose_gate")
    if rule is None:
        return {}
    if ctx.first_dose_at is not None:
        return {"predose_bp": None}
    base = ctx.latest if ctx.latest is not None and ctx.latest.systolic is not None else _newest(
        ctx.db, ctx.session.id, VitalSigns.systolic.is_not(None))
    if base is None or not _gate_exceeded(base, rule):
        return {"predose_bp": None}
    decision = _predose_decision(ctx.db, ctx.session.id)
    if decision is not None and decision.items.get("proceed"):
        return {"predose_bp": None}
    msg = (f"Baseline BP {base.systolic}/{base.diastolic} above {rule['systolic']}/{rule['diastolic']}: "
           "a physician must record a pre-dose decision")
    if decision is not None:
        msg = f"Baseline BP {base.systolic}/{base.diastolic}: decided not to dose ({decision.comment})"
    return {"predose_bp": Condition("predose_bp", "predose_gate", rule.priority, msg, source_kind="vital_signs",
                                    source_id=base.id)}


def _gate_exceeded(v: VitalSigns, rule) -> bool:
    return v.systolic > rule["systolic"] or v.diastolic > rule["diastolic"]


def overdue_rules(ctx: Context) -> dict[str, Condition | None]:
    rule = ctx.rules.on("overdue")
    found: dict[str, Condition | None] = {k: None for k in ctx.active if k.startswith("overdue:")}
    if rule is None:
        return found
    close = schedule.close_monitoring_since(ctx.protocol, ctx.side_effects, ctx.last_spo2())
    for item in schedule.due_items(ctx.protocol, ctx.session.state, ctx.doses, ctx.last_bp_at(), ctx.now, close):
        if item.is_overdue(ctx.now):
            key = f"overdue:{item.key}"
            found[key] = Condition(key, "overdue", rule.priority,
                                   f"Vital signs overdue: {item.label} (due {_local(item.due_at)})")
    return found


def infusion_condition(status: dosing.InfusionStatus, planned_mg: float | None, rule) -> Condition | None:
    """The infusion has delivered the planned dose and is still running (or
    paused): it should be stopped. The delivered total grows with time, so the
    alert tick checks this too (sessions_to_evaluate), not only an entry."""
    if rule is None or planned_mg is None or status.state not in ("running", "paused"):
        return None
    if status.delivered_mg + 1e-9 < planned_mg:
        return None
    return Condition("infusion_complete", "infusion_complete", rule.priority,
                     f"Infusion has delivered {_fmt(status.delivered_mg)} mg: the planned dose is "
                     f"{_fmt(planned_mg)} mg. Stop the infusion.")


def infusion_rules(ctx: Context) -> dict[str, Condition | None]:
    if ctx.session.route != "iv":
        return {}
    rule = ctx.rules.on("infusion_complete")
    return {"infusion_complete": infusion_condition(dosing.infusion_status(ctx.doses, ctx.now),
                                                    ctx.session.planned_dose_mg, rule)}


def findings(ctx: Context) -> dict[str, Condition | None]:
    """Every rule's findings for the session now."""
    if ctx.session.state in ENDED:
        return {k: None for k in ctx.active}  # session ended: nothing is monitored any more
    out: dict[str, Condition | None] = {}
    for rule in (vitals_rules, side_effect_rules, predose_rules, overdue_rules, infusion_rules):
        out.update(rule(ctx))
    return out


# ---------------------------------------------------------------- plan and apply


@dataclass(frozen=True)
class Action:
    kind: str  # raise | worsen | update | escalate | clear | void (reading entered in error) | record
    key: str
    condition: Condition | None = None
    alert: Alert | None = None
    detail: str = ""


def _already_alerted(ctx: Context, cond: Condition) -> bool:
    """An event (vomiting) recorded while its alert was up, or before that alert was
    acknowledged away, is covered by it: it does not come back."""
    entry = ctx.db.get(SideEffect, cond.source_id)
    if entry is None:
        return False
    return ctx.db.scalar(select(Alert.id).where(
        Alert.session_id == ctx.session.id, Alert.condition_key == cond.key,
        Alert.cleared_at >= entry.entered_at).limit(1)) is not None


#: the parameters a vital-sign key is about (for late entries)
KEY_PARAMS = {
    "bp_high": ("systolic",), "bp_low": ("systolic",), "hr_high": ("heart_rate",), "hr_low": ("heart_rate",),
    "breathing": ("spo2", "resp_rate"), "rr_high": ("resp_rate",), "spo2_high": ("spo2",),
    "temp_high": ("temperature",), "temp_low": ("temperature",),
}


def plan(ctx: Context, late_vitals: Iterable[int] = ()) -> list[Action]:
    """What should change, without changing anything. `late_vitals`: sets just
    entered, which may be older than the newest set (see _late_findings)."""
    actions: list[Action] = []
    found = findings(ctx)
    records: list[Action] = []
    if ctx.session.state not in ENDED:
        records = _late_findings(ctx, late_vitals, found)
    replaced = _replaced_sources(ctx)
    for key, alert in ctx.active.items():
        if replaced.get(key) == "retracted":
            actions.append(Action("void", key, alert=alert, detail="reading entered in error"))
    for key, cond in found.items():
        alert = None if replaced.get(key) == "retracted" else ctx.active.get(key)
        if alert is not None and cond is not None and replaced.get(key) == "corrected" \
                and cond.rank <= alert_rank(alert):
            actions.append(Action("update", key, cond, alert, detail="reading corrected"))
        elif cond is None:
            if alert is not None:
                ended = ctx.session.state in ENDED
                actions.append(Action("clear", key, alert=alert,
                                      detail="session ended" if ended else "condition cleared"))
        elif cond.rule == "news2_not_assessable":
            # a partial NEWS2 below every trigger: an earlier trigger alert is no
            # longer known to hold, so it clears and says why; never raised alone
            if alert is not None and alert.rule != cond.rule:
                actions.append(Action("clear", key, alert=alert, detail=cond.message))
                actions.append(Action("raise", key, cond))
        elif alert is None:
            if key in LATCHING and _already_alerted(ctx, cond):
                continue
            actions.append(Action("raise", key, cond))
        elif cond.rank > alert_rank(alert):
            actions.append(Action("worsen", key, cond, alert, detail=cond.message))
    changing = {a.key for a in actions}
    for key, alert in ctx.active.items():
        if key in changing or alert.acknowledged_at is not None:
            continue
        if alert.priority in ctx.rules.escalate_priorities:
            since = alert.escalated_at or alert.raised_at
            if ctx.now - since >= ctx.rules.escalate_after:
                minutes = int(ctx.rules.escalate_after.total_seconds() // 60)
                actions.append(Action("escalate", key, alert=alert,
                                      detail=f"not acknowledged for {minutes} min"))
    return actions + records


def _replaced_sources(ctx: Context) -> dict[str, str]:
    """Active alerts whose quoted reading is no longer in force, by key:
    "corrected" (a correction replaced it) or "retracted" (entered in error)."""
    out: dict[str, str] = {}
    for key, alert in ctx.active.items():
        model = SOURCE_MODELS.get(alert.source_kind or "")
        if model is None or alert.source_id is None:
            continue
        newer = ctx.db.scalar(select(model).where(model.supersedes_id == alert.source_id,
                                                  model.session_id == ctx.session.id).limit(1))
        if newer is not None:
            out[key] = "retracted" if newer.retracted else "corrected"
    return out


def _late_findings(ctx: Context, vitals_ids: Iterable[int], found: dict[str, Condition | None]) -> list[Action]:
    """A set entered behind a newer one. Where it is still the newest reading of its
    parameters (e.g. a BP typed in late while the monitor sends only HR and SpO2),
    it is the patient's state and its findings count (`found` is updated). Where a
    newer reading exists, it does not change the alert state, but what was out of
    range is still recorded as an alert raised and cleared at once, for review."""
    out = []
    for vid in vitals_ids:
        v = ctx.db.get(VitalSigns, vid)
        if v is None or ctx.latest is None or v.id == ctx.latest.id or v.retracted:
            continue
        sub = vitals_rules(replace(ctx, latest=v))
        for key, cond in sub.items():
            params = KEY_PARAMS.get(key)
            if params is None:
                continue  # NEWS2 is for the newest complete set only
            newer = _newest(ctx.db, ctx.session.id, VitalSigns.measured_at > v.measured_at,
                            or_(*(getattr(VitalSigns, p).is_not(None) for p in params)))
            if newer is None:
                found[key] = cond
            elif cond is not None and key not in ctx.active and found.get(key) is None:
                msg = f"Late entry (measured {_local(v.measured_at)}): {cond.message}"
                out.append(Action("record", key, Condition(key, cond.rule, cond.priority, msg, cond.category,
                                                           cond.source_kind, cond.source_id)))
    return out


def apply(op: "Op", session: Session, actions: list[Action]) -> None:
    for a in actions:
        if a.kind in ("raise", "record"):
            c = a.condition
            row = Alert(session_id=session.id, category=c.category, condition_key=c.key, rule=c.rule,
                        priority=c.priority, message=c.message, raised_at=op.now, source_kind=c.source_kind,
                        source_id=c.source_id, cleared_at=op.now if a.kind == "record" else None)
            op.db.add(row)
            op.db.flush()
            op.audit("raise", entity="alert", entity_id=row.id, session_id=session.id, after=snapshot(row),
                     detail=c.message)
            op.changes.created.append(("alert", row.id))
        elif a.kind == "clear":
            before = snapshot(a.alert)
            a.alert.cleared_at = op.now
            op.audit("clear", entity="alert", entity_id=a.alert.id, session_id=session.id, before=before,
                     after=snapshot(a.alert), detail=a.detail)
        elif a.kind == "void":
            _close_entered_in_error(op, session, a.alert)
        elif a.kind == "update":
            alert, before = a.alert, snapshot(a.alert)
            alert.priority, alert.rule, alert.message = a.condition.priority, a.condition.rule, a.condition.message
            alert.source_kind, alert.source_id = a.condition.source_kind, a.condition.source_id
            op.audit("update", entity="alert", entity_id=alert.id, session_id=session.id, before=before,
                     after=snapshot(alert), detail=a.detail)
        elif a.kind in ("worsen", "escalate"):
            alert, before = a.alert, snapshot(a.alert)
            if a.kind == "worsen":
                alert.priority, alert.rule, alert.message = a.condition.priority, a.condition.rule, a.condition.message
                alert.source_kind, alert.source_id = a.condition.source_kind, a.condition.source_id
            else:
                alert.priority = priority_up(alert.priority)
            # a worse alert needs a fresh acknowledgement: it sounds again
            alert.escalated_at = op.now
            alert.silenced_until = None
            alert.acknowledged_at = None
            alert.acknowledged_by_id = None
            op.audit("escalate", entity="alert", entity_id=alert.id, session_id=session.id, before=before,
                     after=snapshot(alert), detail=a.detail)
    if actions:
        op.changes.mark(alerts=True, session_id=session.id)


def _close_entered_in_error(op: "Op", session: Session, alert: Alert, closure: str = ENTERED_IN_ERROR,
                            detail: str | None = None) -> None:
    """Closed, and settled for review, by whoever marked the reading in error (or
    the device set an artefact): the queue and the printed summary say
    "Closed: reading entered in error" ("Closed: device set marked artefact")."""
    before = snapshot(alert)
    alert.cleared_at = op.now
    alert.reviewed_at, alert.reviewed_by_id, alert.review_comment = op.now, op.actor.user_id, closure
    op.audit("clear", entity="alert", entity_id=alert.id, session_id=session.id, before=before,
             after=snapshot(alert), detail=detail or closure)


def after_device_verdict(op: "Op", session: Session, vital_signs_id: int, artefact: bool, by: str,
                         reason: str | None) -> int:
    """A device set marked artefact (or validated again) changes what is in force
    (ketamon.core.in_force): the active alerts quoting a set marked artefact are
    closed as "Closed: device set marked artefact" (by whom, when, why in the audit
    trail), exactly as for a reading entered in error, and the session's alerts are
    evaluated again without it (a condition still holding on other readings raises
    anew). A set validated again counts as if just entered: where it is the newest
    reading of its parameters its findings raise. Returns how many alerts closed."""
    closed = 0
    if artefact:
        quoting = op.db.scalars(select(Alert).where(
            Alert.session_id == session.id, Alert.cleared_at.is_(None), Alert.source_kind == "vital_signs",
            Alert.source_id == vital_signs_id))
        detail = f"{DEVICE_ARTEFACT} by {by} at {_local(op.now)}" + (f": {reason}" if reason else "")
        for alert in list(quoting):
            _close_entered_in_error(op, session, alert, DEVICE_ARTEFACT, detail)
            closed += 1
        if closed:
            op.changes.mark(alerts=True, session_id=session.id)
    ctx = load_context(op.db, session, op.protocol(session), op.now)
    # a set validated again is not "late": no raised-and-cleared record for it
    actions = [a for a in plan(ctx, () if artefact else (vital_signs_id,)) if a.kind != "record"]
    apply(op, session, actions)
    return closed


def evaluate(op: "Op", session: "Session") -> None:
    """Re-evaluate the session's conditions after an entry; raise/clear alerts."""
    ctx = load_context(op.db, session, op.protocol(session), op.now)
    late = [i for kind, i in op.changes.created if kind == "vital_signs"]
    apply(op, session, plan(ctx, late))


def check_dose_allowed(op: "Op", session: "Session") -> None:
    """Raise ValidationError when dosing may not start yet (pre-dose gate).

    Only the first dose is gated: once dosing has started, a high BP is an alert,
    not a reason to refuse charting what was given."""
    rule = rules_for(op.protocol(session)).on("predose_gate")
    if rule is None:
        return
    if dosing.first_dose_at(current_rows(op.db, DoseEvent, session.id, DoseEvent.at)) is not None:
        return
    base = _newest(op.db, session.id, VitalSigns.systolic.is_not(None))
    if base is None:
        if rule.get("require_baseline"):
            raise ValidationError("Record a blood pressure before the first dose (pre-dose baseline).",
                                  "baseline", None)
        return
    if not _gate_exceeded(base, rule):
        return
    decision = _predose_decision(op.db, session.id)
    limit = f"{rule['systolic']}/{rule['diastolic']}"
    if decision is None:
        raise ValidationError(
            f"Baseline BP {base.systolic}/{base.diastolic} is above {limit}. A physician must record a "
            "pre-dose decision (with a reason) before the first dose.", "predose_decision", None)
    if not decision.items.get("proceed"):
        who = op.db.get(User, decision.entered_by_id) if decision.entered_by_id else None
        raise ValidationError(
            f"{who.display_name if who else 'The physician'} decided not to dose at {_local(decision.at)}: "
            f"{decision.comment}. A new decision is needed before dosing.", "predose_decision", None)


# ---------------------------------------------------------------- clinical rules on an entry


def check_nasal_rest(op: "Op", session: Session, events: list, when: datetime,
                     reason: str | None) -> str | None:
    """The rest between nasal devices (the protocol's dose.rest_minutes; 5 minutes
    for esketamine, clinical-reference.md section 1), enforced here and not only
    by a disabled button. A device within the rest is refused with the seconds
    remaining, unless a reason is given: then it is recorded, and the caller
    raises a protocol deviation (`raise_event`). Returns the deviation text, or
    None when the rest was kept. Never silently accept an early device."""
    protocol = op.protocol(session)
    left = dosing.rest_seconds_left(events, protocol.dose.rest_minutes, when)
    if left <= 0:
        return None
    rest = _fmt(protocol.dose.rest_minutes)
    if not (reason or "").strip():
        raise ValidationError(
            f"Rest between devices: {left} s remaining ({schedule.countdown(timedelta(seconds=left))} of the "
            f"{rest}-minute rest). Wait, or give a reason to record the device now (a protocol deviation).",
            "rest_override_reason", left)
    return (f"Protocol deviation: device given {left} s before the end of the {rest}-minute rest "
            f"({reason.strip()})")


def require_physician(op: "Op", what: str, confirm_reason: str | None) -> str:
    """A dose outside the protocol needs a physician's confirmation with a reason.
    The role is the actor's as the operation checked it; a nurse (or the front
    desk) is refused with who must confirm. Returns the reason to record."""
    from ketamon.core.errors import PermissionDenied
    from ketamon.core.permissions import Permission

    if not op.actor.can(Permission.DECIDE):
        raise PermissionDenied(f"{what}: a physician must confirm it, with a reason.")
    if not (confirm_reason or "").strip():
        raise ValidationError(f"{what}: confirm it with a reason.", "confirm_reason", confirm_reason)
    return confirm_reason.strip()


def raise_event(op: "Op", session: Session, key: str, rule_name: str, message: str, *,
                source_kind: str | None = None, source_id: int | None = None) -> None:
    """Raise an event alert (e.g. a protocol deviation): it latches until
    acknowledged (LATCHING). A second event while the first is still up sounds it
    again with the newer text, never a second alert for the same key."""
    rule = rules_for(op.protocol(session)).on(rule_name)
    if rule is None:
        return
    cond = Condition(key, rule_name, rule.priority, message, source_kind=source_kind, source_id=source_id)
    active = op.db.scalar(select(Alert).where(Alert.session_id == session.id, Alert.condition_key == key,
                                              Alert.cleared_at.is_(None)))
    if active is None:
        apply(op, session, [Action("raise", key, cond)])
    else:
        apply(op, session, [Action("worsen", key, cond, active, detail=message)])


def first_esketamine_warning(db: DbSession, protocol: Protocol, session: Session) -> str | None:
    """A first esketamine session (no earlier esketamine session for this patient,
    cancelled ones aside) planned above the first-day dose: the label starts at
    56 mg; 84 mg only after that (clinical-reference.md section 1)."""
    rule = rules_for(protocol).on("dose_check")
    if rule is None or protocol.drug.lower() != "esketamine" or session.planned_dose_mg is None:
        return None
    limit = rule.get("first_esketamine_session_max_mg")
    if limit is None or session.planned_dose_mg <= limit:
        return None
    earlier = db.scalar(select(Session.id).where(
        Session.patient_id == session.patient_id, Session.id != session.id, Session.state != "cancelled",
        Session.route == "nasal", Session.created_at <= session.created_at).limit(1))
    if earlier is not None:
        return None
    return (f"First esketamine session at {_fmt(session.planned_dose_mg)} mg: the label starts at "
            f"{_fmt(limit)} mg on the first day")


