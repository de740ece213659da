"""Generated input over every entry operation (issue 9, point 8).

For each operation hypothesis generates well-typed and hostile arguments (NaN,
infinities, negatives, huge numbers, booleans and text where numbers belong,
empty strings, far-past and future times, unknown choices) and asserts what a
safety reviewer would: only the project's refusals (KetamonError) escape,
nothing outside the hard limits or the protocol's absolute ranges is stored,
and after any accepted call the session's chart, record, printed report, CSV and
FHIR export still load.

`make test` runs the "default" profile (2,100 cases in all); `make fuzz`
(HYPOTHESIS_PROFILE=fuzz) runs 21,000. The figures
(cases, crashes, impossible values stored) are printed at the end of the module.
"""
from __future__ import annotations

import io
import math
import os
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from ketamon.core import hard_limits, ops
from ketamon.core.chart import load_chart
from ketamon.core.clock import FakeClock
from ketamon.core.csv_export import session_csv
from ketamon.core.errors import KetamonError
from ketamon.core.fhir import session_bundle
from ketamon.core.inputs import KIND_SCALES
from ketamon.core.permissions import SYSTEM
from ketamon.core.models import DoseEvent, Patient, Session, SideEffect, VitalSigns
from ketamon.core.record import load_record
from ketamon.core.report import build_report
from ketamon.core.store import Store
from tests.conftest import T0, add_user
from tests.record_helpers import TEST_PASSWORD

PER_OP = {"default": 100, "fuzz": 1000}
settings.register_profile("default", max_examples=PER_OP["default"], deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("fuzz", max_examples=PER_OP["fuzz"], deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
if PROFILE not in PER_OP:
    PROFILE = "default"

FIGURES: Counter = Counter()

# ---------------------------------------------------------------- strategies

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.just(""), st.text(max_size=6),
    st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.just(float("nan")), st.just(float("inf")), st.just(-1), st.just(1e300),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


#: while strategies are built: False builds the well-typed half (plausible values,
#: times near now), True the hostile half; each operation draws from both
_HOSTILE = [False]


def _maybe(good):
    return st.one_of(good, good, HOSTILE) if _HOSTILE[0] else good


def num(low: float, high: float, *, whole: bool = False):
    good = st.integers(int(math.ceil(low)), int(high)) if whole else st.floats(low, high)
    if not _HOSTILE[0]:
        return good
    return st.one_of(good, st.floats(low - 50, high + 50, allow_nan=False), HOSTILE)


def choice(*options):
    return _maybe(st.sampled_from(options))


def text():
    good = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
    if not _HOSTILE[0]:
        return good
    return st.one_of(good, st.just(" "), st.just("x" * 5000), st.just("a\x00b"), HOSTILE)


def times(clock: FakeClock):
    now = clock.now
    good = st.one_of(st.none(), st.integers(-40, 1).map(lambda m: now() + timedelta(minutes=m)))
    if not _HOSTILE[0]:
        return good
    return st.one_of(
        good,
        st.integers(-90, 90).map(lambda m: now() + timedelta(minutes=m)),
        st.just(datetime(1900, 1, 1, tzinfo=timezone.utc)), st.just(datetime(1, 1, 1)),
        st.just(datetime(9999, 12, 31)), st.integers(-72, 72).map(lambda h: now() + timedelta(hours=h)),
        st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1)),
        HOSTILE,
    )


def entry_keys():
    """A client's entry key: a few fixed UUIDs (so some are sent twice) or, hostile, anything."""
    good = st.sampled_from(["0b9f5c3e-1111-4e2a-9d1c-000000000001", "0b9f5c3e-1111-4e2a-9d1c-000000000002"])
    return _maybe(st.one_of(good, st.uuids().map(str)))


def ids():
    good = st.integers(1, 8)
    return st.one_of(good, HOSTILE, st.just(2**63)) if _HOSTILE[0] else good


# ---------------------------------------------------------------- the clinic under test


