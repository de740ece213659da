"""The review queue never hides an alert (issue 10, point 5): whatever alerts there
are, its pages laid end to end are the whole queue, most urgent first, and its
count says how many; the sessions list's chair states name each chair's highest
active alert."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, insert

from ketamon.core import alert_views
from ketamon.core.models import Alert

ALERT = st.tuples(st.sampled_from(["high", "medium", "low", "info"]), st.booleans(), st.booleans(),
                  st.integers(0, 400_000), st.sampled_from([0, 1]))


def put(store, clock, session_ids, alerts) -> None:
    now = clock.now()
    with store.transaction() as db:
        db.execute(delete(Alert))
        if alerts:
            db.execute(insert(Alert), [dict(
                session_id=session_ids[which], category="patient", condition_key=f"k{i}", rule="range_abnormal",
                priority=priority, message=f"alert {i}", raised_at=now - timedelta(minutes=minutes),
                cleared_at=now if cleared else None, reviewed_at=now if reviewed else None)
                for i, (priority, cleared, reviewed, minutes, which) in enumerate(alerts)])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(alerts=st.lists(ALERT, max_size=30), page=st.integers(1, 7),
       show=st.sampled_from([{}, {"unreviewed_only": False}, {"open_only": True}, {"priority": "high"}]))
def test_the_pages_together_are_the_whole_queue_most_urgent_first(store, clock, esketamine_session,
                                                                  infusion_session, alerts, page, show):
    put(store, clock, [esketamine_session, infusion_session], alerts)
    whole = alert_views.review_queue(store, limit=10_000, **show)
    total = alert_views.count_review_queue(store, **show)
    pages = [alert_views.review_queue(store, limit=page, offset=o, **show) for o in range(0, total + page, page)]
    assert total == len(whole)
    assert [a.id for p in pages for a in p] == [a.id for a in whole]
    assert whole == sorted(whole, key=alert_views.order_key)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(alerts=st.lists(ALERT, max_size=12))
def test_each_chair_shows_its_highest_active_alert(store, clock, esketamine_session, infusion_session, alerts):
    sids = [esketamine_session, infusion_session]
    put(store, clock, sids, alerts)
    states = alert_views.chair_states(store, sids)
    for which, sid in enumerate(sids):
        active = [(alert_views.PRIORITY_RANK[p], i) for i, (p, cleared, _r, _m, w) in enumerate(alerts)
                  if w == which and not cleared]
        highest = states[sid].highest
        assert states[sid].active_count == len(active)
        if not active:
            assert highest is None
        else:
            assert alert_views.PRIORITY_RANK[highest.priority] == max(active)[0]
