"""Alert operations: acknowledge, review, patient limits, the pre-dose decision,
the overdue timer, the clinic's sound switch, and technical problems.

The rules themselves are in ketamon.core.alerts; these are the ways people (and
the timer) act on them. Each is one audited transaction (see ops.base).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ketamon.core import alerts
from ketamon.core.alarm_sound import SOUND_KEY, sound_enabled
from ketamon.core.audit import snapshot
from ketamon.core.errors import NotFound, ValidationError
from ketamon.core.lifecycle import ENDED, LIVE
from ketamon.core.models import Alert, Assessment, ClinicSetting, LimitOverride, Patient, Session, VitalSigns
from ketamon.core import inputs
from ketamon.core.ops.base import ROW_LOCK, Changes, Op, local_hm, operation, user_label
from ketamon.core.permissions import SYSTEM, Actor, Permission
from ketamon.core.protocols import PARAMETERS, _fmt
from ketamon.core.rules import PRIORITIES, TIERS, check_limit_change, default_rules, effective_limits, rules_for
from ketamon.core.store import Store


def _silence_for(op: Op, alert: Alert) -> timedelta:
    if alert.session_id is None:
        return timedelta(minutes=default_rules()["alarms"]["acknowledge_silence_minutes"])
    s = op.db.get(Session, alert.session_id)
    return rules_for(op.protocol(s)).silence


def _alert_for_change(op: Op, alert_id: int) -> Alert:
    """The alert, locked and re-read for this transaction (its session first, as
    every charting operation locks it, so the order is always session, then alert):
    what another workstation did to it a moment ago is seen before this one acts."""
    a = op.db.get(Alert, alert_id)
    if a is None:
        raise NotFound(f"There is no alert {alert_id}.")
    if a.session_id is not None:
        op.session(a.session_id)  # refuses a signed (locked) session
    op.db.refresh(a, with_for_update=ROW_LOCK)
    return a


def _acknowledged_by(op: Op, a: Alert) -> str:
    return f"{user_label(op.db, a.acknowledged_by_id)} at {local_hm(a.acknowledged_at)}"


def _acknowledge(op: Op, a: Alert) -> None:
    """The first acknowledgement is kept (who and when is what the banner says);
    acknowledging again only pauses the tone again."""
    before = snapshot(a)
    if a.acknowledged_at is None:
        a.acknowledged_at = op.now
        a.acknowledged_by_id = op.actor.user_id
    a.silenced_until = op.now + _silence_for(op, a)
    detail = None
    if a.condition_key in alerts.LATCHING and a.cleared_at is None:
        a.cleared_at = op.now  # an event alert latches until acknowledged
        detail = "event acknowledged"
    op.audit("acknowledge", entity="alert", entity_id=a.id, session_id=a.session_id, before=before,
             after=snapshot(a), detail=detail)
    op.changes.mark(alerts=True, session_id=a.session_id)


@operation(Permission.ACKNOWLEDGE)
def acknowledge_alert(op: Op, alert_id: int | None = None, *, session_id: int | None = None) -> int:
    """Acknowledge one alert, or (with `session_id`) every active alert of the
    session that is unacknowledged or sounding again. The tone pauses for the
    protocol's silence time; the alert stays shown until its condition clears.
    Returns how many were acknowledged."""
    inputs.AcknowledgeInput.check(op, locals())
    if (alert_id is None) == (session_id is None):
        raise ValidationError("Say which alert, or which session's alerts, to acknowledge.")
    if alert_id is not None:
        a = _alert_for_change(op, alert_id)
        if a.cleared_at is not None:
            raise ValidationError("That alert has already cleared; there is nothing to acknowledge.")
        if a.acknowledged_at is not None and a.silenced_until is not None and a.silenced_until > op.now:
            # e.g. a colleague at another workstation pressed Acknowledge a moment earlier
            op.changes.message = (f"Already acknowledged by {_acknowledged_by(op, a)}; "
                                  f"audio paused until {local_hm(a.silenced_until)}")
            return 0
        todo = [a]
    else:
        op.session(session_id)
        todo = [a for a in op.db.scalars(select(Alert).where(Alert.session_id == session_id,
                                                             Alert.cleared_at.is_(None))
                                         .order_by(Alert.id).with_for_update(**ROW_LOCK))
                if a.acknowledged_at is None or a.silenced_until is None or a.silenced_until <= op.now]
    for a in todo:
        _acknowledge(op, a)
    if todo:
        minutes = int(_silence_for(op, todo[0]).total_seconds() // 60)
        n = len(todo)
        op.changes.message = f"{n} alert{'s' if n > 1 else ''} acknowledged — audio paused {minutes} min"
    else:
        op.changes.message = "No alert to acknowledge"
    return len(todo)


@operation(Permission.REVIEW)
def review_alert(op: Op, alert_id: int, comment: str) -> None:
    """The supervising physician's review of one alert, with a comment."""
    inputs.ReviewInput.check(op, locals())
    review_alerts.body(op, [alert_id], comment)