class Clinic:
    """One SQLite database per operation under test, with live sessions in each state."""

    def __init__(self, url: str):
        self.clock = FakeClock(T0)
        self.store = Store(url, clock=self.clock, run_migrations=False)
        s = self.store
        self.nurse = add_user(s, "nurse", "nurse", "Sam Carter RN")
        self.doctor = add_user(s, "doctor", "physician", "Dr Priya Shah")
        self.admin = add_user(s, "admin", "admin", "Clinic Admin")
        self.pid = ops.create_patient(s, self.nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                                      birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
        self.nasal = ops.create_session(s, self.nurse, patient_id=self.pid, protocol_id="esketamine-56",
                                        lot_number="LOT-1", physician_id=self.doctor.user_id).result
        self.iv = ops.create_session(s, self.nurse, patient_id=self.pid, protocol_id="iv-ketamine-0.5",
                                     physician_id=self.doctor.user_id).result
        for sid in (self.nasal, self.iv):
            ops.record_predose_checklist(s, self.nurse, sid, consent=True, fasting=True,
                                         contraindications_reviewed=True, medications_reviewed=True)
            ops.record_phq9(s, self.nurse, sid, {str(i): 0 for i in range(1, 10)})
            ops.record_vitals(s, self.nurse, sid, systolic=120, diastolic=80, heart_rate=72, spo2=98,
                              resp_rate=14, consciousness="A", on_oxygen=False)
        self.clock.advance(minutes=1)
        ops.record_dose(s, self.nurse, self.nasal, "nasal_device")
        ops.record_dose(s, self.nurse, self.iv, "infusion_start", rate_mg_per_h=40)
        self.clock.advance(minutes=1)
        ops.place_session(s, self.nurse, self.nasal, "CHAIR1")  # the monitor at CHAIR1 feeds it
        self.sessions = (self.nasal, self.iv)

    def session_ids(self) -> list[int]:
        with self.store.transaction() as db:
            return list(db.scalars(select(Session.id)))


@pytest.fixture(scope="module")
def clinic_factory(tmp_path_factory, sqlite_template):
    import shutil

    made: list[Clinic] = []

    def make(name: str) -> Clinic:
        path = tmp_path_factory.mktemp("fuzz") / f"{name}.sqlite3"
        shutil.copy(sqlite_template, path)
        c = Clinic(f"sqlite:///{path}")
        made.append(c)
        return c

    yield make
    for c in made:
        c.store.dispose()
    print(f"\nfuzz figures ({PROFILE}): {dict(FIGURES)}")


# ---------------------------------------------------------------- what every accepted call leaves


def _fine(value, low, high) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and math.isfinite(value) and low <= value <= high)


def impossible_values(c: Clinic) -> list[str]:
    """Every stored value outside the hard limits or its protocol's absolute range."""
    bad: list[str] = []
    with c.store.transaction() as db:
        for p in db.scalars(select(Patient)):
            if not _fine(p.weight_kg, hard_limits.WEIGHT.low, hard_limits.WEIGHT.high):
                bad.append(f"patient weight {p.weight_kg}")
            if not (date(1900, 1, 1) <= p.birth_date <= c.clock.now().date()):
                bad.append(f"birth date {p.birth_date}")
        for s in db.scalars(select(Session)):
            protocol = c.store.protocols.get(s.protocol_id, s.protocol_version)
            limit = hard_limits.DOSES[(protocol.drug, protocol.route)]
            if not _fine(s.planned_dose_mg, 0, limit.max_mg) or s.planned_dose_mg == 0:
                bad.append(f"planned dose {s.planned_dose_mg}")
            start = min(s.scheduled_at, s.created_at)
            for v in db.scalars(select(VitalSigns).where(VitalSigns.session_id == s.id)):
                for name, hard in hard_limits.VITALS.items():
                    value = getattr(v, name)
                    r = protocol.ranges.get(name)
                    if not _fine(value, hard.low, hard.high) or (value is not None and r is not None
                                                                 and not r.absolute.contains(value)):
                        bad.append(f"{name} {value}")
                if v.systolic is not None and v.diastolic is not None and v.diastolic >= v.systolic:
                    bad.append(f"BP {v.systolic}/{v.diastolic}")
                if v.consciousness not in (None, "A", "C", "V", "P", "U"):
                    bad.append(f"ACVPU {v.consciousness!r}")
                if v.measured_at > v.entered_at + timedelta(minutes=2) or v.measured_at < start - timedelta(hours=12):
                    bad.append(f"vitals at {v.measured_at}")
            for e in db.scalars(select(DoseEvent).where(DoseEvent.session_id == s.id)):
                if not _fine(e.amount_mg, 0, limit.max_mg) or e.amount_mg == 0:
                    bad.append(f"dose {e.amount_mg}")
                if e.kind == "nasal_device" and e.amount_mg not in (None, limit.mg_per_device):
                    bad.append(f"nasal device {e.amount_mg} mg")
                if not _fine(e.rate_mg_per_h, 0, hard_limits.INFUSION_RATE.high) or e.rate_mg_per_h == 0:
                    bad.append(f"rate {e.rate_mg_per_h}")
                if e.at > e.entered_at + timedelta(minutes=2) or e.at < start - timedelta(hours=12):
                    bad.append(f"dose at {e.at}")
            for se in db.scalars(select(SideEffect).where(SideEffect.session_id == s.id)):
                if se.score is not None:
                    if se.kind not in KIND_SCALES:
                        bad.append(f"{se.kind} score {se.score}")
                    elif not _fine(se.score, 0, 24):
                        bad.append(f"{se.kind} score {se.score}")
                if se.observed_at > se.entered_at + timedelta(minutes=2) or \
                        se.observed_at < start - timedelta(hours=12):
                    bad.append(f"side effect at {se.observed_at}")
    return bad


