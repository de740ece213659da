"""What people do with alerts: acknowledge (tone pauses 2 min), escalation when
nobody does, the physician's review and limits, the pre-dose decision, the
clinic's sound switch, the overdue timer (driven by the FakeClock, never by
sleeping), and who may do what."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from ketamon.core import alert_views, alerts, ops
from ketamon.core.errors import NotFound, PermissionDenied, SessionLocked, ValidationError
from ketamon.core.models import Alert, AuditEntry, Session
from ketamon.core.permissions import SYSTEM


def active(store, sid):
    return {a.key: (a.priority, a.rule) for a in alert_views.session_alerts(store, sid) if a.active}


def audit_rows(store, action=None):
    with store.read() as db:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            q = q.where(AuditEntry.action == action)
        return list(db.scalars(q))


@pytest.fixture
def doctor(actors):
    return actors["physician"]


@pytest.fixture
def high_bp(store, nurse, infusion_session):
    """An IV session with one high alert (BP 186/92)."""
    ops.record_vitals(store, nurse, infusion_session, systolic=186, diastolic=92)
    (a,) = alert_views.session_alerts(store, infusion_session)
    return a


# ---------------------------------------------------------------- acknowledge and sound


def test_acknowledging_pauses_the_tone_for_two_minutes_and_the_alert_stays_shown(store, nurse, infusion_session,
                                                                                  high_bp, clock):
    assert alert_views.alarm_status(store).tone == "high"
    changes = ops.acknowledge_alert(store, nurse, session_id=infusion_session)
    assert changes.result == 1 and changes.message == "1 alert acknowledged — audio paused 2 min"
    (a,) = alert_views.session_alerts(store, infusion_session)
    assert a.active and a.acknowledged_at == clock.now() and a.acknowledged_by == "Sam Carter RN"
    status = alert_views.alarm_status(store)
    assert status.tone is None and status.audio == "Audio paused 2 min 00 s"
    assert status.highest.id == a.id  # still shown
    clock.advance(minutes=1, seconds=30)
    assert alert_views.alarm_status(store).audio == "Audio paused 30 s"
    clock.advance(seconds=30)
    status = alert_views.alarm_status(store)  # condition persists: the tone comes back
    assert status.tone == "high" and status.audio == ""
    (row,) = [r for r in audit_rows(store, "acknowledge")]
    assert row.entity == "alert" and row.entity_id == a.id and row.username == "nurse"


def test_the_visual_indication_clears_with_the_condition_and_the_alert_stays_in_the_record(
        store, nurse, infusion_session, high_bp, clock):
    clock.advance(minutes=3)
    ops.record_vitals(store, nurse, infusion_session, systolic=130, diastolic=80)
    status = alert_views.alarm_status(store)
    assert status.active == [] and status.tone is None
    (a,) = alert_views.session_alerts(store, infusion_session)
    assert a.cleared_at == clock.now() and a.acknowledged_at is None and a.reviewed_at is None


def test_left_unacknowledged_a_medium_alert_escalates_and_sounds_as_high(store, nurse, infusion_session, clock):
    ops.record_vitals(store, nurse, infusion_session, systolic=165, diastolic=85)
    assert alert_views.alarm_status(store).tone == "medium"
    clock.advance(minutes=4, seconds=59)
    ops.tick(store)
    assert active(store, infusion_session) == {"bp_high": ("medium", "range_abnormal")}
    clock.advance(seconds=1)
    ops.tick(store)
    (a,) = alert_views.session_alerts(store, infusion_session)
    assert a.priority == "high" and a.escalated_at == clock.now()
    assert alert_views.alarm_status(store).tone == "high"
    (row,) = audit_rows(store, "escalate")
    assert row.username == "system" and row.detail == "not acknowledged for 5 min"
    clock.advance(minutes=10)
    ops.tick(store)  # high is the top: no further change
    assert len(audit_rows(store, "escalate")) == 1


def test_an_acknowledged_alert_does_not_escalate(store, nurse, infusion_session, clock):
    ops.record_vitals(store, nurse, infusion_session, systolic=165, diastolic=85)
    ops.acknowledge_alert(store, nurse, session_id=infusion_session)
    clock.advance(minutes=30)
    ops.tick(store)
    assert active(store, infusion_session) == {"bp_high": ("medium", "range_abnormal")}


def test_acknowledging_again_only_touches_what_needs_it(store, nurse, infusion_session, high_bp, clock):
    ops.acknowledge_alert(store, nurse, session_id=infusion_session)
    assert ops.acknowledge_alert(store, nurse, session_id=infusion_session).result == 0  # still paused
    clock.advance(minutes=2)
    assert ops.acknowledge_alert(store, nurse, high_bp.id).result == 1  # sounding again
    with pytest.raises(ValidationError, match="Say which alert"):
        ops.acknowledge_alert(store, nurse)


def test_a_worse_condition_needs_a_new_acknowledgement(store, nurse, infusion_session, clock):
    ops.record_vitals(store, nurse, infusion_session, systolic=165, diastolic=85)
    ops.acknowledge_alert(store, nurse, session_id=infusion_session)
    clock.advance(seconds=30)
    ops.record_vitals(store, nurse, infusion_session, systolic=205, diastolic=85)
    (a,) = alert_views.session_alerts(store, infusion_session)
    assert a.priority == "high" and a.acknowledged_at is None and a.silenced_until is None
    assert alert_views.alarm_status(store).tone == "high"


def test_the_clinic_can_switch_the_tone_off_and_the_screen_says_so(store, nurse, actors, high_bp):
    admin = actors["admin"]
    with pytest.raises(PermissionDenied):
        ops.set_alarm_sound(store, nurse, False, reason="too loud")
    with pytest.raises(ValidationError, match="why"):
        ops.set_alarm_sound(store, admin, False, reason=" ")
    ops.set_alarm_sound(store, admin, False, reason="quiet room; visual alarms only (policy 12)")
    status = alert_views.alarm_status(store)
    assert status.tone is None and status.audio == "Audio off" and status.highest is not None
    ops.set_alarm_sound(store, admin, True, reason="policy reverted")
    assert alert_views.alarm_status(store).tone == "high"
    rows = audit_rows(store, "setting")
    assert [(r.before, r.after) for r in rows] == [({"enabled": True}, {"enabled": False}),
                                                   ({"enabled": False}, {"enabled": True})]


def test_a_charts_alert_parts_are_read_together_as_each_is_read_alone(store, nurse, actors, high_bp,
                                                                        infusion_session):
    """What the chart's banner, list, limit bands and tone show, read in one
    transaction, is what the three reads alone give, the clinic's switch included."""
    from sqlalchemy import event

    ops.set_alarm_sound(store, actors["admin"], False, reason="quiet room")
    begins = []

    def count(*_args):
        begins.append(1)

    event.listen(store.engine, "begin", count)
    try:
        parts = alert_views.session_alert_parts(store, infusion_session)
    finally:
        event.remove(store.engine, "begin", count)
    assert len(begins) == 1, "one read transaction"
    assert parts.rows == alert_views.session_alerts(store, infusion_session)
    assert [r.id for r in parts.rows] == [high_bp.id]
    assert parts.limits == alert_views.session_limits(store, infusion_session)
    assert parts.sound_on is False