@operation(Permission.REVIEW)
def review_alerts(op: Op, alert_ids: list[int], comment: str) -> int:
    """Review several alerts with one comment (e.g. a run of overdue reminders)."""
    inputs.ReviewManyInput.check(op, locals())
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("Write a comment for the review.", "comment", comment)
    if not alert_ids:
        raise ValidationError("Choose the alert(s) to review.")
    for alert_id in alert_ids:
        a = _alert_for_change(op, alert_id)
        if a.reviewed_at is not None:
            raise ValidationError(f"Alert {a.id} was already reviewed by {user_label(op.db, a.reviewed_by_id)} "
                                  f"at {local_hm(a.reviewed_at)}.")
        before = snapshot(a)
        a.reviewed_at, a.reviewed_by_id, a.review_comment = op.now, op.actor.user_id, comment
        op.audit("review", entity="alert", entity_id=a.id, session_id=a.session_id, before=before,
                 after=snapshot(a), detail=comment)
        op.changes.mark(alerts=True, session_id=a.session_id)
    n = len(alert_ids)
    op.changes.message = f"{n} alert{'s' if n > 1 else ''} reviewed"
    return n


# ---------------------------------------------------------------- limits


@operation(Permission.SET_LIMITS)
def set_patient_limits(op: Op, patient_id: int, parameter: str, tier: str, *, low: float | None,
                       high: float | None, reason: str, session_id: int | None = None) -> int:
    """A physician's limits for one parameter and tier of one patient, with a reason.
    Both limits empty returns the tier to the protocol's. The newest row is in force
    for every session of the patient; live sessions are re-evaluated at once."""
    inputs.PatientLimitsInput.check(op, locals())
    return _set_limits(op, patient_id, [(parameter, tier, low, high)], reason, session_id)[0]


@operation(Permission.SET_LIMITS)
def set_patient_limit_changes(op: Op, patient_id: int, changes: list[tuple[str, str, float | None, float | None]],
                              *, reason: str, session_id: int | None = None) -> list[int]:
    """Several (parameter, tier, low, high) changes with one reason, all or none."""
    inputs.PatientLimitChangesInput.check(op, locals())
    return _set_limits(op, patient_id, changes, reason, session_id)