def everything_loads(c: Clinic, session_ids) -> None:
    for sid in session_ids:
        load_chart(c.store, sid, fresh=True)
        load_record(c.store, sid)
        report = build_report(c.store, sid)
        report.vitals_for_print(max_rows=2)  # the sets made into rows on demand: thinned, and all of them
        assert len(report.vitals) <= len(report.all_rows["vital_signs"])
        session_csv(c.store, sid)
        session_bundle(c.store, sid)


# ---------------------------------------------------------------- the operations and their arguments


def cases(c: Clinic):
    """op name -> (operation, actor, strategy of (args, kwargs)): half well-typed, half hostile."""
    _HOSTILE[0] = False
    good = _cases(c)
    _HOSTILE[0] = True
    bad = _cases(c)
    _HOSTILE[0] = False
    return {name: (op, actor, st.one_of(strategy, bad[name][2])) for name, (op, actor, strategy) in good.items()}


def _cases(c: Clinic):
    sid = st.one_of(st.sampled_from(c.sessions), ids())
    T = times(c.clock)
    vitals = st.fixed_dictionaries({}, optional={
        "measured_at": T, "systolic": num(20, 350, whole=True), "diastolic": num(10, 250, whole=True),
        "mean_arterial": num(15, 300, whole=True), "heart_rate": num(10, 350, whole=True),
        "spo2": num(0, 100, whole=True), "resp_rate": num(0, 80, whole=True), "temperature": num(25, 45),
        "on_oxygen": _maybe(st.booleans()), "consciousness": choice("A", "C", "V", "P", "U", "CV"),
        "source": choice("manual", "device"), "comment": text(), "entry_key": entry_keys()})
    return {
        "create_patient": (ops.create_patient, c.nurse, st.tuples(st.just(()), st.fixed_dictionaries({
            "mrn": st.one_of(st.uuids().map(str), text()), "family_name": text(), "given_name": text(),
            "birth_date": _maybe(st.dates(date(1850, 1, 1), date(2030, 1, 1))),
            "sex": choice("female", "male", "other", "unknown"), "weight_kg": num(20, 400)},
            optional={"allergies": text(), "contraindications": _maybe(st.just([])),
                      "concomitant_medications": _maybe(st.just(["opioids"]))}))),
        "update_patient": (ops.update_patient, c.nurse, st.tuples(st.tuples(ids()), st.fixed_dictionaries({}, optional={
            "weight_kg": num(20, 400), "sex": choice("female", "male"), "birth_date": _maybe(
                st.dates(date(1850, 1, 1), date(2030, 1, 1))), "given_name": text(),
            "allergies": text()}))),
        "create_session": (ops.create_session, c.nurse, st.tuples(st.just(()), st.fixed_dictionaries({
            "patient_id": ids(), "protocol_id": choice("esketamine-56", "iv-ketamine-0.5", "nope")},
            optional={"scheduled_at": T, "planned_dose_mg": num(1, 200), "weight_kg": num(20, 400),
                      "lot_number": text(), "nurse_id": ids(), "physician_id": ids()}))),
        "set_lot_number": (ops.set_lot_number, c.nurse, st.tuples(st.tuples(sid, text()), st.fixed_dictionaries(
            {}, optional={"correction_reason": text()}))),
        "record_vitals": (ops.record_vitals, c.nurse, st.tuples(st.tuples(sid), vitals)),
        "record_dose": (ops.record_dose, c.nurse, st.tuples(
            st.tuples(sid, choice("nasal_device", "infusion_rate", "infusion_pause", "infusion_resume",
                                  "infusion_stop", "im_injection")),
            st.fixed_dictionaries({}, optional={"at": T, "amount_mg": num(1, 200), "rate_mg_per_h": num(1, 300),
                                                "lot_number": text(), "site": text(), "comment": text(),
                                                "entry_key": entry_keys()}))),
        "correct_dose": (ops.correct_dose, c.nurse, st.tuples(st.tuples(sid, ids()), st.fixed_dictionaries(
            {"reason": text()}, optional={"retract": _maybe(st.booleans()), "at": T,
                                          "amount_mg": num(1, 200), "rate_mg_per_h": num(1, 300)}))),
        "record_side_effect": (ops.record_side_effect, c.nurse, st.tuples(
            st.tuples(sid, choice("sedation", "nausea", "dissociation", "vomiting", "headache", "other")),
            st.fixed_dictionaries({}, optional={
                "observed_at": T, "scale": choice("MOAA/S", "NRS-0-10", "CADSS-6", "severity-0-4"),
                "entry_key": entry_keys(),
                "score": num(0, 10), "text": text(),
                "items": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "6", "7", "15", "22", "3"]),
                                                   num(0, 4, whole=True), max_size=6), HOSTILE)}))),
        "add_note": (ops.add_note, c.nurse, st.tuples(st.tuples(sid, text()), st.fixed_dictionaries({}, optional={
            "at": T, "supersedes_id": ids(), "correction_reason": text(), "entry_key": entry_keys(),
            "retracted": _maybe(st.booleans())}))),
        "record_phq9": (ops.record_phq9, c.nurse, st.tuples(st.tuples(sid, st.one_of(
            st.dictionaries(st.sampled_from([str(i) for i in range(0, 11)]), num(0, 3, whole=True), max_size=10),
            HOSTILE)), st.fixed_dictionaries({}, optional={"at": T, "supersedes_id": ids(),
                                                           "correction_reason": text()}))),
        "record_predose_checklist": (ops.record_predose_checklist, c.nurse, st.tuples(st.tuples(sid),
            st.fixed_dictionaries({}, optional={k: _maybe(st.booleans()) for k in (
                "consent", "fasting", "medications_reviewed")} | {"comment": text(), "correction_reason": text()}))),
        "record_discharge_assessment": (ops.record_discharge_assessment, c.nurse, st.tuples(st.tuples(sid, st.one_of(
            st.dictionaries(st.text(max_size=12), num(0, 2, whole=True), max_size=6), HOSTILE)),
            st.fixed_dictionaries({}, optional={"at": T, "comment": text()}))),
        "record_discharge_checklist": (ops.record_discharge_checklist, c.nurse, st.tuples(st.tuples(sid),
            st.fixed_dictionaries({}, optional={"effects_resolved": _maybe(st.booleans()),
                                                "ready_to_leave_at": T, "comment": text(),
                                                "correction_reason": text()}))),
        "set_patient_limits": (ops.set_patient_limits, c.doctor, st.tuples(
            st.tuples(ids(), choice("systolic", "spo2", "heart_rate", "temperature", "pain"),
                      choice("critical", "abnormal")),
            st.fixed_dictionaries({"low": num(0, 300), "high": num(0, 300), "reason": text()}))),
        "acknowledge_alert": (ops.acknowledge_alert, c.nurse, st.tuples(st.tuples(ids()), st.just({}))),
        "review_alert": (ops.review_alert, c.doctor, st.tuples(st.tuples(ids(), text()), st.just({}))),
        "record_predose_decision": (ops.record_predose_decision, c.doctor, st.tuples(st.tuples(sid),
            st.fixed_dictionaries({"proceed": _maybe(st.booleans()), "reason": text()}))),
        "cancel_or_stop": (ops.stop_early, c.nurse, st.tuples(st.tuples(ids(), text()), st.just({}))),
        "add_user": (ops.add_user, c.admin, st.tuples(st.just(()), st.fixed_dictionaries({
            "username": text(), "display_name": text(), "role": choice("nurse", "physician", "king"),
            "password": st.one_of(st.just("long-enough-1"), text())}))),
        "set_clinic_setting": (ops.set_clinic_setting, c.admin, st.tuples(st.tuples(
            choice("clinic_name", "idle_lock_minutes", "future_tolerance_minutes", "database_url"),
            st.one_of(st.integers(-5, 2000), HOSTILE) if _HOSTILE[0] else st.integers(0, 15), text()), st.just({}))),
        "sign_session": (ops.sign_session, c.doctor, st.tuples(st.tuples(ids(), st.one_of(
            st.just(TEST_PASSWORD), text())), st.just({}))),
        "report_technical_problem": (ops.report_technical_problem, c.nurse, st.tuples(st.tuples(text(), text()),
            st.fixed_dictionaries({}, optional={"priority": choice("high", "low", "urgent"), "session_id": ids()}))),
        "place_session": (ops.place_session, c.nurse, st.tuples(st.tuples(sid, _maybe(
            st.sampled_from(["CHAIR1", "chair2", " "]) | text())), st.just({}))),
        "store_device_message": (ops.store_device_message, SYSTEM, st.tuples(st.tuples(st.one_of(
            st.binary(max_size=300), st.builds(feed_message, num(0, 400, whole=True), num(0, 120, whole=True)),
            HOSTILE)), st.just({}))),
        "validate_device_set": (ops.validate_device_set, c.nurse, st.tuples(st.tuples(ids()), st.just({}))),
        "mark_device_artefact": (ops.mark_device_artefact, c.nurse, st.tuples(st.tuples(ids(), text()),
                                                                              st.just({}))),
        "register_monitor": (ops.register_monitor, c.admin, st.tuples(st.tuples(text(), text()), st.just({}))),
    }


