"""The issue's "done when": a scripted esketamine session with a blood-pressure
spike, a period of sedation and a missed 40-minute reading raises exactly the
expected alerts at the expected times. The clock moves minute by minute and the
overdue timer (`tick`) runs every minute as the GUI's QTimer would; nothing
sleeps. tests/gui/test_alerts_gui.py plays the same script and checks that the
nurse's chart and the physician's queue show these alerts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ketamon.core import alert_views, alerts, ops

#: the test clock's start (tests/conftest.py T0), when the session is opened
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)

AIR = dict(on_oxygen=False)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def script(store, nurse, sid):
    """(minute, what the nurse does) for the session opened at 09:00."""
    v = lambda **kw: lambda: ops.record_vitals(store, nurse, sid, **AIR, **kw)  # noqa: E731
    se = lambda kind, **kw: lambda: ops.record_side_effect(store, nurse, sid, kind, **kw)  # noqa: E731
    return [
        (2, v(systolic=128, diastolic=82, heart_rate=74, spo2=98, resp_rate=14, consciousness="A",
              temperature=36.7)),  # baseline
        (5, lambda: ops.record_dose(store, nurse, sid, "nasal_device")),  # first device: 40-min BP due 09:45
        (10, lambda: ops.record_dose(store, nurse, sid, "nasal_device")),
        (15, v(systolic=138, diastolic=86, heart_rate=80, spo2=97, resp_rate=14, consciousness="A")),
        (20, v(systolic=188, diastolic=112, heart_rate=96, spo2=97, resp_rate=16, consciousness="A")),  # spike
        (22, lambda: ops.acknowledge_alert(store, nurse, session_id=sid)),
        (25, v(systolic=184, diastolic=108, heart_rate=92, spo2=96, resp_rate=16, consciousness="A")),  # sustained
        (26, se("sedation", score=2)),  # sedation begins
        (30, se("sedation", score=1)),
        (30, v(systolic=176, diastolic=104, heart_rate=88, spo2=95, resp_rate=12, consciousness="P")),
        (36, v(systolic=150, diastolic=90, heart_rate=80, spo2=97, resp_rate=14, consciousness="V")),
        (38, se("sedation", score=4)),  # sedation over
        # no set from 09:40 to 09:54: the 40-minute reading is missed
        (55, v(systolic=142, diastolic=88, heart_rate=78, spo2=98, resp_rate=14, consciousness="A")),
    ]


def play(store, nurse, sid, clock, ready, until: int = 60, each_minute=None) -> None:
    """Run the script to `until` (minutes after 09:00); `each_minute(minute)` after
    each minute's entries and timer tick."""
    assert clock.now() == T0, "the script starts when the session is opened"
    ready(sid)  # pre-dose checklist and PHQ-9 (its baseline set is the script's own)
    steps = script(store, nurse, sid)
    for minute in range(0, until + 1):
        clock.set(at(minute))
        for m, action in steps:
            if m == minute:
                action()
        ops.tick(store)  # the GUI's timer
        if each_minute is not None:
            each_minute(minute)


def summary(store, sid):
    return [(a.key, a.rule, a.priority, a.raised_at, a.escalated_at, a.cleared_at)
            for a in sorted(alert_views.session_alerts(store, sid), key=lambda a: a.raised_at)]


def test_the_scripted_session_raises_exactly_the_expected_alerts(store, nurse, esketamine_session, clock,
                                                                  ready_for_dose):
    sid = esketamine_session
    ready = lambda s: ready_for_dose(s, baseline=False)  # noqa: E731
    play(store, nurse, sid, clock, ready)
    assert summary(store, sid) == [
        # the spike: high at once, worse ("for 5 min or more") at 09:25, cleared by the 09:36 set
        ("bp_high", "bp_sustained", "high", at(20), at(25), at(36)),
        # sedation: MOAA/S 2 at 09:26, 1 at 09:30, cleared by MOAA/S 4 at 09:38
        ("sedation", "moaas_1", "high", at(26), at(30), at(38)),
        # responds to pain only (P): NEWS2 single 3, cleared by the complete 09:55 set
        ("news2", "news2_single_three", "low", at(30), None, at(55)),
        # 40 min after the first device (09:05) is 09:45; grace 2 min: overdue at 09:47,
        # unacknowledged 5 min: high at 09:52; the 09:55 set clears it
        ("overdue:first_dose+40", "overdue", "high", at(47), at(52), at(55)),
    ]


def test_the_tone_follows_the_script(store, nurse, esketamine_session, clock, ready_for_dose):
    tones = {}

    def listen(minute: int) -> None:
        status = alert_views.alarm_status(store)
        tones[minute] = (status.tone, status.audio)

    play(store, nurse, esketamine_session, clock, lambda s: ready_for_dose(s, baseline=False), each_minute=listen)
    assert tones[19] == (None, "")
    assert tones[20] == ("high", "")  # the spike sounds at once
    assert tones[22] == (None, "Audio paused 2 min 00 s")  # acknowledged
    assert tones[23] == (None, "Audio paused 1 min 00 s")
    assert tones[24] == ("high", "")  # 2 minutes on and the BP is still high: it sounds again
    assert tones[25] == ("high", "")  # worse: sounds again without waiting for the pause to end
    assert tones[31] == ("high", "")  # BP and sedation, nobody has acknowledged
    assert tones[40] == (None, "")  # BP cleared at 36, sedation at 38; NEWS2 low does not sound
    assert tones[46] == (None, "")
    assert tones[47] == ("medium", "")  # overdue
    assert tones[52] == ("high", "")  # escalated
    assert tones[55] == (None, "")  # all clear


def test_after_the_session_every_alert_waits_for_the_physician(store, nurse, actors, esketamine_session, clock,
                                                               ready_for_dose):
    sid = esketamine_session
    play(store, nurse, sid, clock, lambda s: ready_for_dose(s, baseline=False))
    queue = alert_views.review_queue(store)
    # most urgent first, newest first within a priority
    assert [(a.key, a.priority) for a in queue] == [
        ("overdue:first_dose+40", "high"), ("sedation", "high"), ("bp_high", "high"), ("news2", "low")]
    assert all(a.session_id == sid and not a.active for a in queue)
