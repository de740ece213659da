"""Nothing stale (issue 10, point 4): an open alert never outlives the reading it
quotes. A correction gives it the corrected text; a reading entered in error
closes it as such, out of the review queue, and prints so."""
from __future__ import annotations

from ketamon.core import alert_views, alerts, ops
from ketamon.core.report import build_report


def open_alerts(store, sid):
    return [a for a in alert_views.session_alerts(store, sid) if a.active]


def test_correcting_nausea_9_to_8_updates_the_open_alert_text(store, nurse, infusion_session):
    sid = infusion_session
    eid = ops.record_side_effect(store, nurse, sid, "nausea", score=9).result
    (alert,) = open_alerts(store, sid)
    assert alert.message == "Nausea 9/10"
    ops.record_side_effect(store, nurse, sid, "nausea", score=8, supersedes_id=eid, correction_reason="misheard")
    (updated,) = open_alerts(store, sid)
    assert updated.id == alert.id and updated.message == "Nausea 8/10"
    assert len(alert_views.session_alerts(store, sid)) == 1  # no second alert, no new alarm


def test_a_corrected_reading_lowers_the_alert_to_what_the_reading_was(store, nurse, infusion_session):
    sid = infusion_session
    vid = ops.record_vitals(store, nurse, sid, heart_rate=135).result
    (alert,) = open_alerts(store, sid)
    assert alert.priority == "high" and "135" in alert.message
    ops.record_vitals(store, nurse, sid, heart_rate=115, supersedes_id=vid, correction_reason="typo")
    (updated,) = open_alerts(store, sid)
    assert updated.priority == "medium" and "115" in updated.message and "135" not in updated.message


def test_an_alert_whose_reading_was_entered_in_error_is_closed_as_such(store, nurse, infusion_session):
    sid = infusion_session
    eid = ops.record_side_effect(store, nurse, sid, "nausea", score=9).result
    ops.record_side_effect(store, nurse, sid, "nausea", supersedes_id=eid, correction_reason="wrong patient",
                           retracted=True)
    assert open_alerts(store, sid) == []
    assert [a for a in alert_views.review_queue(store) if a.session_id == sid] == []
    (closed,) = alert_views.review_queue(store, unreviewed_only=False)
    assert closed.review_comment == alerts.ENTERED_IN_ERROR
    (row,) = build_report(store, sid).alerts
    assert row.acknowledgement == alerts.ENTERED_IN_ERROR
    assert row.review.startswith("Closed: reading entered in error (")
    assert "Not reviewed" not in row.review and "Not acknowledged" not in row.acknowledgement


def test_entered_in_error_while_another_reading_still_holds_raises_the_alert_anew(store, nurse, infusion_session,
                                                                                  clock):
    sid = infusion_session
    ops.record_side_effect(store, nurse, sid, "nausea", score=8)
    clock.advance(minutes=5)
    second = ops.record_side_effect(store, nurse, sid, "nausea", score=9).result
    ops.record_side_effect(store, nurse, sid, "nausea", supersedes_id=second, correction_reason="other chair",
                           retracted=True)
    assert [a.message for a in open_alerts(store, sid)] == ["Nausea 8/10"]


def test_the_timer_says_which_alert_it_raised(store, nurse, esketamine_session, ready_for_dose, clock):
    from ketamon.core.ops import alerting

    ready_for_dose(esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    clock.advance(minutes=42)
    changes = alerting.tick(store)
    assert changes.message == "Alert raised: Vital signs overdue: 40 min after first device (due 09:40)"
