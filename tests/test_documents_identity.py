"""The documents stay the same when their code is made faster: the CSV, the FHIR
bundle and the printed summary's vital-sign table of two fixed sessions are
compared, byte for byte, with what the code wrote before (their SHA-256 are in
tests/golden/documents.json, recorded from the code before the speed-up).

The sessions: the demo esketamine record (corrections, a late entry, alerts,
scores, a signature, an addendum) and an infusion with 300 device sets across
the end of summer time in Berlin (the printout thins them), with a device
temperature that is not printed but is carried into a printed set's NEWS2,
device sets validated, marked artefact and retracted, a late manual set and a
comment a spreadsheet would run as a formula. Times are written in
Europe/Berlin.

The printout's thinning, done on the stored rows, is also checked against its
rule applied to every set in force, for several slot lengths and table sizes.

A change that is meant to change a document: record the new digests with
KETAMON_RECORD_GOLDEN=1 (then read the new files, written beside the test's
temporary folder, before committing them).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ketamon.core import ops
from ketamon.core.chart import forget_chart_cache
from ketamon.core.csv_export import session_csv
from ketamon.core.models import User
from ketamon.core.permissions import Actor
from ketamon.core.fhir import write_session_bundle
from ketamon.core.report import build_report
from record_helpers import test_password_hash as password_hash
from records_data import full_session, predose

GOLDEN = Path(__file__).parent / "golden" / "documents.json"
#: the device session starts here: Berlin leaves summer time at 01:00 UTC that night
DEVICE_START = datetime(2026, 10, 25, 0, 20, tzinfo=timezone.utc)


def add_user(store, username: str, role: str, name: str) -> Actor:
    with store.transaction() as db:
        u = User(username=username, display_name=name, role=role, password_hash=password_hash(),
                 active=True, failed_attempts=0, created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    monkeypatch.delenv("KETAMON_CLINIC_NAME", raising=False)
    monkeypatch.delenv("KETAMON_MRN_SYSTEM", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def device_session(store, clock, nurse, patient_id) -> dict:
    """The infusion with 300 device sets, 20 s apart; returns the ids the tests look at."""
    clock.set(DEVICE_START)
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5").result
    predose(store, clock, nurse, sid)  # baseline: temperature 36.7, complete set
    clock.advance(minutes=1)
    ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=45)
    ids: dict = {"session": sid}
    for i in range(300):
        clock.advance(seconds=20)
        nibp = i % 15 == 0
        values = dict(heart_rate=70 + i % 9, spo2=96 + i % 4, resp_rate=14 + i % 3,
                      systolic=118 + i % 11 if nibp else None, diastolic=76 + i % 5 if nibp else None)
        if i == 37:  # a device temperature, not the first set of its 5 minutes: not printed
            values["temperature"] = 38.6
        if i == 50:
            values["heart_rate"] = 0  # a loose lead: the operation keeps the rest, with an artefact comment
        vid = ops.record_vitals(store, nurse, sid, source="device",
                                comment="=1+1 typed at the monitor" if i == 60 else None, **values).result
        ids.setdefault("device", []).append(vid)
        if i == 37:
            ids["temperature"] = vid
        if i == 40:  # a complete manual set without a temperature: NEWS2 carries 38.6
            clock.advance(seconds=5)
            ids["carried"] = ops.record_vitals(store, nurse, sid, systolic=135, diastolic=85, heart_rate=88, spo2=96,
                                               resp_rate=18, consciousness="A", on_oxygen=False).result
        if i == 70:
            ops.validate_device_set(store, nurse, ids["device"][65])
            ops.mark_device_artefact(store, nurse, ids["device"][68], "patient moving")
        if i == 90:
            ops.record_vitals(store, nurse, sid, source="device", supersedes_id=ids["device"][88], retracted=True,
                              correction_reason="probe off the finger")
        if i == 120:
            ops.record_vitals(store, nurse, sid, measured_at=clock.now() - timedelta(minutes=10), systolic=129,
                              diastolic=81, heart_rate=75, spo2=97, resp_rate=15, temperature=37.2,
                              consciousness="A", on_oxygen=True, comment="typed after the round")
        if i == 200:
            ops.add_note(store, nurse, sid, "+ settled, asleep")
    return ids


@pytest.fixture
def sessions(any_store, clock, berlin):
    store = any_store
    actors = {"nurse": add_user(store, "nurse", "nurse", "Sam Carter RN"),
              "physician": add_user(store, "doctor", "physician", "Dr Priya Shah")}
    from datetime import date

    pid = ops.create_patient(store, actors["nurse"], mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
    device = device_session(store, clock, actors["nurse"], pid)
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc))
    demo = ops.create_session(store, actors["nurse"], patient_id=pid, protocol_id="esketamine-56",
                              lot_number="LOT-1", physician_id=actors["physician"].user_id).result
    full_session(store, clock, actors, demo)
    clock.set(datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc))
    forget_chart_cache()
    return store, {"demo": demo, "device": device["session"]}, device


def printed_table(store, sid) -> str:
    rows, note = build_report(store, sid, printed_by="Golden").vitals_for_print()
    return "\n".join([repr(tuple(r)) for r in rows] + [repr(note)]) + "\n"


def fhir_text(store, sid) -> str:
    buf = io.StringIO(newline="")
    write_session_bundle(store, sid, buf)
    return buf.getvalue()


def documents(store, ids) -> dict[str, str]:
    out = {}
    for name, sid in ids.items():
        out[f"{name}.csv"] = session_csv(store, sid)
        out[f"{name}.fhir.json"] = fhir_text(store, sid)
        out[f"{name}.printed.txt"] = printed_table(store, sid)
    return out


def test_documents_are_byte_for_byte_what_they_were(sessions, tmp_path):
    store, ids, _ = sessions
    docs = documents(store, ids)
    digests = {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in docs.items()}
    for name, text in docs.items():  # to read when they differ
        (tmp_path / name).write_text(text, encoding="utf-8", newline="")
    if os.environ.get("KETAMON_RECORD_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    changed = sorted(name for name in digests if digests[name] != expected.get(name))
    assert not changed, f"these documents changed: {changed} (the new ones are in {tmp_path})"


def test_the_fixed_session_holds_what_the_identity_test_relies_on(sessions):
    """The device session is thinned, the device temperature is left out of the
    printout and carried into the printed manual set's NEWS2."""
    store, ids, device = sessions
    report = build_report(store, ids["device"])
    rows, note = report.vitals_for_print()
    printed = {r.entry_id: r for r in rows}
    assert note and "device readings were recorded" in note
    assert device["temperature"] not in printed
    assert printed[device["carried"]].news2 == "1*"  # 38.6 °C from the unprinted set: 1 point
    text = session_csv(store, ids["device"])
    assert "+01:00" in text and "+02:00" in text  # both sides of the change of offset


