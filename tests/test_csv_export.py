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


def test_a_long_device_session_is_written_whole_in_time_order(store, clock, nurse, monkeypatch, tmp_path):
    """The sets are read in chunks (small here) and merged with the other entries:
    every stored set once, a correction beside its original, time order kept, and
    the same text as the report's rows in memory."""
    from datetime import datetime

    from ketamon.core import exporting, stored_vitals
    from ketamon.core.scenario import device_session
    from ketamon.core.csv_export import to_csv
    from ketamon.core.report import build_report

    monkeypatch.setattr(stored_vitals, "CHUNK_ROWS", 100)
    sid = device_session(store, nurse, hours=0.25, hz=1)  # 900 sets
    stored = [r.id for r in exporting.stored_vitals(store, sid)]
    middle = stored[450]
    start = clock.now() - timedelta(seconds=900)
    ops.record_vitals(store, nurse, sid, measured_at=start + timedelta(seconds=450), heart_rate=71,
                      source="manual", supersedes_id=middle, correction_reason="artefact")
    ops.add_note(store, nurse, sid, "monitor repositioned")
    ops.record_vitals(store, nurse, sid, systolic=118, diastolic=76, heart_rate=68)
    out = tmp_path / "vitals.csv"
    exporting.write_export(store, sid, "csv", out)
    text = out.read_bytes().decode("utf-8")  # RFC 4180 line ends, as written
    rows = read(text)
    vit = [r for r in rows if r["record"] == "vital_signs"]
    assert sorted(int(r["entry_id"]) for r in vit) == sorted(r.id for r in exporting.stored_vitals(store, sid))
    assert len(vit) == 902
    times = [datetime.fromisoformat(r["measured_at"]) for r in rows]
    assert times == sorted(times)
    (old,) = [r for r in vit if r["entry_id"] == str(middle)]
    (new,) = [r for r in vit if r["supersedes_id"] == str(middle)]
    assert (old["status"], new["status"], new["correction_reason"]) == ("superseded", "correction", "artefact")
    assert rows.index(old) + 1 == rows.index(new), "measured at the same second: the original first"
    assert [r["description"] for r in rows if r["record"] == "note"] == ["monitor repositioned"]
    assert text == to_csv(build_report(store, sid))