def _set_limits(op: Op, patient_id: int, changes, reason: str, session_id: int | None) -> list[int]:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the limits change.", "reason", reason)
    if not changes:
        raise ValidationError("No limit was changed.")
    patient = op.db.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"There is no patient {patient_id}.")
    if session_id is not None:
        s = op.session(session_id, for_change=False)
        if s.patient_id != patient_id:
            raise ValidationError("That session belongs to another patient.", "session_id", session_id)
        protocols = [op.protocol(s)]
    else:
        protocols = op.store.protocols.current()
    history = alerts.limit_changes(op.db, patient_id)
    ids, said = [], []
    for parameter, tier, low, high in changes:
        if parameter not in PARAMETERS:
            raise ValidationError(f"Unknown parameter {parameter!r}.", "parameter", parameter)
        if tier not in TIERS:
            raise ValidationError("The tier must be critical or abnormal.", "tier", tier)
        before = None
        for protocol in protocols:
            if parameter not in protocol.ranges:
                continue
            current = effective_limits(protocol, history)
            problem = check_limit_change(protocol, current, parameter, tier, low, high)
            if problem:
                raise ValidationError(problem, parameter, (low, high))
            band = getattr(current.ranges[parameter], tier)
            before = before or {"low": band.low, "high": band.high}
        row = LimitOverride(patient_id=patient_id, parameter=parameter, tier=tier, low=low, high=high,
                            reason=reason, set_at=op.now, set_by_id=op.actor.user_id)
        op.db.add(row)
        op.db.flush()
        history.append(alerts.LimitChange(parameter, tier, low, high, reason, op.now))
        op.audit("set_limits", entity="limit_override", entity_id=row.id, before=before, after=snapshot(row),
                 session_id=session_id, detail=reason)
        op.changes.created.append(("limit_override", row.id))
        ids.append(row.id)
        label, unit = PARAMETERS[parameter]
        if low is None and high is None:
            said.append(f"{label} {tier} limits back to the protocol's")
        else:
            said.append(f"{label} {tier} limits set to {_fmt(low) if low is not None else '—'}–"
                        f"{_fmt(high) if high is not None else '—'} {unit}")
    op.changes.mark(limits=True, patient_id=patient_id)
    op.changes.message = (said[0] if len(said) == 1 else f"{len(said)} limits changed") + \
        f" for {patient.display_name}"
    for s in op.db.scalars(select(Session).where(Session.patient_id == patient_id, Session.state.in_(LIVE))
                           .order_by(Session.id).with_for_update(**ROW_LOCK)):
        op.changes.mark(limits=True, session_id=s.id)
        alerts.evaluate(op, s)
    return ids


# ---------------------------------------------------------------- pre-dose decision


@operation(Permission.DECIDE)
def record_predose_decision(op: Op, session_id: int, *, proceed: bool, reason: str) -> int:
    """The physician's decision on dosing despite a high baseline BP (or not to dose),
    with a reason. Recorded as an Assessment(kind="predose_decision")."""
    inputs.PredoseDecisionInput.check(op, locals())
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give the reason for the decision.", "reason", reason)
    s = op.session(session_id)
    if s.state in ENDED:
        raise ValidationError("This session has ended.", "state", s.state)
    ctx = alerts.load_context(op.db, s, op.protocol(s), op.now)
    if ctx.first_dose_at is not None:
        raise ValidationError("Dosing has already started; a pre-dose decision no longer applies.")
    base = alerts._newest(op.db, s.id, VitalSigns.systolic.is_not(None))
    items = {"proceed": bool(proceed)}
    if base is not None:
        items.update(baseline=f"{base.systolic}/{base.diastolic}", baseline_vitals_id=base.id)
    a = Assessment(session_id=s.id, at=op.now, entered_at=op.now, entered_by_id=op.actor.user_id,
                   kind="predose_decision", items=items, comment=reason)
    op.db.add(a)
    op.db.flush()
    op.audit("create", entity="assessment", entity_id=a.id, session_id=s.id, after=snapshot(a), detail=reason)
    op.changes.mark(assessments=True, session_id=s.id)
    op.changes.created.append(("assessment", a.id))
    op.changes.message = "Decision recorded: " + ("proceed with dosing" if proceed else "do not dose")
    alerts.evaluate(op, s)
    return a.id


# ---------------------------------------------------------------- the timer