def thinned_by_the_rule(report, every_minutes: int, max_rows: int):
    """vitals_for_print's rule applied to every set in force, as it was written
    before the report thinned its stored rows (the reference)."""
    vitals = report.vitals
    if len(vitals) <= max_rows:
        return list(vitals)
    nibp = sum(1 for v in vitals if v.source == "device" and v.systolic is not None) <= max_rows // 2
    keep, buckets = [], set()
    for v in vitals:
        if v.source != "device" or v.corrected or v.comment or v.verdict or (nibp and v.systolic is not None):
            keep.append(v)
            continue
        bucket = int(v.measured_at.timestamp() // (every_minutes * 60))
        if bucket not in buckets:
            buckets.add(bucket)
            keep.append(v)
    return keep


@pytest.mark.parametrize("every_minutes, max_rows", [(5, 200), (1, 100), (7, 40), (15, 250), (60, 10)])
def test_the_printout_picks_and_scores_as_the_rule_over_every_set_says(sessions, every_minutes, max_rows):
    """Thinned from the stored rows, the printed rows (values, marks, NEWS2) are
    those the rule picks from every set in force, each with its NEWS2 among all
    the sets (slots that divide an hour are cut from SQLite's text, others not)."""
    store, ids, _ = sessions
    fresh = lambda: build_report(store, ids["device"])  # noqa: E731
    printed, _ = fresh().vitals_for_print(every_minutes, max_rows)
    assert printed == thinned_by_the_rule(fresh(), every_minutes, max_rows)
