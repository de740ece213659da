"""The CSV export: every entry as charted, with measured and entered times, who,
and the late / correction flags."""
import csv
import io
from datetime import timedelta

import pytest

from ketamon.core import ops
from ketamon.core.csv_export import COLUMNS, session_csv
from records_data import AFTER_DOSE, full_session


@pytest.fixture
def charted(store, clock, actors, esketamine_session):
    first = full_session(store, clock, actors, esketamine_session)
    return esketamine_session, first


def read(text):
    return list(csv.DictReader(io.StringIO(text)))


def local(when):
    return when.astimezone().isoformat(timespec="seconds")


def test_columns_and_every_vital_sign_set(store, charted):
    sid, first = charted
    text = session_csv(store, sid)
    assert text.splitlines()[0].split(",") == COLUMNS
    rows = read(text)
    vit = [r for r in rows if r["record"] == "vital_signs" and r["status"] != "superseded"]
    assert [(r["systolic"], r["diastolic"]) for r in vit] == [("128", "82")] + [(str(s), str(d))
                                                                             for _, s, d, *_ in AFTER_DOSE]
    base = vit[0]
    assert (base["heart_rate"], base["spo2"], base["resp_rate"], base["temperature"]) == ("74", "98", "14", "36.7")
    assert base["mean_arterial"] == "97" and base["mean_measured"] == "no"
    assert vit[1]["temperature"] == ""  # not measured: empty, never 0
    assert all(r["entered_by"] == "Sam Carter RN" for r in vit)


def test_late_entry_has_both_times_and_the_flag(store, charted):
    sid, first = charted
    rows = read(session_csv(store, sid))
    (late,) = [r for r in rows if r["record"] == "vital_signs" and r["late"] == "yes"]
    assert late["measured_at"] == local(first + timedelta(minutes=60))
    assert late["entered_at"] == local(first + timedelta(minutes=75))


def test_correction_and_original_are_both_there(store, charted):
    rows = read(session_csv(store, charted[0]))
    original = [r for r in rows if r["status"] == "superseded"]
    correction = [r for r in rows if r["status"] == "correction"]
    assert [r["heart_rate"] for r in original] == ["87"] and [r["heart_rate"] for r in correction] == ["78"]
    assert correction[0]["supersedes_id"] == original[0]["entry_id"]
    assert correction[0]["correction_reason"] == "heart rate typed as 87"


def test_events_doses_scores_alerts_and_steps_in_time_order(store, charted):
    rows = read(session_csv(store, charted[0]))
    records = {r["record"] for r in rows}
    assert records == {"vital_signs", "dose", "side_effect", "note", "assessment", "state", "alert", "addendum"}
    assert [r["description"] for r in rows if r["record"] == "dose"] == [
        "Nasal device 1 given (28 mg, lot LOT-1)", "Nasal device 2 given (28 mg, lot LOT-1)"]
    sedation = [r for r in rows if r["event"] == "sedation"][0]
    assert (sedation["scale"], sedation["score"]) == ("MOAA/S", "4")
    (alert,) = [r for r in rows if r["record"] == "alert"]
    assert "acknowledged" in alert["description"] and "reviewed" in alert["description"]
    assert alert["comment"].startswith("Expected BP peak")
    times = [r["measured_at"] for r in rows]
    assert times == sorted(times)


def test_text_a_spreadsheet_would_run_as_a_formula_is_defused(store, clock, nurse, esketamine_session):
    ops.add_note(store, nurse, esketamine_session, "=HYPERLINK(\"http://x\")")
    (note,) = [r for r in read(session_csv(store, esketamine_session)) if r["record"] == "note"]
    assert note["description"] == "'=HYPERLINK(\"http://x\")"
