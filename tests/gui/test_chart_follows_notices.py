"""The open chart follows other workstations' (and the monitor listener's)
notices of vital signs by reading only the new sets (chart.refresh_chart): the
plot, the event log and the record bar must still show every set, a correction
of an old set must change the value drawn, and notices for other sessions must
not touch the chart at all."""
from __future__ import annotations

import pytest

from ketamon.core import ops
from ketamon.core import chart as chart_module
from ketamon.core.changes import OpChanges
from ketamon.core.chart import forget_chart_cache
from ketamon.core.store import Store


@pytest.fixture
def chair_two(store, clock):
    """The other workstation (or the listener process): its own store, its own origin."""
    other = Store(store.url, clock=clock, run_migrations=False)
    other.origin = "chair-2:test"
    yield other
    forget_chart_cache(other)
    other.dispose()


def hear(runner, *changes) -> None:
    """Deliver notices as the live bridge does: merged, carried as JSON."""
    merged = None
    for c in changes:
        c = OpChanges.from_json(c.to_json())
        merged = c if merged is None else merged.merge(c)
    runner.receive(merged)


def test_a_set_from_another_workstation_is_drawn_and_logged(qtbot, open_chart, runner, nurse, chair_two,
                                                             esketamine_session, clock):
    chart = open_chart(esketamine_session)
    runner.run(ops.record_vitals, esketamine_session, systolic=124, diastolic=80, heart_rate=70, spo2=98)
    notices = []
    for hr in (81, 82, 83):
        clock.advance(seconds=1)
        notices.append(ops.record_vitals(chair_two, nurse, esketamine_session, heart_rate=hr, spo2=97,
                                         source="device"))
    hear(runner, *notices)
    assert chart.plot.series("heart_rate")[1] == [70, 81, 82, 83]
    assert chart.event_log.device_toggle.text() == "Show device readings (3)"


def test_a_correction_of_an_old_set_changes_the_value_drawn(qtbot, open_chart, runner, nurse, chair_two,
                                                           esketamine_session, clock):
    chart = open_chart(esketamine_session)
    typo = runner.run(ops.record_vitals, esketamine_session, systolic=185, diastolic=80).result
    for minute in range(3):
        clock.advance(minutes=1)
        runner.run(ops.record_vitals, esketamine_session, systolic=120 + minute, diastolic=80)
    assert chart.plot.series("systolic")[1] == [185, 120, 121, 122]
    old = chart.chart.vitals[0]
    hear(runner, ops.record_vitals(chair_two, nurse, esketamine_session, systolic=135, diastolic=80,
                                   supersedes_id=typo, measured_at=old.measured_at,
                                   correction_reason="typed 185 for 135"))
    assert chart.plot.series("systolic")[1] == [135, 120, 121, 122]
    assert any("185" in line and "135" not in line for line in chart.event_log.rows_text())  # struck, still shown


def test_a_vitals_notice_reads_only_the_new_sets(qtbot, open_chart, runner, nurse, chair_two,
                                                 esketamine_session, clock, monkeypatch):
    chart = open_chart(esketamine_session)
    runner.run(ops.add_note, esketamine_session, "Calm")
    loads = []
    real = chart_module.load_chart
    monkeypatch.setattr(chart_module, "load_chart", lambda *a, **k: loads.append(a) or real(*a, **k))
    clock.advance(seconds=5)
    hear(runner, ops.record_vitals(chair_two, nurse, esketamine_session, heart_rate=77, source="device"))
    assert chart.plot.series("heart_rate")[1] == [77]
    assert loads == []  # the notes, doses and session were kept, not loaded again
    assert any("Calm" in line for line in chart.event_log.rows_text())
    hear(runner, ops.add_note(chair_two, nurse, esketamine_session, "Drowsy"))  # not vital signs: a whole load
    assert len(loads) == 1 and any("Drowsy" in line for line in chart.event_log.rows_text())


def test_another_sessions_notice_leaves_the_chart_alone(qtbot, open_chart, runner, nurse, chair_two,
                                                        esketamine_session, infusion_session):
    chart = open_chart(esketamine_session)
    seen = []
    chart.refreshed.connect(seen.append)
    hear(runner, ops.record_vitals(chair_two, nurse, infusion_session, heart_rate=66, source="device"))
    assert seen == []


def test_saving_set_after_set_draws_the_same_symbols_not_new_ones(qtbot, open_chart, runner, esketamine_session,
                                                                  clock):
    chart = open_chart(esketamine_session)
    for n in range(12):
        clock.advance(minutes=1)
        runner.run(ops.record_vitals, esketamine_session, systolic=120 + n, diastolic=80, heart_rate=70 + n, spo2=97)
    # pyqtgraph renders each symbol once per pen and brush it is given: one symbol per curve, not one per save
    assert {name: len(curve.scatter.fragmentAtlas._coords) for name, curve in chart.plot.curves.items()} == {
        "systolic": 1, "diastolic": 1, "heart_rate": 1, "spo2": 1}
    assert chart.plot.series("heart_rate")[1] == [70 + n for n in range(12)]


def test_a_built_chart_is_kept_out_of_the_collectors_full_walks(qtbot, open_chart, esketamine_session, runner):
    import gc

    gc.unfreeze()
    chart = open_chart(esketamine_session)
    qtbot.waitUntil(lambda: gc.get_freeze_count() > 0)
    gc.collect(1)  # anything young goes to generation 2; the chart is not young
    walked = {id(o) for o in gc.get_objects(generation=2)}
    assert id(chart.chart) not in walked and id(chart.plot) not in walked