def test_technical_alerts_are_kept_apart_and_raised_once(store, nurse, infusion_session):
    first = ops.report_technical_problem(store, SYSTEM, "feed", "Monitor feed lost", session_id=infusion_session)
    again = ops.report_technical_problem(store, SYSTEM, "feed", "Monitor feed lost", session_id=infusion_session)
    assert first.result == again.result
    (a,) = alert_views.session_alerts(store, infusion_session)
    assert a.category == "technical" and a.priority == "medium"
    ops.technical_problem_resolved(store, SYSTEM, "feed", session_id=infusion_session)
    assert active(store, infusion_session) == {}


# ---------------------------------------------------------------- overdue, on time, without anyone typing


@pytest.fixture
def dosed(store, nurse, esketamine_session, ready_for_dose, clock):
    ready_for_dose(esketamine_session)
    clock.advance(minutes=2)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    first = clock.now()
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    return esketamine_session, first


def test_the_40_minute_set_raises_an_overdue_alert_on_time_and_entering_it_clears(store, nurse, dosed, clock):
    sid, first = dosed
    clock.set(first + timedelta(minutes=42) - timedelta(seconds=1))
    assert not ops.tick(store)
    assert active(store, sid) == {}
    clock.set(first + timedelta(minutes=42))  # due at 40, grace 2
    changes = ops.tick(store)
    assert changes.sessions == {sid} and changes.alerts
    (a,) = alert_views.session_alerts(store, sid)
    assert (a.key, a.priority, a.raised_at) == ("overdue:first_dose+40", "medium", clock.now())
    assert a.message.startswith("Vital signs overdue: 40 min after first device (due ")
    assert audit_rows(store, "raise")[-1].username == "system"
    clock.advance(minutes=1)
    ops.tick(store)
    assert len(alert_views.session_alerts(store, sid)) == 1  # not raised again
    ops.record_vitals(store, nurse, sid, systolic=134, diastolic=84, heart_rate=78)
    (a,) = alert_views.session_alerts(store, sid)
    assert a.cleared_at == clock.now()


