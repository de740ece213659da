"""One way to walk a session through its steps: for the demo, the tests and the
benchmark.

Every step goes through ketamon.core.ops, so every rule applies — permissions,
validation, the audit trail, the alert engine — exactly as when a nurse charts
live. Nothing here inserts rows behind the operations' back: a scenario that a
rule refuses is a scenario the clinic could not have produced, and it should
fail loudly rather than be forced into the database.

Time is driven, never slept: a step happens "now" on the store's clock. Tests
and the benchmark give the store a FakeClock and move it; `Stepper` swaps a
FakeClock in for a store with a real clock (the demo) and puts it back after.

    from ketamon.core import scenario
    sid = scenario.new_session(store, nurse, scenario.new_patient(store, nurse), "esketamine-56")
    scenario.ready_for_dose(store, nurse, sid)                 # checklist, PHQ-9, baseline
    scenario.device_data(store, nurse, sid, seconds=3600)     # an hour of 1 Hz monitor sets
    sid = scenario.device_session(store, nurse, hours=12, hz=1)
    sid, overdue_at = scenario.overdue_session(store, nurse, overdue_in_s=5)
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from ketamon.core import ops
from ketamon.core.clock import Clock, FakeClock
from ketamon.core.permissions import Actor
from ketamon.core.store import Store

#: a PHQ-9 with every item 0 (no item 9 follow-up needed)
ALL_ZERO_PHQ9: dict[str, int] = {str(i): 0 for i in range(1, 10)}
#: a full Aldrete score (10/10): fit for discharge
FULL_ALDRETE: dict[str, int] = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2}
#: the pre-dose baseline a ready session gets unless told otherwise
BASELINE: dict = dict(systolic=120, diastolic=80, heart_rate=72, spo2=98, resp_rate=14, consciousness="A",
                      on_oxygen=False)

_mrn_counter = itertools.count(1)


# ---------------------------------------------------------------- time


class Stepper:
    """Runs operations at chosen moments by swapping a FakeClock into the store
    (`with Stepper(store) as t: t.at(when); ops....`); the store's own clock comes
    back afterwards. For stores whose clock is already a FakeClock, moving that
    clock is simpler (`clock.set`)."""

    def __init__(self, store: Store, start: datetime | None = None):
        self.store = store
        self.real: Clock = store.clock
        self.fake = FakeClock(start or store.clock.now())

    def __enter__(self) -> "Stepper":
        self.store.clock = self.fake
        return self

    def __exit__(self, *exc) -> None:
        self.store.clock = self.real

    def at(self, when: datetime) -> "Stepper":
        self.fake.set(when)
        return self


@contextmanager
def _movable_clock(store: Store, start: datetime | None = None) -> Iterator[FakeClock]:
    """The store's clock if it can be moved, else a Stepper's FakeClock (from `start`)."""
    if isinstance(store.clock, FakeClock):
        if start is not None:
            store.clock.set(start)
        yield store.clock
    else:
        with Stepper(store, start) as t:
            yield t.fake


# ---------------------------------------------------------------- patients and sessions


def new_patient(store: Store, actor: Actor, *, mrn: str | None = None, family_name: str = "Bench",
                given_name: str = "Test", birth_date: date = date(1980, 1, 1), sex: str = "unknown",
                weight_kg: float = 70.0, **more) -> int:
    """A registered patient (ops.create_patient); a unique MRN unless given."""
    mrn = mrn or f"SCN-{store.clock.now():%Y%m%d%H%M%S}-{next(_mrn_counter)}"
    return ops.create_patient(store, actor, mrn=mrn, family_name=family_name, given_name=given_name,
                              birth_date=birth_date, sex=sex, weight_kg=weight_kg, **more).result


def new_session(store: Store, actor: Actor, patient_id: int, protocol_id: str = "esketamine-56", **more) -> int:
    """A planned session (ops.create_session); `more` as create_session takes it."""
    return ops.create_session(store, actor, patient_id=patient_id, protocol_id=protocol_id, **more).result


def _phq9(items: Sequence[int] | Mapping[str, int] | None) -> dict[str, int]:
    if items is None:
        return dict(ALL_ZERO_PHQ9)
    if isinstance(items, Mapping):
        return dict(items)
    return {str(i): v for i, v in enumerate(items, start=1)}


def predose_checks(store: Store, actor: Actor, session_id: int, phq9: Sequence[int] | Mapping[str, int] | None = None,
                   *, start: bool = False) -> None:
    """Checklist ticked and PHQ-9 entered, as a nurse does before the first dose
    (`start` first moves the session to pre-dose checks explicitly)."""
    if start:
        ops.start_predose_checks(store, actor, session_id)
    ops.record_predose_checklist(store, actor, session_id, consent=True, fasting=True,
                                 contraindications_reviewed=True, medications_reviewed=True)
    ops.record_phq9(store, actor, session_id, _phq9(phq9))


def ready_for_dose(store: Store, actor: Actor, session_id: int, *, baseline: bool | Mapping = True,
                   phq9: Sequence[int] | Mapping[str, int] | None = None) -> None:
    """What the first dose needs (ketamon.core.lifecycle): the pre-dose checklist, a
    PHQ-9 (all 0 unless given) and, unless `baseline=False`, a baseline set
    (BASELINE, or the values given as a mapping)."""
    predose_checks(store, actor, session_id, phq9)
    if baseline:
        values = BASELINE if baseline is True else dict(baseline)
        ops.record_vitals(store, actor, session_id, **values)


def to_recovery(store: Store, nurse: Actor, session_id: int, clock: FakeClock, *,
                baseline: Mapping | None = None) -> datetime:
    """An esketamine 56 mg session dosed (two devices 5 min apart), a set at 40 min,
    and moved to recovery at 100 min. Returns the first device's time."""
    ready_for_dose(store, nurse, session_id,
                   baseline=baseline or dict(systolic=124, diastolic=80, heart_rate=72, spo2=98, resp_rate=14))
    ops.record_dose(store, nurse, session_id, "nasal_device")
    first = clock.now()
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, session_id, "nasal_device")
    clock.set(first + timedelta(minutes=40))
    ops.record_vitals(store, nurse, session_id, systolic=140, diastolic=88, heart_rate=80, spo2=97, resp_rate=14)
    clock.set(first + timedelta(minutes=100))
    ops.move_to_recovery(store, nurse, session_id)
    return first