@operation(None, system=True)
def evaluate_sessions(op: Op, session_ids: list[int]) -> int:
    """Re-evaluate these sessions now (overdue vitals, escalation, ended sessions).
    Called by `tick`; safe to call any time: a persisting condition is not raised twice."""
    inputs.EvaluateInput.check(op, locals())
    n = 0
    start = len(op._audit)
    for sid in sorted(session_ids):  # locked in id order, as every multi-session operation does
        s = op.db.get(Session, sid, with_for_update=ROW_LOCK, populate_existing=True)
        if s is None or s.locked:
            continue
        before = len(op._audit)
        alerts.evaluate(op, s)
        n += len(op._audit) > before
    _escalate_unattached(op)
    if n:
        op.changes.message = _what_happened(op._audit[start:])
    return n


def _what_happened(entries) -> str:
    """The timer's notice says what it did ("Alert raised: Vital signs overdue …"),
    never a calm "Alerts updated" over a new alarm."""
    def said(action: str) -> list[str]:
        return [e.detail or "" for e in entries if e.action == action and e.entity == "alert"]

    raised, escalated, cleared = said("raise"), said("escalate"), said("clear")
    parts = []
    if raised:
        parts.append(f"Alert raised: {raised[0]}" if len(raised) == 1 else f"{len(raised)} alerts raised: "
                     + "; ".join(raised))
    if escalated:
        parts.append(f"{len(escalated)} alert{'s' * (len(escalated) > 1)} escalated (not acknowledged)")
    if cleared:
        parts.append(f"{len(cleared)} alert{'s' * (len(cleared) > 1)} cleared")
    return " · ".join(parts) or "Alerts re-evaluated"


#: the timer looks after sessions scheduled this recently; an older session left
#: open (never discharged) is an unfinished record, not a patient in the chair, and
#: must not start raising "overdue" alerts days later (its active alerts still clear)
TICK_HORIZON = timedelta(hours=24)


def _live_session_ids(db, now) -> list[int]:
    """Today's live sessions, and any session whose alerts are still active (to
    escalate or clear them)."""
    live = select(Session.id).where(Session.state.in_(LIVE),
                                    Session.scheduled_at >= now - TICK_HORIZON)
    with_alerts = (select(Alert.session_id).join(Session, Session.id == Alert.session_id)
                   .where(Alert.cleared_at.is_(None), Session.state != "signed"))
    return sorted(set(db.scalars(live)) | set(db.scalars(with_alerts)))


def _unattached_due(db, now) -> list[Alert]:
    alarms = default_rules()["alarms"]
    after = timedelta(minutes=alarms["escalate_unacknowledged_minutes"])
    # the priority is checked here, not in SQL: with it in the WHERE, SQLite without
    # statistics walked ix_alerts_priority_raised over every medium alert ever raised
    # (280 ms a tick at 100,000 sessions) instead of ix_alerts_active's few active ones
    rows = db.scalars(select(Alert).where(Alert.session_id.is_(None), Alert.cleared_at.is_(None),
                                          Alert.acknowledged_at.is_(None)))
    return [a for a in rows if a.priority in alarms["escalate_priorities"]
            and now - (a.escalated_at or a.raised_at) >= after]


def _escalate_unattached(op: Op) -> None:
    for a in _unattached_due(op.db, op.now):
        alerts.apply(op, _NoSession(), [alerts.Action("escalate", a.condition_key, alert=a,
                                                      detail="not acknowledged")])


class _NoSession:
    id = None


def tick(store: Store, actor: Actor = SYSTEM) -> Changes:
    """Called every few seconds by the GUI's timer (and by tests after moving the
    clock): raises overdue alerts on time, escalates unacknowledged ones, clears
    those of ended sessions. Reads first and writes only when something changes.

    Runs as the system by default, so the audit says the system raised the alert,
    and so it keeps working while the screen is locked."""
    now = store.clock.now()
    due: list[int] = []
    with store.read() as db:
        for sid in alerts.sessions_to_evaluate(db, store, _live_session_ids(db, now), now):
            s = db.get(Session, sid)
            ctx = alerts.load_context(db, s, store.protocols.get(s.protocol_id, s.protocol_version), now)
            if alerts.plan(ctx):
                due.append(sid)
        unattached = bool(_unattached_due(db, now))
    if not due and not unattached:
        return Changes()
    return evaluate_sessions(store, actor, due)