def feed_message(systolic, spo2) -> bytes:
    """A monitor message for the chair CHAIR1 (the fuzz sessions may be placed there)."""
    from tests.feed_corpus import message

    rows = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", str(systolic), "266016^MDC_DIM_MMHG^MDC"),
            ("150456^MDC_PULS_OXIM_SAT_O2^MDC", str(spo2), "%^^UCUM")]
    return message(rows, chair="CHAIR1", patient=None, sent=T0, obr_time=T0)


OPS = ["create_patient", "update_patient", "create_session", "set_lot_number", "record_vitals", "record_dose",
       "correct_dose", "record_side_effect", "add_note", "record_phq9", "record_predose_checklist",
       "record_discharge_assessment", "record_discharge_checklist", "set_patient_limits", "acknowledge_alert",
       "review_alert", "record_predose_decision", "cancel_or_stop", "add_user", "set_clinic_setting",
       "report_technical_problem", "sign_session", "place_session", "store_device_message", "validate_device_set",
       "mark_device_artefact", "register_monitor"]


@pytest.fixture(scope="module")
def pg_clinic_factory(pg_database):
    """The same clinic on PostgreSQL, its tables emptied before each operation."""
    from sqlalchemy import text

    from ketamon.core.models import Base

    made: list[Clinic] = []

    def make(name: str) -> Clinic:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        eng = Store(pg_database, run_migrations=False)
        with eng.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        eng.dispose()
        c = Clinic(pg_database)
        made.append(c)
        return c

    yield make
    for c in made:
        c.store.dispose()