def test_the_timer_writes_nothing_while_nothing_changes(store, nurse, dosed, clock):
    before = len(audit_rows(store))
    for _ in range(10):
        clock.advance(seconds=5)
        assert not ops.tick(store)
    assert len(audit_rows(store)) == before


def test_infusion_overdue_every_10_minutes_rearms_after_each_set(store, nurse, infusion_session, ready_for_dose,
                                                                 clock):
    ready_for_dose(infusion_session)
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=45)
    start = clock.now()
    clock.set(start + timedelta(minutes=12))
    ops.tick(store)
    assert active(store, infusion_session) == {"overdue:during_infusion": ("medium", "overdue")}
    ops.record_vitals(store, nurse, infusion_session, systolic=128, diastolic=80)
    assert active(store, infusion_session) == {}
    clock.advance(minutes=11, seconds=59)
    ops.tick(store)
    assert active(store, infusion_session) == {}
    clock.advance(seconds=1)
    ops.tick(store)
    assert active(store, infusion_session) == {"overdue:during_infusion": ("medium", "overdue")}
    assert len(alert_views.session_alerts(store, infusion_session)) == 2


def test_when_the_session_ends_its_alerts_clear(store, nurse, dosed, clock):
    sid, first = dosed
    ops.record_vitals(store, nurse, sid, systolic=186, diastolic=92)
    ops.stop_early(store, nurse, sid, reason="patient asked to stop")
    ops.tick(store)
    (a,) = alert_views.session_alerts(store, sid)
    assert a.cleared_at is not None
    assert audit_rows(store, "clear")[-1].detail == "session ended"
    clock.advance(hours=3)
    assert not ops.tick(store)  # nothing is due for a stopped session


# ---------------------------------------------------------------- review


def test_the_physician_reviews_with_a_comment_and_the_queue_empties(store, nurse, doctor, infusion_session,
                                                                    high_bp, clock):
    with pytest.raises(PermissionDenied, match="may not review alerts"):
        ops.review_alert(store, nurse, high_bp.id, "seen")
    assert audit_rows(store, "refused")[-1].detail.startswith("review_alert")
    with pytest.raises(ValidationError, match="comment"):
        ops.review_alert(store, doctor, high_bp.id, "  ")
    assert [a.id for a in alert_views.review_queue(store)] == [high_bp.id]
    ops.review_alert(store, doctor, high_bp.id, "Repeat BP in 5 min; amlodipine taken this morning")
    assert alert_views.review_queue(store) == []
    (a,) = alert_views.review_queue(store, unreviewed_only=False)
    assert a.reviewed_by == "Dr Priya Shah" and a.review_comment.startswith("Repeat BP")
    assert a.reviewed_at == clock.now() and a.active  # reviewing does not clear the condition
    with pytest.raises(ValidationError, match="already reviewed"):
        ops.review_alert(store, doctor, high_bp.id, "again")
    with pytest.raises(NotFound):
        ops.review_alert(store, doctor, 999, "x")


def test_the_queue_lists_across_sessions_by_priority_and_filters(store, nurse, doctor, esketamine_session,
                                                                 infusion_session, clock):
    ops.record_vitals(store, nurse, infusion_session, systolic=165, diastolic=85)  # medium
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, esketamine_session, "nausea", score=8)  # low
    clock.advance(minutes=1)
    ops.record_side_effect(store, nurse, esketamine_session, "sedation", score=1)  # high
    queue = alert_views.review_queue(store)
    assert [(a.session_id, a.priority) for a in queue] == [
        (esketamine_session, "high"), (infusion_session, "medium"), (esketamine_session, "low")]
    assert queue[0].patient_name == "NGUYEN, Lan" and queue[0].mrn == "MRN-1"
    assert queue[0].protocol_name == "Esketamine nasal spray 56 mg"
    assert [a.priority for a in alert_views.review_queue(store, priority="medium")] == ["medium"]
    assert {a.session_id for a in alert_views.review_queue(store, session_id=esketamine_session)} == {esketamine_session}
    ops.record_side_effect(store, nurse, esketamine_session, "nausea", score=2)  # nausea clears
    assert [a.priority for a in alert_views.review_queue(store, open_only=True)] == ["high", "medium"]
    n = ops.review_alerts(store, doctor, [a.id for a in queue[1:]], "reviewed at the round").result
    assert n == 2 and [a.priority for a in alert_views.review_queue(store)] == ["high"]