def to_discharged(store: Store, nurse: Actor, session_id: int, clock: FakeClock) -> datetime:
    """`to_recovery`, then a set, a full Aldrete, the discharge checklist and the
    discharge at 125 min. Returns the first device's time."""
    first = to_recovery(store, nurse, session_id, clock)
    ops.record_vitals(store, nurse, session_id, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)
    ops.record_discharge_assessment(store, nurse, session_id, FULL_ALDRETE)
    ops.record_discharge_checklist(store, nurse, session_id, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=95))
    clock.set(first + timedelta(minutes=125))
    ops.discharge(store, nurse, session_id)
    return first


# ---------------------------------------------------------------- long sessions (benchmark, big-session tests)


def manual_vitals(store: Store, actor: Actor, session_id: int, *, count: int, every_minutes: float = 5,
                  values: Callable[[int], Mapping] | None = None) -> None:
    """`count` manual sets, one every `every_minutes` on the store's (movable)
    clock, from its current time; the clock ends after the last set."""
    values = values or (lambda i: dict(systolic=120 + i % 20, diastolic=75 + i % 10, heart_rate=70 + i % 15,
                                       spo2=97, resp_rate=14))
    with _movable_clock(store) as clock:
        for i in range(count):
            ops.record_vitals(store, actor, session_id, **values(i))
            clock.advance(minutes=every_minutes)


def manual_session(store: Store, actor: Actor, *, hours: float = 2.0, protocol_id: str = "iv-ketamine-0.5",
                   every_minutes: float = 5) -> int:
    """A manual session: a set every `every_minutes` for `hours` from the store's
    clock (which ends at the end of the data)."""
    sid = new_session(store, actor, new_patient(store, actor, given_name="Manual"), protocol_id)
    manual_vitals(store, actor, sid, count=int(hours * 60 / every_minutes), every_minutes=every_minutes)
    return sid


