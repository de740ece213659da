"""The screens that list or poll across the clinic ask a fixed number of SQL
statements however many sessions and alerts there are (one query per row is what
made them stall on a clinic's two years of data), and the review queue sorts by
urgency before it cuts, so an old high alert is never hidden."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from clinic_data import fill_clinic
from ketamon.core import alert_views
from ketamon.core.chart import load_chart, sessions_on
from ketamon.core.models import Alert, Patient, Session
from ketamon.core.ops import alerting
from ketamon.core.record import find_sessions


class Statements:
    """Counts the SQL statements a block of code sends (transaction control left out)."""

    def __init__(self, store):
        self.store = store
        self.seen: list[str] = []

    def _count(self, conn, cursor, statement, *args):
        self.seen.append(statement)

    def __enter__(self):
        event.listen(self.store.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.store.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.seen)


def count(store, fn) -> int:
    with Statements(store) as s:
        fn()
    return s.count


def the_list_with_next_due(store):
    rows = sessions_on(store)
    due = alert_views.next_due_for_sessions(store, [r.session_id for r in rows])
    return rows, due


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clinic(request, clock):
    """An empty clinic with one nurse, on SQLite and on PostgreSQL."""
    from record_helpers import make_user

    store = request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")
    make_user(store, "nurse", "nurse", "Sam Carter RN")
    return store


def test_statements_do_not_grow_with_the_clinic(clinic):
    store = clinic
    fill_clinic(store, sessions=30, today=3, seed=1)
    small = {
        "list": count(store, lambda: the_list_with_next_due(store)),
        "search": count(store, lambda: find_sessions(store, "")),
        "queue": count(store, lambda: alert_views.review_queue(store)),
        "alarm": count(store, lambda: alert_views.alarm_status(store)),
    }
    alerting.tick(store)  # raise what today's sessions call for; then the timer only looks
    small["tick"] = count(store, lambda: alerting.tick(store))
    fill_clinic(store, sessions=300, today=25, seed=2)
    alerting.tick(store)
    rows, due = the_list_with_next_due(store)
    assert len(rows) == 28 and set(due) == {r.session_id for r in rows}
    assert len(find_sessions(store, "")[0]) == 330 + 28 - 0  # every session fits under the limit
    large = {
        "list": count(store, lambda: the_list_with_next_due(store)),
        "search": count(store, lambda: find_sessions(store, "")),
        "queue": count(store, lambda: alert_views.review_queue(store)),
        "alarm": count(store, lambda: alert_views.alarm_status(store)),
        "tick": count(store, lambda: alerting.tick(store)),
    }
    assert large == small
    assert max(large.values()) <= 8


def test_opening_a_session_costs_the_same_in_a_big_clinic(store, actors):
    ids = fill_clinic(store, sessions=20, today=2, seed=3)
    small = count(store, lambda: load_chart(store, ids["past"][5], fresh=True))
    more = fill_clinic(store, sessions=200, today=2, seed=4)
    assert count(store, lambda: load_chart(store, more["past"][50], fresh=True)) == small


def test_the_next_due_matches_the_per_session_answer(store, actors, clock):
    """The batched next-due gives, row by row, what asking for one session gives."""
    ids = fill_clinic(store, sessions=5, today=10, seed=5)["today"]
    clock.advance(minutes=47)
    together = alert_views.next_due_for_sessions(store, ids)
    one_by_one = {sid: alert_views.next_due_for_sessions(store, [sid])[sid] for sid in ids}
    assert together == one_by_one
    assert any(item is not None for item in together.values())


def test_an_old_high_alert_comes_before_600_newer_low_ones(store, actors, clock):
    ids = fill_clinic(store, sessions=3, today=0, seed=6)["past"]
    now = clock.now()
    with store.transaction() as db:
        db.execute(insert(Alert), [dict(session_id=ids[0], category="patient", condition_key="bp_high",
                                        rule="range_critical", priority="high", message="BP 210/120 (old)",
                                        raised_at=now - timedelta(days=300), cleared_at=now - timedelta(days=300))])
        db.execute(insert(Alert), [dict(session_id=ids[1], category="patient", condition_key=f"low{i}",
                                        rule="range_abnormal", priority="low", message=f"low {i}",
                                        raised_at=now - timedelta(minutes=i), cleared_at=now - timedelta(minutes=i))
                                   for i in range(600)])
    queue = alert_views.review_queue(store, limit=500)
    assert len(queue) == 500
    assert queue[0].message == "BP 210/120 (old)"
    assert [a.priority for a in queue] == sorted((a.priority for a in queue),
                                                 key=lambda p: -alert_views.PRIORITY_RANK[p])
    # the cut keeps the order of the full list
    everything = alert_views.review_queue(store, limit=10_000)
    assert [a.id for a in queue] == [a.id for a in everything[:500]]
    assert everything == sorted(everything, key=alert_views.order_key)


def test_the_review_queue_filters_still_apply_in_every_band(store, actors):
    fill_clinic(store, sessions=40, today=4, seed=7)
    for kwargs in ({}, {"priority": "high"}, {"open_only": True}, {"unreviewed_only": False}):
        queue = alert_views.review_queue(store, **kwargs)
        with store.read() as db:
            q = select(Alert)
            if kwargs.get("unreviewed_only", True):
                q = q.where(Alert.reviewed_at.is_(None))
            if kwargs.get("priority"):
                q = q.where(Alert.priority == kwargs["priority"])
            if kwargs.get("open_only"):
                q = q.where(Alert.cleared_at.is_(None))
            expected = sorted(db.scalars(q), key=lambda a: (a.cleared_at is not None,
                                                             -alert_views.PRIORITY_RANK[a.priority],
                                                             -a.raised_at.timestamp(), -a.id))
        assert [a.id for a in queue] == [a.id for a in expected[:500]], kwargs
        assert queue == sorted(queue, key=alert_views.order_key)


def test_the_session_list_only_asks_about_today(store, actors):
    fill_clinic(store, sessions=50, today=6, seed=8)
    with store.read() as db:
        assert db.query(Session).count() == 56
    rows, _ = the_list_with_next_due(store)
    assert len(rows) == 6


def _plans(store, fn) -> list[tuple[str, list[str]]]:
    """Each statement `fn` sends, with SQLite's EXPLAIN QUERY PLAN lines for it."""
    sent: list[tuple[str, tuple]] = []

    def seen(conn, cursor, statement, parameters, *args):
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    out = []
    with store.engine.connect() as c:
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters or ()))
                out.append((statement, [row[3] for row in rows]))
    return out