def test_alert_context_shows_the_readings_around_it(store, nurse, infusion_session, clock):
    for minute, sbp in ((0, 130), (10, 150), (20, 186), (30, 170), (70, 128)):
        clock.set(clock.now().replace(hour=9, minute=0) + timedelta(minutes=minute))
        ops.record_vitals(store, nurse, infusion_session, systolic=sbp, diastolic=85)
    alert = [a for a in alert_views.session_alerts(store, infusion_session) if a.rule == "range_critical"][0]
    ctx = alert_views.alert_context(store, alert.id, minutes=30)
    # raised at 09:20, cleared at 10:10 (back to 128): the window runs 08:50–10:40
    assert [v.systolic for v in ctx.vitals] == [130, 150, 186, 170, 128]
    assert ctx.source.systolic == 186
    narrow = alert_views.alert_context(store, alert.id, minutes=5)  # 09:15–10:15
    assert [v.systolic for v in narrow.vitals] == [186, 170, 128]
    assert narrow.window == (alert.raised_at - timedelta(minutes=5), narrow.alert.cleared_at + timedelta(minutes=5))


def test_nothing_changes_on_a_signed_session(store, nurse, doctor, infusion_session, high_bp):
    with store.transaction() as db:
        db.execute(update(Session).where(Session.id == infusion_session).values(state="signed"))
    with pytest.raises(SessionLocked):
        ops.acknowledge_alert(store, nurse, high_bp.id)
    with pytest.raises(SessionLocked):
        ops.review_alert(store, doctor, high_bp.id, "late review")


# ---------------------------------------------------------------- limits


def test_a_physician_sets_a_patients_limits_with_a_reason_and_they_apply_at_once(
        store, nurse, doctor, patient_id, infusion_session, clock):
    ops.record_vitals(store, nurse, infusion_session, systolic=165, diastolic=85)
    assert active(store, infusion_session) == {"bp_high": ("medium", "range_abnormal")}
    with pytest.raises(PermissionDenied, match="may not change a patient's limits"):
        ops.set_patient_limits(store, nurse, patient_id, "systolic", "abnormal", low=90, high=170, reason="x")
    with pytest.raises(ValidationError, match="why"):
        ops.set_patient_limits(store, doctor, patient_id, "systolic", "abnormal", low=90, high=170, reason="")
    changes = ops.set_patient_limits(store, doctor, patient_id, "systolic", "abnormal", low=90, high=170,
                                     reason="Known hypertension, usual SBP 160s")
    assert changes.message == "Systolic BP abnormal limits set to 90–170 mmHg for NGUYEN, Lan"
    assert active(store, infusion_session) == {}  # re-evaluated with the new limits
    limits = alert_views.session_limits(store, infusion_session)
    assert limits.ranges["systolic"].abnormal.high == 170
    assert limits.overridden[("systolic", "abnormal")].reason == "Known hypertension, usual SBP 160s"
    assert limits.overridden[("systolic", "abnormal")].set_by == "Dr Priya Shah"
    clock.advance(minutes=1)
    ops.record_vitals(store, nurse, infusion_session, systolic=171, diastolic=85)
    (a,) = [x for x in alert_views.session_alerts(store, infusion_session) if x.active]
    assert a.message.endswith("above the abnormal limit 170 (patient's limit)")
    row = audit_rows(store, "set_limits")[-1]
    assert row.before == {"low": 90, "high": 160} and row.after["high"] == 170
    ops.set_patient_limits(store, doctor, patient_id, "systolic", "abnormal", low=None, high=None,
                           reason="back to protocol")
    assert alert_views.session_limits(store, infusion_session).ranges["systolic"].abnormal.high == 160
    assert alert_views.session_limits(store, infusion_session).overridden == {}
    assert len(alert_views.patient_limit_history(store, patient_id)) == 2  # append-only