def device_data(store: Store, actor: Actor, session_id: int, *, seconds: float, hz: float = 1,
                nibp_every_s: int = 300, start: datetime | None = None,
                progress: Callable[[int, int], None] | None = None) -> None:
    """`seconds` of monitor data at `hz`, each set through ops.record_vitals as the
    device feed would save it: HR, SpO2 and RR every sample, a NIBP every
    `nibp_every_s`. From `start` (default: the store's clock); the store's clock
    is left at the end of the data when it is a FakeClock. One operation per set,
    so this takes as long as that many saves (milliseconds each)."""
    step = timedelta(seconds=1 / hz)
    n = int(seconds * hz)
    every = max(1, int(nibp_every_s * hz))
    with _movable_clock(store, start) as clock:
        for i in range(n):
            bp = i % every == 0
            ops.record_vitals(store, actor, session_id, source="device", heart_rate=70 + i % 9, spo2=97 + i % 3,
                              resp_rate=14, systolic=120 + i % 7 if bp else None,
                              diastolic=78 + i % 5 if bp else None)
            if progress is not None and i % 1000 == 0:
                progress(i, n)
            clock.advance(seconds=step.total_seconds())


def device_session(store: Store, actor: Actor, *, hours: float = 12, hz: float = 1, nibp_every_s: int = 300,
                   protocol_id: str = "iv-ketamine-0.5", dosed: bool = False, start: datetime | None = None,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """A session with `hours` of 1 Hz (or `hz`) device data. `dosed`: ready for dose
    and the first dose given first (an infusion started, or a nasal device), so
    the session is live and every in-session rule runs. From `start` (default:
    the store's clock)."""
    with _movable_clock(store, start) as clock:
        nasal = store.protocols.get(protocol_id).route == "nasal"
        sid = new_session(store, actor, new_patient(store, actor, given_name="Monitor"), protocol_id,
                          **({"lot_number": "SCN-LOT"} if nasal else {}))
        if dosed:
            ready_for_dose(store, actor, sid)
            clock.advance(seconds=30)
            route = store.protocols.get(protocol_id).route
            if route == "iv":
                ops.record_dose(store, actor, sid, "infusion_start", rate_mg_per_h=35)
            elif route == "im":
                ops.record_dose(store, actor, sid, "im_injection", amount_mg=35)
            else:
                ops.record_dose(store, actor, sid, "nasal_device")
            clock.advance(seconds=30)
        device_data(store, actor, sid, seconds=hours * 3600, hz=hz, nibp_every_s=nibp_every_s, progress=progress)
    return sid


def overdue_session(store: Store, actor: Actor, *, overdue_in_s: float = 5.0,
                    protocol_id: str = "esketamine-56") -> tuple[int, datetime]:
    """A session in monitoring whose first timed set (after the first dose) becomes
    overdue `overdue_in_s` seconds from the store's clock: (session id, when it
    becomes overdue). The baseline and the devices are charted at their own
    (past) times through the operations; the store's clock is put back at now."""
    protocol = store.protocols.get(protocol_id)
    cp = next(c for c in protocol.schedule.checkpoints if c.anchor == "first_dose" and c.minutes)
    now = store.clock.now()
    overdue_at = now + timedelta(seconds=overdue_in_s)
    first = overdue_at - timedelta(minutes=cp.minutes + protocol.schedule.grace_minutes)
    with Stepper(store, first - timedelta(minutes=10)) as t:
        sid = new_session(store, actor, new_patient(store, actor, given_name="Late"), protocol_id,
                          lot_number="BENCH")
        t.at(first - timedelta(minutes=5))
        ready_for_dose(store, actor, sid, baseline=dict(systolic=124, diastolic=80, heart_rate=70, spo2=98,
                                                        resp_rate=14))
        for i in range(protocol.dose.devices or 1):
            t.at(first + timedelta(minutes=5 * i))
            ops.record_dose(store, actor, sid, "nasal_device")
    return sid, overdue_at