# ---------------------------------------------------------------- sound


@operation(Permission.MANAGE_PROTOCOLS)
def set_alarm_sound(op: Op, enabled: bool, reason: str) -> int:
    """Switch the clinic's alarm tones off or on, with a reason. Alerts are still
    raised and shown; the screens show "Audio off" while tones are off."""
    inputs.AlarmSoundInput.check(op, locals())
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the alarm sound changes.", "reason", reason)
    was, _row = sound_enabled(op.db)
    row = ClinicSetting(key=SOUND_KEY, value={"enabled": bool(enabled)}, reason=reason, set_at=op.now,
                        set_by_id=op.actor.user_id)
    op.db.add(row)
    op.db.flush()
    op.audit("setting", entity="clinic_setting", entity_id=row.id, before={"enabled": was},
             after={"enabled": bool(enabled)}, detail=reason)
    op.changes.mark(settings=True)
    op.changes.message = "Alarm sound on" if enabled else "Alarm sound OFF for the clinic"
    return row.id


# ---------------------------------------------------------------- technical problems


@operation(None, system=True)
def report_technical_problem(op: Op, key: str, message: str, *, priority: str = "medium",
                             session_id: int | None = None, replace_message: bool = False) -> int | None:
    """A technical alert (device feed lost, printer offline…), kept apart from the
    patient's alerts. Raised once while the problem persists; returns its id.
    `replace_message`: an active one takes the new text (a count of refused
    messages kept current), audited, without sounding again."""
    inputs.TechnicalProblemInput.check(op, locals())
    if priority not in PRIORITIES:
        raise ValidationError(f"Priority must be one of {', '.join(PRIORITIES)}.", "priority", priority)
    ckey = f"tech:{key}"
    q = select(Alert).where(Alert.condition_key == ckey, Alert.cleared_at.is_(None),
                            Alert.session_id.is_(None) if session_id is None else Alert.session_id == session_id)
    existing = op.db.scalar(q)
    if existing is not None:
        if replace_message and existing.message != message:
            target = _NoSession() if existing.session_id is None else op.db.get(Session, existing.session_id)
            alerts.apply(op, target, [alerts.Action("update", ckey, alerts.Condition(
                ckey, existing.rule, existing.priority, message, category="technical"), existing,
                detail="count of refused messages")])
        return existing.id
    if session_id is not None:
        op.session(session_id)
    target = _NoSession() if session_id is None else op.db.get(Session, session_id)
    alerts.apply(op, target, [alerts.Action("raise", ckey, alerts.Condition(
        ckey, "technical", priority, message, category="technical"))])
    return op.db.scalar(q).id


@operation(Permission.CHART, system=True)
def technical_problem_resolved(op: Op, key: str, *, session_id: int | None = None) -> int:
    """Clear a technical alarm: the feed itself (as the system) when it is back, or
    someone who charts and has checked the device. Never the front desk: a cleared
    alarm is a monitored patient's safety net gone."""
    inputs.TechnicalResolvedInput.check(op, locals())
    ckey = f"tech:{key}"
    rows = list(op.db.scalars(select(Alert).where(
        Alert.condition_key == ckey, Alert.cleared_at.is_(None),
        Alert.session_id.is_(None) if session_id is None else Alert.session_id == session_id)))
    for a in rows:
        alerts.apply(op, _NoSession() if a.session_id is None else op.db.get(Session, a.session_id),
                     [alerts.Action("clear", ckey, alert=a, detail="problem resolved")])
    return len(rows)