@pytest.mark.parametrize("tier, low, high, words", [
    ("abnormal", 90, 190, "cannot be above the critical upper limit (180)"),
    ("critical", 70, 150, "cannot be above the critical upper limit (150)"),
    ("abnormal", 170, 150, "must be below"),
    ("critical", 30, 180, "outside what is possible (40–300 mmHg)"),
    ("severe", 90, 150, "critical or abnormal"),
])
def test_impossible_limits_are_refused_with_a_reason(store, doctor, patient_id, tier, low, high, words):
    with pytest.raises(ValidationError) as err:
        ops.set_patient_limits(store, doctor, patient_id, "systolic", tier, low=low, high=high, reason="r")
    assert words in str(err.value)
    assert alert_views.patient_limit_history(store, patient_id) == []


# ---------------------------------------------------------------- pre-dose gate


def test_esketamine_high_baseline_needs_a_physicians_decision_before_dosing(store, nurse, doctor,
                                                                            esketamine_session, ready_for_dose,
                                                                            clock):
    ready_for_dose(esketamine_session, baseline=False)
    ops.record_vitals(store, nurse, esketamine_session, systolic=141, diastolic=85, heart_rate=72, spo2=98,
                      resp_rate=14)
    assert active(store, esketamine_session) == {"predose_bp": ("medium", "predose_gate")}
    with pytest.raises(ValidationError, match=r"Baseline BP 141/85 is above 140/90\. A physician must record"):
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    with pytest.raises(PermissionDenied, match="may not record a pre-dose decision"):
        ops.record_predose_decision(store, nurse, esketamine_session, proceed=True, reason="ok")
    ops.record_predose_decision(store, doctor, esketamine_session, proceed=False,
                                reason="repeat BP after 15 min rest")
    with pytest.raises(ValidationError, match="Dr Priya Shah decided not to dose at .*repeat BP after 15 min rest"):
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    ops.record_predose_decision(store, doctor, esketamine_session, proceed=True,
                                reason="white-coat pattern, usual 135/85; proceed with 15-min BP")
    assert active(store, esketamine_session) == {}
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    with pytest.raises(ValidationError, match="already started"):
        ops.record_predose_decision(store, doctor, esketamine_session, proceed=True, reason="again")


@pytest.mark.parametrize("bp, gated", [((140, 90), False), ((141, 90), True), ((140, 91), True)])
def test_the_gate_is_above_140_or_above_90(store, nurse, esketamine_session, ready_for_dose, bp, gated):
    ready_for_dose(esketamine_session, baseline=False)
    ops.record_vitals(store, nurse, esketamine_session, systolic=bp[0], diastolic=bp[1], heart_rate=72, spo2=98,
                      resp_rate=14)
    if gated:
        with pytest.raises(ValidationError, match="pre-dose decision"):
            ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    else:
        ops.record_dose(store, nurse, esketamine_session, "nasal_device")


def test_a_repeat_baseline_back_under_140_90_lifts_the_gate(store, nurse, esketamine_session, ready_for_dose,
                                                            clock):
    ready_for_dose(esketamine_session, baseline=False)
    ops.record_vitals(store, nurse, esketamine_session, systolic=150, diastolic=92, heart_rate=72, spo2=98,
                      resp_rate=14)
    clock.advance(minutes=15)
    ops.record_vitals(store, nurse, esketamine_session, systolic=136, diastolic=86, heart_rate=70, spo2=98,
                      resp_rate=14)
    assert active(store, esketamine_session) == {}
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")


def test_iv_ketamine_has_no_predose_gate(store, nurse, infusion_session, ready_for_dose):
    ready_for_dose(infusion_session, baseline=False)
    ops.record_vitals(store, nurse, infusion_session, systolic=150, diastolic=95, heart_rate=72, spo2=98,
                      resp_rate=14)
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=45)
    assert "predose_bp" not in active(store, infusion_session)


def test_staff_cannot_acknowledge(store, actors, high_bp):
    with pytest.raises(PermissionDenied):
        ops.acknowledge_alert(store, actors["staff"], high_bp.id)
    with store.read() as db:
        assert db.scalar(select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_not(None))) == 0


def test_a_session_left_open_since_yesterday_does_not_start_alarming(store, nurse, dosed, clock):
    sid, first = dosed
    # the 40-minute set was never charted (this one is from 5 min after the first device) ...
    ops.record_vitals(store, nurse, sid, systolic=130, diastolic=80, heart_rate=70)
    clock.set(first + timedelta(hours=30))  # ... and nobody discharged the session; the app starts the next day
    assert not ops.tick(store)
    assert active(store, sid) == {}