#: PostgreSQL: fewer cases per operation (its own types, limits and errors are what
#: differ from SQLite; the generated input is the same)
PG_PER_OP = {"default": 15, "fuzz": 150}


@pytest.mark.postgres
@pytest.mark.parametrize("name", OPS)
def test_generated_input_on_postgresql(pg_clinic_factory, name):
    _fuzz(pg_clinic_factory(name), name, PG_PER_OP[PROFILE])


@pytest.mark.parametrize("name", OPS)
def test_generated_input_is_refused_cleanly_or_stored_within_limits(clinic_factory, name):
    _fuzz(clinic_factory(name), name, PER_OP[PROFILE])


def _fuzz(c: "Clinic", name: str, examples: int) -> None:
    operation, actor, strategy = cases(c)[name]

    @settings(settings.get_profile(PROFILE), max_examples=examples)
    @given(call=strategy)
    def run(call):
        args, kwargs = call
        FIGURES["cases"] += 1
        c.clock.advance(seconds=7)
        try:
            operation(c.store, actor, *args, **kwargs)
        except KetamonError:
            FIGURES["refused"] += 1
            return
        except Exception:
            FIGURES["crashes"] += 1
            raise
        FIGURES["accepted"] += 1
        bad = impossible_values(c)
        FIGURES["impossible values stored"] += len(bad)
        assert bad == [], f"{name}{args}{kwargs} stored {bad}"
        everything_loads(c, c.sessions)

    run()
    everything_loads(c, c.session_ids())