@pytest.mark.parametrize("analyze", [False, True], ids=["no statistics", "after ANALYZE"])
def test_the_polled_screens_never_scan_the_vital_signs(store, actors, clock, analyze):
    """With planner statistics, SQLite once judged the (nearly all-NULL) supersedes_id
    index useless and scanned every vital-sign set once per session in the sessions
    list's next-due and in the alert timer (14 ms → 3.6 s at 100,000 sessions); and
    without them the timer walked every medium alert ever raised. Whatever the
    statistics, these screens read through indexes and send as many statements."""
    fill_clinic(store, sessions=400, today=8, seed=9)
    # a clinic where no set has been corrected yet (the generated benchmark clinic; a
    # new clinic's first weeks): every supersedes_id NULL is what misled the planner
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE vital_signs SET supersedes_id = NULL")
    clock.advance(minutes=40)
    alerting.tick(store)

    def screens():
        the_list_with_next_due(store)
        alerting.tick(store)
        queue = alert_views.review_queue(store)
        alert_views.alert_context(store, queue[0].id)
        alert_views.alarm_status(store)

    before = count(store, screens)
    if analyze:
        with store.engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    plans = _plans(store, screens)
    assert len(plans) <= before
    for statement, plan in plans:
        assert not [line for line in plan if line.startswith("SCAN vital_signs")], (statement, plan)
        assert not [line for line in plan if "ix_alerts_priority_raised" in line and "alerts.session_id IS NULL"
                    in " ".join(statement.split())], (statement, plan)
    next_due = [plan for statement, plan in plans if "vital_signs_1.supersedes_id" in statement]
    assert next_due and all(any("ix_vital_signs_superseding" in line for line in plan) for plan in next_due)


@pytest.mark.parametrize("model_name", ["VitalSigns", "DoseEvent", "SideEffect", "Note", "Assessment"])
def test_the_in_force_rule_is_answered_from_an_index_for_every_kind_of_entry(store, model_name):
    """SQLite's plan for "this session's entries in force" searches indexes only: a
    table scan inside the rule's NOT EXISTS runs once per candidate row (the Records
    search's "began at" took 17 s on a 100,000-session clinic that way)."""
    from ketamon.core import models
    from ketamon.core.in_force import in_force_clause

    model = getattr(models, model_name)
    query = select(model.id).where(model.session_id == 1, in_force_clause(model))
    with store.read() as db:
        conn = db.connection()
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    scans = [step for step in plan if step.startswith("SCAN")]
    assert not scans, f"{model_name}: the in-force check scans a table: {plan}"


def test_a_search_finds_the_same_sessions_by_patient_or_by_walking_the_days(clinic, monkeypatch):
    """Records search: a few matching patients' sessions are found by the patient
    index, many by walking the days newest first; both give the same rows, on
    SQLite and PostgreSQL (there as one array parameter), form status and all."""
    from ketamon.core import record
    from ketamon.core.rems import form_statuses

    store = clinic
    fill_clinic(store, sessions=60, today=2, seed=5)
    with store.read() as db:
        mrn, family = db.execute(select(Patient.mrn, Patient.family_name).order_by(Patient.id)).first()
    today = store.clock.now().astimezone().date()
    for text in (mrn, family, family[:2].lower(), f"{family} zz-nobody", ""):
        by_patient, more = find_sessions(store, text, today - timedelta(days=730), today)
        monkeypatch.setattr(record, "FEW_PATIENTS", 0)
        walked, more_walked = find_sessions(store, text, today - timedelta(days=730), today)
        monkeypatch.undo()
        assert by_patient == walked and more == more_walked, text
        assert all(text.lower() in f"{r.patient_name} {r.mrn}".lower() for r in by_patient if " " not in text)
    one = find_sessions(store, mrn)[0]
    assert one and {r.mrn for r in one} == {mrn}
    statuses = form_statuses(store, [r.session_id for r in one], store.clock.now())
    assert set(statuses) == {r.session_id for r in one}
