"""A generated clinic database: about two years of a busy clinic, for timing the
screens at the size a clinic reaches (benchmarks/bench.py).

    .venv/bin/python benchmarks/clinic_db.py                          # 100,000 sessions, SQLite, cached
    .venv/bin/python benchmarks/clinic_db.py --sessions 5000
    .venv/bin/python benchmarks/clinic_db.py --url postgresql+psycopg://127.0.0.1:5432/ketamon_clinic

Rows are bulk-inserted with SQLAlchemy Core (`insert(table)` with a list of rows:
executemany), not through the operations: the operations would take as long as
the clinic did. So this is for reading only — a benchmark database, never a
clinical one. What it holds is shaped like the real thing: users, ~8,000
patients (one per 12.5 sessions) each with a course of sessions, per session
~15-30 vital-sign sets, the doses, pre-dose checklist, PHQ-9 and discharge
assessments, the state changes, side effects, alerts (~3 per session: almost all
acknowledged, reviewed and cleared; a few awaiting review), and an audit trail
(~10 rows per session) whose hash chain is valid, so `ketamon audit verify`
walks all of it. Nearly every past session is signed; a few are cancelled,
stopped or awaiting a signature; a dozen are today, in every live state.

The SQLite file is cached under /tmp, keyed by the parameters, the day and the
schema, so a rerun on the same day opens it at once.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from ketamon.core import audit  # noqa: E402
from ketamon.core.models import (  # noqa: E402
    Alert,
    Assessment,
    AuditEntry,
    AuditHead,
    Base,
    DoseEvent,
    Patient,
    Session,
    SideEffect,
    StateChange,
    User,
    VitalSigns,
)
from ketamon.core.store import Store, make_engine, migrate  # noqa: E402

CACHE_DIR = Path(os.environ.get("KETAMON_BENCH_CACHE", "/tmp/ketamon-bench-cache"))
#: (protocol id, share of sessions)
PROTOCOL_MIX = [("esketamine-56", 0.35), ("esketamine-84", 0.30), ("iv-ketamine-0.5", 0.25), ("im-ketamine", 0.10)]
FAMILY = ["Nguyen", "Okafor", "Rossi", "Berg", "Smith", "Garcia", "Müller", "Kowalski", "Haddad", "Tanaka",
          "Johansson", "Dubois", "O'Brien", "Silva", "Novak", "Cohen", "Andersen", "Kaur", "Petrov", "Ahmed",
          "Moreau", "Lindqvist", "Rahman", "Fischer", "Costa", "Jensen", "Mendes", "Popescu", "Varga", "Ivanova"]
GIVEN = ["Lan", "Daniel", "Maria", "Tom", "Anna", "James", "Sofia", "Omar", "Lena", "Pavel", "Aisha", "Noah",
         "Emma", "Lucas", "Mia", "Ravi", "Chloe", "Felix", "Yara", "Hugo", "Ines", "Kofi", "Nora", "Sven"]
TODAY_STATES = ["planned", "planned", "planned", "pre_dose", "monitoring", "monitoring", "monitoring",
                "recovery", "recovery", "discharged", "discharged", "signed"]
CHUNK = 20_000


def schema_fingerprint() -> str:
    """Changes with the schema: its revision, every column and every index (a
    cached clinic without a new index would measure the old plan)."""
    from ketamon.migrations import HEAD

    cols = ";".join(f"{t.name}:{','.join(c.name for c in t.columns)}:{','.join(sorted(i.name for i in t.indexes))}"
                    for t in Base.metadata.sorted_tables)
    return hashlib.sha256(f"{HEAD};{cols}".encode()).hexdigest()[:10]


def cache_path(sessions: int, seed: int, today: date) -> Path:
    return CACHE_DIR / f"clinic-{sessions}-s{seed}-{today:%Y%m%d}-{schema_fingerprint()}.sqlite3"


# ---------------------------------------------------------------- generation


class Clinic:
    """Builds the rows table by table, in id order, and writes them in chunks."""

    def __init__(self, store: Store, sessions: int, seed: int, now: datetime):
        self.store = store
        self.n_sessions = sessions
        self.rng = random.Random(seed)
        self.now = now
        self.ids = {t: 0 for t in ("vital_signs", "dose_events", "assessments", "state_changes", "side_effects",
                                   "alerts")}
        self.buffers: dict = {}
        self.counts: dict[str, int] = {}
        self.audit_prev = audit.GENESIS
        self.audit_id = 0

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, table, row: dict) -> None:
        buf = self.buffers.setdefault(table, [])
        buf.append(row)
        if len(buf) >= CHUNK:
            self.flush()  # every table, parents first (foreign keys)

    def flush(self) -> None:
        with self.store.engine.begin() as c:
            for t in Base.metadata.sorted_tables:
                rows = self.buffers.get(t)
                if rows:
                    c.execute(insert(t), rows)
                    self.counts[t.name] = self.counts.get(t.name, 0) + len(rows)
                    self.buffers[t] = []

    def audit(self, at: datetime, user: tuple[int, str], action: str, entity: str | None, entity_id: int | None,
              session_id: int | None, after: dict | None = None, detail: str | None = None) -> None:
        self.audit_id += 1
        # the chain's own hash function, over a plain object (an ORM instance per row costs half the run)
        row = SimpleNamespace(id=self.audit_id, at=at, user_id=user[0], username=user[1], action=action,
                              entity=entity, entity_id=entity_id, session_id=session_id, before=None, after=after,
                              detail=detail, prev_hash=self.audit_prev)
        row.hash = audit.row_hash(row)
        self.audit_prev = row.hash
        self.add(AuditEntry.__table__, dict(id=row.id, at=at, user_id=user[0], username=user[1], action=action,
                                            entity=entity, entity_id=entity_id, session_id=session_id, before=None,
                                            after=after, detail=detail, prev_hash=row.prev_hash, hash=row.hash))

    # ------------------------------------------------------------ people

    def users(self) -> None:
        rows, self.nurses, self.physicians = [], [], []
        spec = [("nurse", 20), ("physician", 6), ("staff", 3), ("admin", 2)]
        uid = 0
        start = self.now - timedelta(days=800)
        for role, n in spec:
            for i in range(n):
                uid += 1
                name = f"{self.rng.choice(GIVEN)} {self.rng.choice(FAMILY)}"
                username = f"{role}{i + 1}"
                rows.append(dict(id=uid, username=username, display_name=name + (" RN" if role == "nurse" else ""),
                                 role=role, password_hash=None, active=True, failed_attempts=0,
                                 must_change_password=False, created_at=start))
                if role == "nurse":
                    self.nurses.append((uid, username))
                elif role == "physician":
                    self.physicians.append((uid, username))
        with self.store.engine.begin() as c:
            c.execute(insert(User.__table__), rows)
        self.counts["users"] = len(rows)

    def patients(self) -> list[int]:
        n = max(1, round(self.n_sessions / 12.5))
        start = self.now - timedelta(days=760)
        for pid in range(1, n + 1):
            fam, giv = self.rng.choice(FAMILY), self.rng.choice(GIVEN)
            created = start + timedelta(minutes=self.rng.randrange(0, 730 * 24 * 60))
            self.add(Patient.__table__, dict(
                id=pid, mrn=f"MRN-{200000 + pid}", family_name=fam, given_name=giv,
                birth_date=date(1950 + self.rng.randrange(55), 1 + self.rng.randrange(12), 1 + self.rng.randrange(28)),
                sex=self.rng.choice(("female", "male", "female", "male", "other", "unknown")),
                weight_kg=round(self.rng.uniform(48, 115), 1), allergies="", contraindications=[],
                concomitant_medications=["benzodiazepines"] if self.rng.random() < 0.15 else [],
                created_at=created, created_by_id=self.rng.choice(self.nurses)[0]))
        self.flush()
        self.counts["patients"] = n
        return list(range(1, n + 1))

    # ------------------------------------------------------------ sessions

    def schedule(self) -> list[tuple[datetime, str]]:
        """(scheduled time, kind) for every session: past ones over two years in
        clinic hours, then a dozen today around now."""
        today = self.now.astimezone().date()
        n_today = min(len(TODAY_STATES), max(1, self.n_sessions // 1000 + 4))
        n_past = self.n_sessions - n_today
        out = []
        for _ in range(n_past):
            day = today - timedelta(days=1 + self.rng.randrange(730))
            local = datetime(day.year, day.month, day.day, 8, 0).astimezone()
            out.append((local + timedelta(minutes=self.rng.randrange(0, 9 * 60, 5)), "past"))
        out.sort()
        for i in range(n_today):
            state = TODAY_STATES[i]
            offset = {"planned": 30 + 20 * i, "pre_dose": -10, "monitoring": -30 - 10 * i, "recovery": -100 - 5 * i,
                      "discharged": -200 - 10 * i, "signed": -260}[state]
            out.append((self.now + timedelta(minutes=offset), state))
        return out

    def sessions(self, patients: list[int]) -> None:
        protocols = {pid: self.store.protocols.get(pid) for pid, _ in PROTOCOL_MIX}
        names, weights = zip(*PROTOCOL_MIX)
        patient_protocol: dict[int, str] = {}
        for sid, (at, kind) in enumerate(self.schedule(), start=1):
            patient = self.rng.choice(patients)
            pid = patient_protocol.setdefault(patient, self.rng.choices(names, weights)[0])
            p = protocols[pid]
            nurse, doctor = self.rng.choice(self.nurses), self.rng.choice(self.physicians)
            if kind == "past":
                r = self.rng.random()
                state = ("signed" if r < 0.955 else "cancelled" if r < 0.975 else "stopped" if r < 0.985
                         else "discharged")
                if state == "discharged" and at < self.now - timedelta(days=30):
                    state = "signed"  # old ones are all signed by now
            else:
                state = kind
            self.session(sid, patient, p, at, state, nurse, doctor)
        self.flush()

    def session(self, sid, patient, p, at, state, nurse, doctor) -> None:
        rng = self.rng
        first = at + timedelta(minutes=8)
        end = first + timedelta(minutes=rng.randrange(100, 140))  # discharged
        signed = state == "signed"
        path = {"planned": [], "pre_dose": ["pre_dose"], "monitoring": ["pre_dose", "dosing", "monitoring"],
                "recovery": ["pre_dose", "dosing", "monitoring", "recovery"],
                "discharged": ["pre_dose", "dosing", "monitoring", "recovery", "discharged"],
                "signed": ["pre_dose", "dosing", "monitoring", "recovery", "discharged", "signed"],
                "cancelled": ["cancelled"], "stopped": ["pre_dose", "dosing", "monitoring", "stopped"]}[state]
        until = min(end, self.now) if state not in ("planned", "pre_dose", "cancelled") else at + timedelta(minutes=5)
        if state == "stopped":
            until = first + timedelta(minutes=35)
        self.add(Session.__table__, dict(
            id=sid, patient_id=patient, protocol_id=p.id, protocol_version=p.version, route=p.route,
            planned_dose_mg=p.dose.mg if p.route != "im" else 35.0, dose_weight_kg=None,
            lot_number=f"{24 + (at.year - 2024)}K{rng.randrange(100, 999)}" if p.route == "nasal" else None,
            nurse_id=nurse[0], physician_id=doctor[0], state=state,
            state_reason="patient unwell on arrival" if state == "cancelled" else (
                "BP did not settle" if state == "stopped" else None),
            scheduled_at=at, created_at=at - timedelta(days=rng.randrange(1, 14)), created_by_id=nurse[0],
            ready_to_leave_at=end - timedelta(minutes=10) if state in ("discharged", "signed") else None,
            signed_at=end + timedelta(hours=rng.randrange(1, 30)) if signed else None,
            signed_by_id=doctor[0] if signed else None))
        self.audit(at - timedelta(days=1), nurse, "create", "session", sid, sid,
                   after={"protocol_id": p.id, "state": "planned"})
        prev = "planned"
        times = {"pre_dose": at + timedelta(minutes=2), "dosing": first, "monitoring": first + timedelta(minutes=6),
                 "recovery": first + timedelta(minutes=95), "discharged": end, "cancelled": at,
                 "stopped": until, "signed": end + timedelta(hours=2)}
        for to in path:
            t = min(times[to], self.now)
            self.add(StateChange.__table__, dict(id=self.next_id("state_changes"), session_id=sid, from_state=prev,
                                                 to_state=to, at=t, by_id=(doctor if to == "signed" else nurse)[0],
                                                 reason=None))
            if to in ("signed", "discharged", "cancelled", "stopped"):
                self.audit(t, doctor if to == "signed" else nurse, "sign" if to == "signed" else "update", "session",
                           sid, sid, detail=f"state {prev} → {to}")
            prev = to
        if state in ("planned", "cancelled"):
            return
        # pre-dose checks
        for kind, items, total in (("predose_checklist", {"consent": True, "fasting": True,
                                                          "contraindications_reviewed": True,
                                                          "medications_reviewed": True}, None),
                                   ("phq9", {str(i): rng.randrange(3) for i in range(1, 10)}, None)):
            if kind == "phq9":
                items["9"] = 0
                total = sum(items.values())
            aid = self.next_id("assessments")
            self.add(Assessment.__table__, dict(id=aid, session_id=sid, at=at + timedelta(minutes=3),
                                                entered_at=at + timedelta(minutes=3), entered_by_id=nurse[0],
                                                kind=kind, items=items, total=total, retracted=False))
            self.audit(at + timedelta(minutes=3), nurse, "create", "assessment", aid, sid)
        # vital signs: a baseline, then every 5-10 min to the end (or now)
        n_sets = 0
        t = at + timedelta(minutes=5)
        bp0, hr0 = rng.randrange(112, 138), rng.randrange(60, 86)
        while t <= until and n_sets < 32:
            peak = 1.0 if first <= t <= first + timedelta(minutes=60) else 0.0
            sy = bp0 + int(peak * rng.randrange(0, 30))
            vid = self.next_id("vital_signs")
            self.add(VitalSigns.__table__, dict(
                id=vid, session_id=sid, measured_at=t, entered_at=t + timedelta(seconds=rng.randrange(5, 90)),
                entered_by_id=nurse[0], source="manual", systolic=sy, diastolic=sy * 2 // 3 - 5,
                mean_arterial=(sy + 2 * (sy * 2 // 3 - 5)) // 3, mean_measured=False,
                heart_rate=hr0 + rng.randrange(-4, 12), spo2=rng.randrange(95, 100), resp_rate=rng.randrange(12, 18),
                temperature=None, on_oxygen=False, consciousness="A", comment=None, late=False,
                supersedes_id=None, correction_reason=None, retracted=False))
            if n_sets % 4 == 0:
                self.audit(t, nurse, "create", "vital_signs", vid, sid)
            n_sets += 1
            t += timedelta(minutes=rng.choice((4, 5, 5, 6, 8, 10)))
        if state == "pre_dose":
            return
        # doses
        doses = []
        if p.route == "nasal":
            doses = [dict(kind="nasal_device", at=first + timedelta(minutes=5 * i), device_number=i + 1,
                          amount_mg=p.dose.mg_per_device, rate_mg_per_h=None) for i in range(p.dose.devices or 2)]
        elif p.route == "iv":
            doses = [dict(kind="infusion_start", at=first, device_number=None, amount_mg=None,
                          rate_mg_per_h=round(rng.uniform(30, 60), 1)),
                     dict(kind="infusion_stop", at=first + timedelta(minutes=40), device_number=None, amount_mg=None,
                          rate_mg_per_h=None)]
        else:
            doses = [dict(kind="im_injection", at=first, device_number=None, amount_mg=35.0, rate_mg_per_h=None)]
        for d in doses:
            if d["at"] > self.now:
                continue
            did = self.next_id("dose_events")
            self.add(DoseEvent.__table__, dict(id=did, session_id=sid, entered_at=d["at"], entered_by_id=nurse[0],
                                               lot_number=None, site=None, comment=None, late=False,
                                               supersedes_id=None, correction_reason=None, retracted=False, **d))
            self.audit(d["at"], nurse, "create", "dose_event", did, sid)
        # side effects
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            se = rng.choice(("sedation", "nausea", "dizziness"))
            obs = first + timedelta(minutes=rng.randrange(10, 60))
            if obs > self.now:
                continue
            seid = self.next_id("side_effects")
            self.add(SideEffect.__table__, dict(id=seid, session_id=sid, observed_at=obs, entered_at=obs,
                                                entered_by_id=nurse[0], kind=se,
                                                scale="mobs" if se == "sedation" else None,
                                                score=rng.randrange(3, 6) if se == "sedation" else None,
                                                items=None, text="mild" if se != "sedation" else None, late=False,
                                                supersedes_id=None, correction_reason=None, retracted=False))
        # alerts: about three per session
        live = state in ("monitoring", "recovery")
        for k in range(rng.choice((1, 2, 3, 3, 4, 5))):
            raised = first + timedelta(minutes=rng.randrange(5, 90))
            if raised > self.now:
                continue
            key, prio, msg = rng.choice([
                ("bp_high", "medium", "BP 168/101: systolic 168 above the abnormal limit 160"),
                ("overdue:40", "medium", "40-minute vital signs overdue"),
                ("spo2_low", "high", "SpO2 91% below the abnormal limit 92"),
                ("sedation", "low", "Sedation: MOAA/S 2")])
            ended = not live
            reviewed = state == "signed" or (state in ("stopped",) and rng.random() < 0.5)
            self.add(Alert.__table__, dict(
                id=self.next_id("alerts"), session_id=sid, category="patient", condition_key=f"{key}#{k}",
                priority=prio, message=msg, raised_at=raised, source_kind="vital_signs", source_id=None,
                rule="range_abnormal" if key != "overdue:40" else "overdue",
                acknowledged_at=raised + timedelta(seconds=rng.randrange(10, 120)) if ended or k else None,
                acknowledged_by_id=nurse[0] if ended or k else None,
                cleared_at=raised + timedelta(minutes=rng.randrange(3, 20)) if ended else None,
                reviewed_at=end + timedelta(hours=1) if reviewed else None,
                reviewed_by_id=doctor[0] if reviewed else None,
                review_comment="Expected; settled" if reviewed else None))
        if state in ("monitoring", "stopped"):
            return
        # discharge assessment and checklist
        kind = "aldrete" if p.discharge_score == "aldrete" else "padss"
        items = ({"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2}
                 if kind == "aldrete" else {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2,
                                            "bleeding": 2})
        for kind_, items_, total in ((kind, items, 10), ("discharge_checklist",
                                                         {"effects_resolved": True, "escort_present": True,
                                                          "instructions_given": True}, None)):
            t = min(end - timedelta(minutes=5), self.now)
            aid = self.next_id("assessments")
            self.add(Assessment.__table__, dict(id=aid, session_id=sid, at=t, entered_at=t, entered_by_id=nurse[0],
                                                kind=kind_, items=items_, total=total, retracted=False))
            self.audit(t, nurse, "create", "assessment", aid, sid)

    def finish(self) -> None:
        self.flush()
        with self.store.engine.begin() as c:
            c.execute(insert(AuditHead.__table__), [dict(id=1, last_id=self.audit_id, last_hash=self.audit_prev,
                                                         rows=self.audit_id)])
            if self.store.dialect == "postgresql":  # ids were given explicitly: move the sequences on
                for t in Base.metadata.sorted_tables:
                    if "id" in t.columns and t.name not in ("audit_head",):
                        c.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                                       f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {t.name}), 1))"))
        self.counts["audit_log"] = self.audit_id


def generate(store: Store, sessions: int, seed: int = 8, now: datetime | None = None,
             log=lambda *a: None) -> dict[str, int]:
    """Fill an empty, migrated database. Returns row counts by table."""
    now = now or datetime.now(timezone.utc)
    t0 = time.perf_counter()
    clinic = Clinic(store, sessions, seed, now)
    clinic.users()
    patients = clinic.patients()
    log(f"  users and {len(patients)} patients ({time.perf_counter() - t0:.1f} s)")
    clinic.sessions(patients)
    clinic.finish()
    # the rows were written in bulk, as a migration from another system would be:
    # one baseline audit row lists them all, so `audit verify` covers the record
    from ketamon.core import audit

    with store.transaction() as db:
        audit.baseline(db, now, "generated clinic (benchmarks/clinic_db.py)")
    clinic.counts["audit_log"] += 1
    log(f"  {sessions} sessions in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(clinic.counts.items())))
    return clinic.counts


def copy_sqlite_into(source: Path, engine) -> dict[str, int]:
    """Copy every table of a generated SQLite clinic into a migrated, empty
    PostgreSQL database with COPY (the same rows, so the two are comparable;
    minutes faster than generating again). Returns row counts."""
    import sqlite3

    counts: dict[str, int] = {}
    src = sqlite3.connect(source)
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cur:
            for t in Base.metadata.sorted_tables:
                if t.name == "alembic_version":
                    continue
                cols = [c.name for c in t.columns]
                quoted = ", ".join(f'"{c}"' for c in cols)
                n = 0
                with cur.copy(f'COPY "{t.name}" ({quoted}) FROM STDIN') as cp:
                    for row in src.execute(f"SELECT {quoted} FROM \"{t.name}\""):
                        cp.write_row(row)
                        n += 1
                counts[t.name] = n
                if "id" in t.columns and n:
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                                f"(SELECT MAX(id) FROM \"{t.name}\"))")
        pg.commit()
    finally:
        raw.close()
        src.close()
    return counts


def open_clinic(url: str | None = None, *, sessions: int = 100_000, seed: int = 8, rebuild: bool = False,
                log=print) -> tuple[str, dict]:
    """The URL of a generated clinic database (SQLite: the cached file under
    CACHE_DIR, built when missing; `url`: that database, emptied and filled — for
    PostgreSQL by copying the cached SQLite clinic in) and what it took:
    {"built_s": …, "cached": bool, "counts": …}."""
    today = datetime.now().astimezone().date()
    if url is None:
        path = cache_path(sessions, seed, today)
        if path.exists() and not rebuild:
            return f"sqlite:///{path}", {"cached": True, "built_s": 0.0, "path": str(path)}
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        for suffix in ("", "-wal", "-shm"):
            Path(str(part) + suffix).unlink(missing_ok=True)
        target = f"sqlite:///{part}"
    else:
        target = url
        engine = make_engine(url)
        with engine.begin() as c:
            if engine.dialect.name == "postgresql":
                c.execute(text("DROP SCHEMA public CASCADE"))
                c.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    engine = make_engine(target)
    migrate(engine)
    if engine.dialect.name == "postgresql":  # the same clinic as the SQLite file, copied in
        source, _info = open_clinic(None, sessions=sessions, seed=seed, log=log)
        t0 = time.perf_counter()
        log(f"copying the clinic of {sessions} sessions into {target.split('@')[-1]} …")
        counts = copy_sqlite_into(Path(source.removeprefix("sqlite:///")), engine)
        engine.dispose()
        return url, {"cached": False, "built_s": round(time.perf_counter() - t0, 1), "counts": counts}
    engine.dispose()
    store = Store(target, run_migrations=False)
    if store.dialect == "sqlite":  # a throwaway file being filled: no need to wait for the disk
        from sqlalchemy import event

        @event.listens_for(store.engine, "connect")
        def _fast(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA synchronous=OFF")
        store.engine.dispose()
    t0 = time.perf_counter()
    log(f"generating a clinic of {sessions} sessions in {target.split('@')[-1]} …")
    counts = generate(store, sessions, seed, log=log)
    built = time.perf_counter() - t0
    store.dispose()
    if url is None:
        # closing the last connection (store.dispose above) checkpointed the WAL into the file
        os.replace(part, path)
        return f"sqlite:///{path}", {"cached": False, "built_s": round(built, 1), "counts": counts,
                                     "path": str(path)}
    return url, {"cached": False, "built_s": round(built, 1), "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--url", help="fill this database (emptied first!) instead of the cached SQLite file")
    parser.add_argument("--rebuild", action="store_true", help="build the SQLite file even when cached")
    args = parser.parse_args()
    url, info = open_clinic(args.url, sessions=args.sessions, seed=args.seed, rebuild=args.rebuild)
    print(url, info)


if __name__ == "__main__":
    main()
